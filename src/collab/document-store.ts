import * as Y from 'yjs';
import { sql } from 'kysely';
import { bytes, type Storage } from '../storage/database.js';

export interface LoggedUpdate {
  update: Uint8Array;
  author: string;
  at: Date;
}

export interface LoadedDocument {
  /** The document state: the latest snapshot plus every logged update after it. */
  state: Uint8Array;
  /** Id of the last logged update included (null: no update yet). */
  lastId: string | null;
  /** Logged updates after the snapshot (how much a new snapshot would save). */
  tail: number;
}

/**
 * The durable side of a document: an append-only update log and snapshots, all per tenant under
 * RLS. Loading either returns the whole stored state or throws; it never answers "empty" for a
 * document it could not read, so a failed load cannot let an empty document overwrite stored state.
 */
export class DocumentStore {
  constructor(private readonly storage: Storage) {}

  async load(tenantId: string, docId: string): Promise<LoadedDocument> {
    return this.storage.withTenant(tenantId, async (trx) => {
      const snapshot = await trx
        .selectFrom('document_snapshots')
        .select(['upto_id', 'state'])
        .where('doc_id', '=', docId)
        .orderBy('upto_id', 'desc')
        .limit(1)
        .executeTakeFirst();
      let query = trx.selectFrom('document_updates').select(['id', 'update']).where('doc_id', '=', docId).orderBy('id');
      if (snapshot) query = query.where('id', '>', snapshot.upto_id);
      const tail = await query.execute();
      const parts = [...(snapshot ? [bytes(snapshot.state)] : []), ...tail.map((r) => bytes(r.update))];
      const lastId = tail.at(-1)?.id ?? snapshot?.upto_id ?? null;
      return { state: parts.length === 0 ? Y.encodeStateAsUpdate(new Y.Doc()) : Y.mergeUpdates(parts), lastId: lastId === null ? null : String(lastId), tail: tail.length };
    });
  }

  /**
   * Appends the updates of several documents of one tenant in one transaction (group commit).
   * Returns, per document id, the id of its last appended update. One statement whatever the batch
   * size: the updates travel as one bytea with their lengths, the other columns as arrays, so the
   * cost on the event loop does not grow with a query builder's per-row work.
   */
  async append(tenantId: string, batches: readonly { docId: string; updates: readonly LoggedUpdate[] }[]): Promise<Map<string, string>> {
    const docIds: string[] = [];
    const authors: string[] = [];
    const times: number[] = [];
    const sizes: number[] = [];
    let total = 0;
    for (const { docId, updates } of batches) {
      for (const u of updates) {
        docIds.push(docId);
        authors.push(u.author);
        times.push(u.at.getTime());
        sizes.push(u.update.byteLength);
        total += u.update.byteLength;
      }
    }
    const last = new Map<string, string>();
    if (docIds.length === 0) return last;
    const blob = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const { updates } of batches) {
      for (const u of updates) {
        blob.set(u.update, offset);
        offset += u.update.byteLength;
      }
    }
    await this.storage.withTenant(tenantId, async (trx) => {
      await sql`INSERT INTO documents (tenant_id, id) SELECT ${tenantId}, unnest(${batches.map((b) => b.docId)}::text[]) ON CONFLICT DO NOTHING`.execute(trx);
      // Rows are inserted in batch order, so ids (an identity) keep each document's update order.
      const inserted = await sql<{ id: string | number | bigint; doc_id: string }>`
        INSERT INTO document_updates (tenant_id, doc_id, author, at, size, update)
        SELECT ${tenantId}, u.doc_id, u.author, to_timestamp(u.at_ms / 1000.0), u.size, substring(${blob}::bytea FROM u.start + 1 FOR u.size)
        FROM (
          SELECT *, (sum(size) OVER (ORDER BY ord) - size)::int AS start
          FROM unnest(${docIds}::text[], ${authors}::text[], ${times}::float8[], ${sizes}::int[]) WITH ORDINALITY AS x(doc_id, author, at_ms, size, ord)
        ) u
        ORDER BY u.ord
        RETURNING id, doc_id`.execute(trx);
      for (const row of inserted.rows) {
        const id = String(row.id);
        const previous = last.get(row.doc_id);
        if (previous === undefined || BigInt(id) > BigInt(previous)) last.set(row.doc_id, id);
      }
    });
    return last;
  }

  /** Stores the merged state covering every update up to `uptoId`. */
  async snapshot(tenantId: string, docId: string, uptoId: string, state: Uint8Array, updates: number): Promise<void> {
    await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('document_snapshots')
        .values({ tenant_id: tenantId, doc_id: docId, upto_id: uptoId, state, updates })
        .onConflict((oc) => oc.doNothing())
        .execute(),
    );
  }
}
