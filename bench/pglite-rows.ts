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
const ROW_INSERT = `INSERT INTO log (tenant_id, doc_id, author, at, size, update)
  SELECT 'default', d, a, to_timestamp(t / 1000.0), length(u), u FROM unnest($1::text[], $2::text[], $3::float8[], $4::bytea[]) AS x(d, a, t, u)`;
// The log as it is stored now: each document's share of a statement is one row, its updates as arrays.
const BATCH_TABLE = `CREATE TABLE log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text, doc_id text, first_at timestamptz,
  last_at timestamptz, updates_count int, ats timestamptz[], authors text[], updates bytea[]);
  CREATE INDEX ON log (tenant_id, doc_id, id); CREATE INDEX ON log (tenant_id, doc_id, first_at);`;
const BATCH_INSERT = `INSERT INTO log (tenant_id, doc_id, first_at, last_at, updates_count, ats, authors, updates)
  SELECT 'default', d, min(to_timestamp(t / 1000.0)), max(to_timestamp(t / 1000.0)), count(*), array_agg(to_timestamp(t / 1000.0) ORDER BY o),
    array_agg(a ORDER BY o), array_agg(u ORDER BY o)
  FROM unnest($1::text[], $2::text[], $3::float8[], $4::bytea[]) WITH ORDINALITY AS x(d, a, t, u, o) GROUP BY d`;
const LAYOUTS: [string, string, string][] = [
  ['a row per update (identity key + 2 indexes)', `${TABLE} CREATE INDEX ON log (tenant_id, doc_id, id); CREATE INDEX ON log (tenant_id, doc_id, at);`, ROW_INSERT],
  ['a row per update, identity + (tenant, doc, id)', `${TABLE} CREATE INDEX ON log (tenant_id, doc_id, id);`, ROW_INSERT],
  ['a row per update, identity key only', TABLE, ROW_INSERT],
  ['a row per update, no index, no identity', `CREATE TABLE log (tenant_id text, doc_id text, author text, at timestamptz, size int, update bytea);`, ROW_INSERT],
  ['a row per document per statement (as stored)', BATCH_TABLE, BATCH_INSERT],
];

async function perUpdate(ddl: string, statement: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'veza-pglite-rows-'));
  const db = new PGlite(dir);
  try {
    await db.waitReady;
    await db.exec(ddl);
    // A Yjs update of a note edit is 30-60 bytes; 50 documents as in the collaboration benchmark.
    const docs = Array.from({ length: rowsPerStatement }, (_, i) => `doc-${i % 50}`);
    const authors = docs.map(() => 'bench');
    const updates = docs.map(() => new Uint8Array(40).fill(7));
    const insert = () => db.query(statement, [docs, authors, docs.map(() => Date.now()), updates]);
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

console.log(`PGlite, ${rowsPerStatement} updates of 50 documents per statement, ${statements} statements (after 30 to warm up): µs of CPU per update`);
for (const [label, ddl, statement] of LAYOUTS) console.log(`${label.padEnd(48)} ${(await perUpdate(ddl, statement)).toFixed(1)}`);
