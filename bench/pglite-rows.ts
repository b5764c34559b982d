// What one row of the update log costs the embedded database (PGlite), by what the table carries:
// the log's three indexes (the identity key, (tenant, document, id) for loading, (tenant, document,
// time) for replay), fewer, or none. Each statement inserts a batch as the group commit does (one
// statement, arrays unnested), on a database in a temporary directory, after a warm-up; CPU time of
// this process per row, so the figure does not depend on what else the machine runs.
//
//   node --import tsx bench/pglite-rows.ts [--rows 100] [--statements 100]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PGlite } from '@electric-sql/pglite';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '100' }, statements: { type: 'string', default: '100' } } });
const rowsPerStatement = Number(values.rows);
const statements = Number(values.statements);

const TABLE = `CREATE TABLE log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text, doc_id text, author text, at timestamptz, size int, update bytea);`;
const LAYOUTS: [string, string][] = [
  ['the log as stored (identity key + 2 indexes)', `${TABLE} CREATE INDEX ON log (tenant_id, doc_id, id); CREATE INDEX ON log (tenant_id, doc_id, at);`],
  ['identity key + (tenant, document, id)', `${TABLE} CREATE INDEX ON log (tenant_id, doc_id, id);`],
  ['identity key only', TABLE],
  ['no index, no identity', `CREATE TABLE log (tenant_id text, doc_id text, author text, at timestamptz, size int, update bytea);`],
];

async function perRow(ddl: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'veza-pglite-rows-'));
  const db = new PGlite(dir);
  try {
    await db.waitReady;
    await db.exec(ddl);
    // A Yjs update of a note edit is 30-60 bytes; 50 documents as in the collaboration benchmark.
    const docs = Array.from({ length: rowsPerStatement }, (_, i) => `doc-${i % 50}`);
    const authors = docs.map(() => 'bench');
    const updates = docs.map(() => new Uint8Array(40).fill(7));
    const insert = () =>
      db.query(
        `INSERT INTO log (tenant_id, doc_id, author, at, size, update)
         SELECT 'default', d, a, to_timestamp(t / 1000.0), length(u), u FROM unnest($1::text[], $2::text[], $3::float8[], $4::bytea[]) AS x(d, a, t, u)`,
        [docs, authors, docs.map(() => Date.now()), updates],
      );
    for (let i = 0; i < 30; i++) await insert();
    const before = process.cpuUsage();
    for (let i = 0; i < statements; i++) await insert();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / (statements * rowsPerStatement);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`PGlite, ${rowsPerStatement} rows per statement, ${statements} statements (after 30 to warm up): µs of CPU per row`);
for (const [label, ddl] of LAYOUTS) console.log(`${label.padEnd(48)} ${(await perRow(ddl)).toFixed(1)}`);
