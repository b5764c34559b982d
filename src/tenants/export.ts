// A tenant's export: one .tar.gz under the data directory (exports/<tenant>-<time>.tar.gz) holding
//   manifest.json                 what is inside: the tenant, each table's row count, documents, files
//   tables/<table>.jsonl          every row of the tenant in every table with tenant_id (bytea as {"$base64"};
//                                 signing secrets as "[redacted]", the columns named in the manifest)
//   documents/<id>.yjs            each document's whole state (snapshot and update log merged)
//   documents/<id>.mid            a studio session's notes as a Standard MIDI File
//   files/<path>                  recordings, HLS outputs, models and content files (nft/content/<cid>), as under the data directory
// The update logs, the gamification ledger and tips are among the tables. Rows are read in pages, and
// files copied as streams, so a large tenant's export holds little in memory; progress is reported
// after each table and every few files.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import * as Y from 'yjs';
import { bytes, type Storage } from '../storage/database.js';
import { exportMidi } from '../studio/midi-export.js';
import { StudioDoc } from '../studio/model.js';
import { TarGzWriter } from './archive.js';
import { filesUnder, secretColumns, tenantContentFiles, tenantFolders, tenantTables } from './tenant-data.js';

export const EXPORT_FORMAT = 'veza.tenant-export';
/** What an export writes in place of a signing secret. */
export const REDACTED = '[redacted]';
const PAGE = 1000;

export interface ExportProgress {
  step: 'tables' | 'documents' | 'files' | 'done';
  /** What was just written: a table, a document, a file. */
  item?: string;
  done: number;
  total: number;
}

export interface TenantExport {
  /** Relative to the data directory. */
  archive: string;
  bytes: number;
  manifest: ExportManifest;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: 1;
  tenant: { id: string; name: string; createdAt: string };
  exportedAt: string;
  tables: Record<string, number>;
  /** Columns (`table.column`) whose values were replaced by `[redacted]`. */
  redacted: string[];
  documents: { id: string; stateBytes: number; midi: boolean }[];
  files: { path: string; bytes: number }[];
}

/** JSON for a row: bytea as base64, times as ISO strings. */
function jsonRow(row: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (value instanceof Uint8Array) out[key] = { $base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
    else if (value instanceof Date) out[key] = value.toISOString();
    else if (typeof value === 'bigint') out[key] = value.toString();
    else out[key] = value;
  }
  return JSON.stringify(out);
}

async function documentState(storage: Storage, tenantId: string, docId: string): Promise<Uint8Array> {
  const snapshot = await storage.db
    .selectFrom('document_snapshots')
    .select(['state', 'upto_id'])
    .where('tenant_id', '=', tenantId)
    .where('doc_id', '=', docId)
    .orderBy(sql`upto_id::bigint`, 'desc')
    .limit(1)
    .executeTakeFirst();
  const parts: Uint8Array[] = snapshot ? [bytes(snapshot.state)] : [];
  let after = snapshot?.upto_id ?? '0';
  for (;;) {
    const rows = await storage.db
      .selectFrom('document_updates')
      .select(['id', 'update'])
      .where('tenant_id', '=', tenantId)
      .where('doc_id', '=', docId)
      .where(sql<boolean>`id > ${after}::bigint`)
      .orderBy('id')
      .limit(PAGE)
      .execute();
    for (const row of rows) parts.push(bytes(row.update));
    if (rows.length < PAGE) break;
    after = rows.at(-1)!.id;
    // Merge as it goes, so a long log is never held whole.
    parts.splice(0, parts.length, Y.mergeUpdates(parts));
  }
  return parts.length === 0 ? Y.encodeStateAsUpdate(new Y.Doc()) : Y.mergeUpdates(parts);
}

/** A studio session's MIDI file; null for a document with no tracks or one that is not a studio session. */
function midiOf(state: Uint8Array): Uint8Array | null {
  try {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, state);
    const snapshot = new StudioDoc(doc).snapshot();
    return snapshot.tracks.length > 0 ? exportMidi(snapshot) : null;
  } catch {
    return null;
  }
}

/** Writes the tenant's archive; `progress` hears of each step. Throws for an unknown tenant. */
export async function exportTenant(
  storage: Storage,
  dataDir: string,
  tenantId: string,
  progress: (p: ExportProgress) => void = () => undefined,
  now = new Date(),
): Promise<TenantExport> {
  const tenant = await storage.db.selectFrom('tenants').selectAll().where('id', '=', tenantId).executeTakeFirstOrThrow(() => new Error(`no tenant ${tenantId}`));
  const name = `${tenantId}-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
  const archive = path.join('exports', name);
  const target = path.join(dataDir, archive);
  const partial = `${target}.partial`;
  const staging = `${target}.rows`;
  await mkdir(path.dirname(target), { recursive: true });
  const tar = new TarGzWriter(partial);
  try {
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      version: 1,
      tenant: { id: tenant.id, name: tenant.name, createdAt: tenant.created_at.toISOString() },
      exportedAt: now.toISOString(),
      tables: {},
      redacted: [],
      documents: [],
      files: [],
    };
    const tables = await tenantTables(storage);
    const secrets = await secretColumns(storage);
    for (const [i, table] of tables.entries()) {
      const redact = secrets.get(table) ?? [];
      manifest.redacted.push(...redact.map((column) => `${table}.${column}`));
      // A table's lines go to a file first (a tar entry announces its size), page by page in
      // physical order: each page starts where the last ended, so a large table costs one pass.
      const lines = createWriteStream(staging);
      let count = 0;
      let after = '(0,0)';
      for (;;) {
        const page = await sql<Record<string, unknown> & { row_position: string }>`
          SELECT ctid::text AS row_position, * FROM ${sql.table(table)} WHERE tenant_id = ${tenantId} AND ctid > ${after}::tid ORDER BY ctid LIMIT ${PAGE}`.execute(storage.db);
        for (const row of page.rows) {
          const values: Record<string, unknown> = { ...row };
          delete values.row_position;
          for (const column of redact) if (values[column] !== null && values[column] !== undefined) values[column] = REDACTED;
          if (!lines.write(`${jsonRow(values)}\n`)) await once(lines, 'drain');
        }
        count += page.rows.length;
        if (page.rows.length < PAGE) break;
        after = page.rows.at(-1)!.row_position;
      }
      await new Promise<void>((resolve, reject) => lines.end((error?: Error | null) => (error ? reject(error) : resolve())));
      manifest.tables[table] = count;
      await tar.addFile(`tables/${table}.jsonl`, staging);
      progress({ step: 'tables', item: table, done: i + 1, total: tables.length });
    }
    await rm(staging, { force: true });
    const documents = await storage.db.selectFrom('documents').select('id').where('tenant_id', '=', tenantId).orderBy('id').execute();
    for (const [i, { id }] of documents.entries()) {
      const state = await documentState(storage, tenantId, id);
      const file = encodeURIComponent(id);
      await tar.add(`documents/${file}.yjs`, state);
      const midi = midiOf(state);
      if (midi) await tar.add(`documents/${file}.mid`, midi);
      manifest.documents.push({ id, stateBytes: state.byteLength, midi: midi !== null });
      if ((i + 1) % 50 === 0 || i + 1 === documents.length) progress({ step: 'documents', item: id, done: i + 1, total: documents.length });
    }
    const folders = (await Promise.all((await tenantFolders(storage, dataDir, tenantId)).map((folder) => filesUnder(dataDir, folder)))).flat();
    const files = [...new Set([...folders, ...(await tenantContentFiles(storage, dataDir, tenantId))])].sort();
    for (const [i, relative] of files.entries()) {
      const size = await tar.addFile(`files/${relative.split(path.sep).join('/')}`, path.join(dataDir, relative));
      manifest.files.push({ path: relative.split(path.sep).join('/'), bytes: size });
      if ((i + 1) % 20 === 0 || i + 1 === files.length) progress({ step: 'files', item: relative, done: i + 1, total: files.length });
    }
    await tar.add('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
    await tar.close();
    await rename(partial, target);
    const { size } = await stat(target);
    progress({ step: 'done', done: 1, total: 1 });
    return { archive, bytes: size, manifest };
  } catch (error) {
    tar.destroy();
    await rm(partial, { force: true });
    await rm(staging, { force: true });
    throw error;
  }
}
