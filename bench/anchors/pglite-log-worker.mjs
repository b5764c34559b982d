// The uws-floor reference's PGlite log (FLOOR_LOG=pglite): a table shaped like veza's update log,
// one row per update, each batch one statement (arrays unnested), as veza's group commit writes it.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { lowerThreadPriority } from '../../src/server/thread-priority.mjs';

// As veza's storage worker: the log can wait a moment for the forwarding (and the bench counts this
// thread as the storage worker's).
lowerThreadPriority(5);

const db = new PGlite(workerData.dir);
await db.waitReady;
await db.exec(`
  CREATE TABLE document_updates (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text NOT NULL, doc_id text NOT NULL,
    author text NOT NULL, at timestamptz NOT NULL, size int NOT NULL, update bytea NOT NULL);
  CREATE INDEX ON document_updates (tenant_id, doc_id, id);
  CREATE INDEX ON document_updates (tenant_id, doc_id, at);`);
parentPort.on('message', async ({ docs, updates, at }) => {
  await db.query(
    `INSERT INTO document_updates (tenant_id, doc_id, author, at, size, update)
     SELECT 'default', d, 'bench', to_timestamp(t / 1000.0), length(u), u FROM unnest($1::text[], $2::float8[], $3::bytea[]) AS x(d, t, u)`,
    [docs, at, updates],
  );
  parentPort.postMessage('done');
});
