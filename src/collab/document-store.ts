import * as Y from 'yjs';
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
   * Returns, per document id, the id of its last appended update.
   */
  async append(tenantId: string, batches: readonly { docId: string; updates: readonly LoggedUpdate[] }[]): Promise<Map<string, string>> {
    const rows = batches.flatMap(({ docId, updates }) =>
      updates.map((u) => ({ tenant_id: tenantId, doc_id: docId, at: u.at, author: u.author, size: u.update.byteLength, update: u.update })),
    );
    const last = new Map<string, string>();
    if (rows.length === 0) return last;
    await this.storage.withTenant(tenantId, async (trx) => {
      await trx
        .insertInto('documents')
        .values(batches.map((b) => ({ tenant_id: tenantId, id: b.docId })))
        .onConflict((oc) => oc.doNothing())
        .execute();
      const inserted = await trx.insertInto('document_updates').values(rows).returning(['id', 'doc_id']).execute();
      for (const row of inserted) {
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
