// Where a tenant's data lies: every table of the schema with a `tenant_id` column (read from the
// catalog, so a table added later is covered without a change here), ordered so that a table comes
// before the tables it references; and the tenant's folders under the data directory.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Storage } from '../storage/database.js';

/** Tables holding `tenant_id`, children before parents (the order rows are deleted in). */
export async function tenantTables(storage: Storage): Promise<string[]> {
  const tables = await sql<{ table_name: string }>`
    SELECT c.table_name FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.column_name = 'tenant_id' AND c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name`.execute(storage.db);
  const names = tables.rows.map((r) => r.table_name);
  const edges = await sql<{ child: string; parent: string }>`
    SELECT DISTINCT child.relname AS child, parent.relname AS parent FROM pg_constraint k
    JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = child.relnamespace
    WHERE k.contype = 'f' AND n.nspname = current_schema() AND child.oid <> parent.oid`.execute(storage.db);
  const parents = new Map<string, Set<string>>(names.map((n) => [n, new Set()]));
  for (const { child, parent } of edges.rows) if (parents.has(child) && parents.has(parent)) parents.get(child)!.add(parent);
  // Depth-first: a table is placed after every table that references it.
  const children = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const [child, ps] of parents) for (const p of ps) children.get(p)!.push(child);
  const placed = new Set<string>();
  const order: string[] = [];
  const visit = (table: string, path: Set<string>) => {
    if (placed.has(table) || path.has(table)) return;
    path.add(table);
    for (const child of children.get(table)!) visit(child, path);
    path.delete(table);
    placed.add(table);
    order.push(table);
  };
  for (const name of names) visit(name, new Set());
  return order;
}

/**
 * Columns that hold a signing secret (a name ending in `secret` or `secrets`: webhook and alert
 * signing secrets, an identity provider's HS256 key), by table. An export writes `[redacted]` in
 * their place: an archive kept on disk after the tenant is gone must not sign or mint anything.
 */
export async function secretColumns(storage: Storage): Promise<Map<string, string[]>> {
  const rows = await sql<{ table_name: string; column_name: string }>`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND column_name ~ '(^|_)secrets?$'
    ORDER BY table_name, column_name`.execute(storage.db);
  const columns = new Map<string, string[]>();
  for (const { table_name, column_name } of rows.rows) columns.set(table_name, [...(columns.get(table_name) ?? []), column_name]);
  return columns;
}

/** The tenant's folders under the data directory (recordings, HLS outputs, models), relative to it. */
export async function tenantFolders(storage: Storage, dataDir: string, tenantId: string): Promise<string[]> {
  const outputs = await storage.db.selectFrom('media_outputs').select('path').where('tenant_id', '=', tenantId).execute();
  const folders = new Set([path.join('media', tenantId), path.join('recommendations', tenantId), ...outputs.map((o) => o.path)]);
  return [...folders].filter((relative) => isInside(dataDir, relative) && existsSync(path.join(dataDir, relative)));
}

/**
 * The content files of the tenant: the audio and metadata its editions point at, kept by content id
 * under nft/content/ (relative to the data directory). The same bytes stored by two tenants are one
 * file, so a purge removes one only once no tenant's row names it.
 */
export async function tenantContentFiles(storage: Storage, dataDir: string, tenantId: string): Promise<string[]> {
  const rows = await storage.db.selectFrom('nft_content').select('cid').where('tenant_id', '=', tenantId).orderBy('cid').execute();
  return rows
    .filter((r) => /^b[a-z2-7]{20,100}$/.test(r.cid))
    .map((r) => path.join('nft', 'content', r.cid))
    .filter((relative) => isInside(dataDir, relative) && existsSync(path.join(dataDir, relative)));
}

/** Every file under `relative` (a file or a folder), relative to the data directory. */
export async function filesUnder(dataDir: string, relative: string): Promise<string[]> {
  const full = path.join(dataDir, relative);
  const entries = await readdir(full, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOTDIR') return null;
    throw error;
  });
  if (entries === null) return [relative];
  const files: string[] = [];
  for (const entry of entries) {
    const child = path.join(relative, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(dataDir, child)));
    else if (entry.isFile()) files.push(child);
  }
  return files;
}

/** A stored path stays inside the data directory (a row never points the purge elsewhere). */
export function isInside(dataDir: string, relative: string): boolean {
  const resolved = path.resolve(dataDir, relative);
  return resolved.startsWith(path.resolve(dataDir) + path.sep);
}
