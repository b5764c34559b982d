import { sql } from 'kysely';
import * as Y from 'yjs';
import { bytes, type Storage } from '../storage/database.js';

export interface SessionHistory {
  sessionId: string;
  /** Unix ms of the first and last logged update (null: nothing logged yet). */
  start: number | null;
  end: number | null;
  updates: number;
  bytes: number;
  authors: { userId: string; updates: number; bytes: number; first: number; last: number }[];
  /** Exact states stored so far; seeking near one is fast. */
  checkpoints: { uptoId: string; at: number; updates: number }[];
}

export interface StateAt {
  /**
   * The document as it was: apply these in order to a fresh Y.Doc (the nearest checkpoint's state,
   * then the updates logged after it). Not merged: merging re-encodes the whole document, which for
   * a long session costs more than reading it.
   */
  parts: Uint8Array[];
  uptoId: string | null;
  /** Time of update `uptoId` (Unix ms), null when none. */
  at: number | null;
  updates: number;
}

export interface LoggedUpdateRow {
  id: string;
  at: number;
  author: string;
  update: Uint8Array;
}

/** The document the parts of a `StateAt` make. */
export function docFromParts(parts: readonly Uint8Array[]): Y.Doc {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const part of parts) Y.applyUpdate(doc, part);
  });
  return doc;
}

const TAIL_PAGE = 5000;

/**
 * The recording of a session is its update log; this reads it back for replay. The timeline is the
 * log's id order (commit order), each update at the time the server accepted it; "the document at t"
 * is every update up to the last one accepted at or before t. A seek reads the nearest exact
 * checkpoint and the updates after it; when that tail is longer than `checkpointEvery`, checkpoints
 * are built in the background (one document at a time), so later seeks read at most that many.
 */
export class ReplayStore {
  private readonly building = new Map<string, Promise<number>>();

  constructor(
    private readonly storage: Storage,
    private readonly checkpointEvery = 1000,
    private readonly onBackgroundError: (error: unknown) => void = () => undefined,
    /** Brings the document's accepted updates into the log before it is read (see `CollabService.persisted`). */
    private readonly beforeRead: (tenantId: string, docId: string) => Promise<void> = async () => undefined,
  ) {}

  /**
   * The tenant's most recently created sessions (at most `limit`), each with how many edits its log
   * holds and when the last one was made: one statement, an index lookup on the update log per session.
   * `ids`: only these sessions (those of them that exist).
   */
  async sessions(tenantId: string, limit: number, ids?: readonly string[]): Promise<{ id: string; createdAt: string; updates: number; lastUpdateAt: string | null }[]> {
    if (ids?.length === 0) return [];
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('documents as d')
        .$if(ids !== undefined, (q) => q.where('d.id', 'in', ids!))
        .leftJoinLateral(
          (eb) => eb.selectFrom('document_updates as u').select([sql<string>`count(*)`.as('updates'), sql<Date | null>`max(u.at)`.as('last')]).whereRef('u.doc_id', '=', 'd.id').as('stats'),
          (join) => join.onTrue(),
        )
        .select(['d.id', 'd.created_at', 'stats.updates', 'stats.last'])
        .orderBy('d.created_at', 'desc')
        .limit(limit)
        .execute(),
    );
    return rows.map((r) => ({ id: r.id, createdAt: new Date(r.created_at).toISOString(), updates: Number(r.updates ?? 0), lastUpdateAt: r.last ? new Date(r.last).toISOString() : null }));
  }

  /** The session's timeline, or null when it has never been stored. */
  async history(tenantId: string, docId: string): Promise<SessionHistory | null> {
    await this.beforeRead(tenantId, docId);
    return this.storage.withTenant(tenantId, async (trx) => {
      const exists = await trx.selectFrom('documents').select('id').where('id', '=', docId).executeTakeFirst();
      if (!exists) return null;
      const authors = await trx
        .selectFrom('document_updates')
        .select(['author', sql<string>`count(*)`.as('updates'), sql<string>`sum(size)`.as('bytes'), sql<Date>`min(at)`.as('first'), sql<Date>`max(at)`.as('last')])
        .where('doc_id', '=', docId)
        .groupBy('author')
        .orderBy('author')
        .execute();
      const checkpoints = await trx.selectFrom('replay_checkpoints').select(['upto_id', 'at', 'updates']).where('doc_id', '=', docId).orderBy('upto_id').execute();
      const list = authors.map((a) => ({ userId: a.author, updates: Number(a.updates), bytes: Number(a.bytes), first: new Date(a.first).getTime(), last: new Date(a.last).getTime() }));
      return {
        sessionId: docId,
        start: list.length ? Math.min(...list.map((a) => a.first)) : null,
        end: list.length ? Math.max(...list.map((a) => a.last)) : null,
        updates: list.reduce((n, a) => n + a.updates, 0),
        bytes: list.reduce((n, a) => n + a.bytes, 0),
        authors: list,
        checkpoints: checkpoints.map((c) => ({ uptoId: String(c.upto_id), at: new Date(c.at).getTime(), updates: c.updates })),
      };
    });
  }

  /** The last logged update accepted at or before `at` (Unix ms): where "the document at `at`" ends. */
  async lastUpdateAt(tenantId: string, docId: string, at: number): Promise<{ id: string; at: number } | null> {
    await this.beforeRead(tenantId, docId);
    const target = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('document_updates')
        .select(['id', 'at'])
        .where('doc_id', '=', docId)
        .where('at', '<=', new Date(at))
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst(),
    );
    return target ? { id: String(target.id), at: new Date(target.at).getTime() } : null;
  }

  /** The updates after `afterId` up to `uptoId`, in log order (read in pages). */
  async updatesBetween(tenantId: string, docId: string, afterId: string | null, uptoId: string): Promise<Uint8Array[]> {
    const parts: Uint8Array[] = [];
    let after = afterId;
    for (;;) {
      const page = await this.updatesAfter(tenantId, docId, after, TAIL_PAGE, uptoId);
      for (const row of page) parts.push(row.update);
      if (page.length < TAIL_PAGE) return parts;
      after = page.at(-1)!.id;
    }
  }

  /** The document as it was at `at` (Unix ms). */
  async stateAt(tenantId: string, docId: string, at: number): Promise<StateAt> {
    const target = await this.lastUpdateAt(tenantId, docId, at);
    if (!target) return { parts: [], uptoId: null, at: null, updates: 0 };
    return this.stateUpTo(tenantId, docId, target.id, target.at);
  }

  /** The document as it was after logged update `uptoId` (accepted at `at`, Unix ms). */
  async stateUpTo(tenantId: string, docId: string, uptoId: string, at: number): Promise<StateAt> {
    const checkpoint = await this.checkpointAtOrBefore(tenantId, docId, uptoId);
    const tail = await this.updatesBetween(tenantId, docId, checkpoint?.uptoId ?? null, uptoId);
    if (tail.length > this.checkpointEvery) void this.buildCheckpoints(tenantId, docId).catch(this.onBackgroundError);
    return { parts: checkpoint ? [checkpoint.state, ...tail] : tail, uptoId, at, updates: (checkpoint?.updates ?? 0) + tail.length };
  }

  /** At most `limit` logged updates after `afterId` (from the start when null), up to `uptoId`, in log order. */
  async updatesAfter(tenantId: string, docId: string, afterId: string | null, limit: number, uptoId?: string): Promise<LoggedUpdateRow[]> {
    if (afterId === null) await this.beforeRead(tenantId, docId);
    const rows = await this.storage.withTenant(tenantId, (trx) => {
      let query = trx.selectFrom('document_updates').select(['id', 'at', 'author', 'update']).where('doc_id', '=', docId);
      if (afterId !== null) query = query.where('id', '>', afterId);
      if (uptoId !== undefined) query = query.where('id', '<=', uptoId);
      return query.orderBy('id').limit(limit).execute();
    });
    return rows.map((r) => ({ id: String(r.id), at: new Date(r.at).getTime(), author: r.author, update: bytes(r.update) }));
  }

  /**
   * Stores a checkpoint after every `checkpointEvery` updates past the last one, applying the log to
   * one Y.Doc as it goes (each checkpoint is one encoding of it, one row). Resolves with how many
   * it wrote; one build per document at a time.
   */
  buildCheckpoints(tenantId: string, docId: string): Promise<number> {
    const key = `${tenantId}/${docId}`;
    let build = this.building.get(key);
    if (!build) {
      build = this.build(tenantId, docId).finally(() => this.building.delete(key));
      this.building.set(key, build);
    }
    return build;
  }

  private async build(tenantId: string, docId: string): Promise<number> {
    const last = await this.checkpointAtOrBefore(tenantId, docId, null);
    const doc = docFromParts(last ? [last.state] : []);
    let after = last?.uptoId ?? null;
    let updates = last?.updates ?? 0;
    let written = 0;
    for (;;) {
      const block = await this.updatesAfter(tenantId, docId, after, this.checkpointEvery);
      if (block.length < this.checkpointEvery) return written;
      doc.transact(() => {
        for (const row of block) Y.applyUpdate(doc, row.update);
      });
      const end = block.at(-1)!;
      updates += block.length;
      after = end.id;
      const state = Y.encodeStateAsUpdate(doc);
      await this.storage.withTenant(tenantId, (trx) =>
        trx
          .insertInto('replay_checkpoints')
          .values({ tenant_id: tenantId, doc_id: docId, upto_id: end.id, at: new Date(end.at), updates, state })
          .onConflict((oc) => oc.doNothing())
          .execute(),
      );
      written++;
    }
  }

  private async checkpointAtOrBefore(tenantId: string, docId: string, uptoId: string | null): Promise<{ uptoId: string; updates: number; state: Uint8Array } | undefined> {
    const found = await this.storage.withTenant(tenantId, (trx) => {
      let query = trx.selectFrom('replay_checkpoints').select(['upto_id', 'updates', 'state']).where('doc_id', '=', docId);
      if (uptoId !== null) query = query.where('upto_id', '<=', uptoId);
      return query.orderBy('upto_id', 'desc').limit(1).executeTakeFirst();
    });
    return found ? { uptoId: String(found.upto_id), updates: found.updates, state: bytes(found.state) } : undefined;
  }
}
