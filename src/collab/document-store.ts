import * as Y from 'yjs';
import { sql } from 'kysely';
import { bytes, type Storage } from '../storage/database.js';
import { TENANT_ID_PATTERN } from '../storage/schema.js';

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
      if (lastId !== null) this.remember(tenantId, docId);
      return { state: parts.length === 0 ? Y.encodeStateAsUpdate(new Y.Doc()) : Y.mergeUpdates(parts), lastId: lastId === null ? null : String(lastId), tail: tail.length };
    });
  }

  /**
   * The stored states of several documents of one tenant: two statements whatever their number (the
   * latest snapshot of each, then every logged update after it), for readers of many documents at once
   * (the GraphQL API's lists). Documents with nothing stored come back as an empty document's state.
   */
  async loadMany(tenantId: string, docIds: readonly string[]): Promise<Map<string, Uint8Array>> {
    const ids = [...new Set(docIds)];
    if (ids.length === 0) return new Map();
    return this.storage.withTenant(tenantId, async (trx) => {
      const snapshots = await trx
        .selectFrom('document_snapshots')
        .distinctOn('doc_id')
        .select(['doc_id', 'upto_id', 'state'])
        .where('doc_id', 'in', ids)
        .orderBy('doc_id')
        .orderBy('upto_id', 'desc')
        .execute();
      const after = new Map(snapshots.map((s) => [s.doc_id, s.upto_id]));
      const { rows: tails } = await sql<{ doc_id: string; update: Uint8Array }>`
        SELECT u.doc_id, u.update FROM document_updates u
        JOIN unnest(${ids}::text[], ${ids.map((id) => after.get(id) ?? '0')}::bigint[]) AS s(doc_id, after_id) ON u.doc_id = s.doc_id AND u.id > s.after_id
        ORDER BY u.doc_id, u.id`.execute(trx);
      const parts = new Map<string, Uint8Array[]>(ids.map((id) => [id, []]));
      for (const s of snapshots) parts.get(s.doc_id)!.push(bytes(s.state));
      for (const row of tails) parts.get(row.doc_id)!.push(bytes(row.update));
      return new Map(ids.map((id) => {
        const list = parts.get(id)!;
        return [id, list.length === 0 ? Y.encodeStateAsUpdate(new Y.Doc()) : Y.mergeUpdates(list)];
      }));
    });
  }

  /**
   * Appends the updates of several documents of one tenant in one transaction (group commit).
   * Returns, per document id, the id of its last appended update. One statement whatever the batch
   * size (`veza_append_updates`, the columns as arrays), which also creates the `documents` rows of
   * documents this process has not written or loaded before. `segment`: the newest journal segment
   * these updates come from (see `UpdateJournal`), recorded with them in the same statement.
   */
  async append(tenantId: string, batches: readonly { docId: string; updates: readonly LoggedUpdate[] }[], segment: number | null = null): Promise<Map<string, string>> {
    const docIds: string[] = [];
    const authors: string[] = [];
    const times: number[] = [];
    const sizes: number[] = [];
    let total = 0;
    for (const { docId, updates: list } of batches) {
      for (const u of list) {
        docIds.push(docId);
        authors.push(u.author);
        times.push(u.at.getTime());
        sizes.push(u.update.byteLength);
        total += u.update.byteLength;
      }
    }
    // The updates as one byte string: one copy to the storage thread, however many they are.
    const blob = new Uint8Array(total);
    let offset = 0;
    for (const { updates: list } of batches) {
      for (const u of list) {
        blob.set(u.update, offset);
        offset += u.update.byteLength;
      }
    }
    const last = new Map<string, string>();
    if (docIds.length === 0) return last;
    const fresh = batches.map((b) => b.docId).filter((docId) => !this.known.has(knownKey(tenantId, docId)));
    if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
    const { rows } = await sql<{ doc_id: string; last_id: string }>`
      SELECT doc_id, last_id FROM veza_append_updates(${tenantId}, ${fresh}::text[], ${docIds}::text[], ${authors}::text[], ${times}::float8[], ${blob}::bytea, ${sizes}::int[], ${segment}::bigint)`.execute(this.storage.db);
    for (const row of rows) last.set(row.doc_id, row.last_id);
    for (const docId of fresh) this.remember(tenantId, docId);
    return last;
  }

  /**
   * Per tenant, the newest journal segment whose updates are all in the log (see `UpdateJournal`).
   * Read as the database owner: it runs before any tenant's traffic, at start-up.
   */
  async journalMarks(): Promise<Map<string, number>> {
    const { rows } = await sql<{ tenant_id: string; segment: string }>`SELECT tenant_id, segment FROM update_journal_marks`.execute(this.storage.db);
    return new Map(rows.map((r) => [r.tenant_id, Number(r.segment)]));
  }

  /** Forgets the journal marks once the journal is empty, so that a new journal's segments start afresh. */
  async clearJournalMarks(): Promise<void> {
    await sql`DELETE FROM update_journal_marks`.execute(this.storage.db);
  }

  /** Documents known to have their `documents` row (bounded: forgetting one costs one idempotent insert). */
  private readonly known = new Set<string>();

  private remember(tenantId: string, docId: string): void {
    if (this.known.size >= 100_000) this.known.clear();
    this.known.add(knownKey(tenantId, docId));
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

const knownKey = (tenantId: string, docId: string) => `${tenantId}\u0000${docId}`;
