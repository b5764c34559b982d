// The database client on its own thread: PGlite itself (PostgreSQL compiled to WASM), or node-postgres'
// protocol encoding and decoding. The main thread compiles queries with kysely and sends them here
// (see worker-dialect.ts), so no query, however large its batch, stalls WebSocket traffic.
// Plain JavaScript so that it starts the same way under node, tsx and vitest, with no loader.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';

/** @type {{ kind: 'pglite' | 'postgres', databaseUrl?: string, pgliteDir?: string, poolSize: number }} */
const options = workerData;
/** @type {import('kysely').Driver} */
let driver;
/** @type {Map<number, import('kysely').DatabaseConnection>} */
const connections = new Map();
let nextConnection = 1;

async function init() {
  if (options.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize });
    // An idle client losing its server must not end the thread; the next query reconnects.
    pool.on('error', () => undefined);
    driver = new PostgresDialect({ pool }).createDriver();
  } else {
    const pglite = new PGlite(options.pgliteDir);
    await pglite.waitReady;
    driver = new PGliteDialect({ pglite }).createDriver();
  }
  await driver.init();
}

/** @param {number} id */
function connection(id) {
  const found = connections.get(id);
  if (!found) throw new Error(`storage worker: unknown connection ${id}`);
  return found;
}

/** @type {Record<string, (request: any) => Promise<unknown>>} */
const operations = {
  acquire: async () => {
    const id = nextConnection++;
    connections.set(id, await driver.acquireConnection());
    return id;
  },
  release: async ({ conn }) => {
    const released = connection(conn);
    connections.delete(conn);
    await driver.releaseConnection(released);
  },
  begin: ({ conn, settings }) => driver.beginTransaction(connection(conn), settings),
  commit: ({ conn }) => driver.commitTransaction(connection(conn)),
  rollback: ({ conn }) => driver.rollbackTransaction(connection(conn)),
  query: ({ conn, sql, parameters, queryId }) => connection(conn).executeQuery({ sql, parameters, queryId, query: { kind: 'RawNode' } }),
  destroy: async () => {
    await driver.destroy();
    connections.clear();
  },
};

/** Errors cross the thread as plain objects; PostgreSQL's fields (code, detail, constraint...) are kept. */
function plain(error) {
  if (!(error instanceof Error)) return { message: String(error) };
  const copy = { name: error.name, message: error.message, stack: error.stack };
  for (const key of ['code', 'detail', 'hint', 'constraint', 'table', 'column', 'schema', 'severity', 'routine', 'where']) {
    if (error[key] !== undefined) copy[key] = error[key];
  }
  return copy;
}

parentPort.on('message', (request) => {
  const operation = operations[request.op];
  Promise.resolve()
    .then(() => {
      if (!operation) throw new Error(`storage worker: unknown operation ${request.op}`);
      return operation(request);
    })
    .then(
      (result) => parentPort.postMessage({ id: request.id, result }),
      (error) => parentPort.postMessage({ id: request.id, error: plain(error) }),
    )
    .finally(() => {
      if (request.op === 'destroy') parentPort.close();
    });
});

init().then(
  () => parentPort.postMessage({ ready: true }),
  (error) => parentPort.postMessage({ ready: false, error: plain(error) }),
);
