// Authorship and diffs of a session, read from its update log. Authorship needs every update from
// the first, so an answer replays the log into an `AuthorshipEngine`; the engines of the sessions
// asked about most recently are kept (a small LRU, one engine per session at its last log id, bounded
// by sessions and by the updates they hold), and a later question about the same session at the
// same or a later id only applies what came after.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Storage } from '../storage/database.js';
import type { ReplayStore } from '../studio/replay-store.js';
import { AuthorshipEngine } from './authorship.js';
import { diffStates, plainState, type SessionDiff } from './diff.js';
import { authorshipReport, type AuthorshipReport } from './report.js';

/** A point of the session's timeline: the last logged update it includes (null: before the first). */
export interface Moment {
  at: number;
  uptoId: string | null;
}

export interface HistoryServiceOptions {
  /** Sessions whose engine is kept in memory (0: none). */
  cachedSessions?: number;
  /**
   * The most updates the kept engines may hold together (the least recently used go first): an
   * engine's memory follows its session's length, about 1.5 kB per update (bench/history.ts).
   */
  cachedUpdates?: number;
  /** Rows read per page of the log. */
  pageSize?: number;
}

const idValue = (id: string | null) => (id === null ? -1n : BigInt(id));

/** Updates applied between two turns of the event loop: about 2 ms of a studio session's log (bench/history.ts). */
const APPLY_SLICE = 100;

/** Whether moment `a` comes after moment `b` on the log. */
export const isAfter = (a: Moment, b: Moment) => idValue(a.uptoId) > idValue(b.uptoId);

export class HistoryService {
  private readonly engines = new Map<string, AuthorshipEngine>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** The replay running now (or the last one). */
  private busy: Promise<unknown> = Promise.resolve();
  private readonly cachedSessions: number;
  private readonly cachedUpdates: number;
  private readonly pageSize: number;

  constructor(
    private readonly replay: ReplayStore,
    private readonly storage: Storage,
    options: HistoryServiceOptions = {},
  ) {
    this.cachedSessions = options.cachedSessions ?? 8;
    this.cachedUpdates = options.cachedUpdates ?? 200_000;
    this.pageSize = options.pageSize ?? 5000;
  }

  /** Whether the session has ever been stored. */
  async exists(tenantId: string, sessionId: string): Promise<boolean> {
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('documents').select('id').where('id', '=', sessionId).executeTakeFirst());
    return row !== undefined;
  }

  /** The moment a time (Unix ms) names: the last update accepted at or before it. */
  async momentAt(tenantId: string, sessionId: string, at: number): Promise<Moment> {
    const last = await this.replay.lastUpdateAt(tenantId, sessionId, at);
    return { at, uptoId: last?.id ?? null };
  }

  /** Who made what, as the session was at `moment`. */
  authorship(tenantId: string, sessionId: string, moment: Moment): Promise<AuthorshipReport> {
    return this.withEngine(tenantId, sessionId, moment.uptoId, async (engine) => {
      await this.advance(tenantId, sessionId, engine, moment.uptoId);
      return authorshipReport(engine);
    });
  }

  /** What changed from `from` to `to` (from ≤ to), each change with its author. */
  diff(tenantId: string, sessionId: string, from: Moment, to: Moment): Promise<SessionDiff> {
    if (isAfter(from, to)) throw new RangeError('from must not come after to');
    return this.withEngine(tenantId, sessionId, from.uptoId, async (engine) => {
      await this.advance(tenantId, sessionId, engine, from.uptoId);
      const before = plainState(engine);
      await this.advance(tenantId, sessionId, engine, to.uptoId);
      return diffStates(before, engine);
    });
  }

  /** Forgets the kept engines. */
  clear(): void {
    this.engines.clear();
  }

  /**
   * Runs `use` with an engine standing at or before `uptoId`: the session's kept one when it has
   * not gone past it, else a new one. One use per session at a time; the engine is kept afterwards.
   */
  private async withEngine<T>(tenantId: string, sessionId: string, uptoId: string | null, use: (engine: AuthorshipEngine) => Promise<T>): Promise<T> {
    const key = `${tenantId}/${sessionId}`;
    const previous = this.locks.get(key) ?? Promise.resolve();
    // One replay at a time on the node, whichever session: requests queue rather than share the thread.
    const turn = Promise.all([previous.catch(() => undefined), this.busy.catch(() => undefined)]);
    const run = turn.then(async () => {
      const kept = this.engines.get(key);
      this.engines.delete(key);
      const engine = kept && idValue(kept.uptoId) <= idValue(uptoId) ? kept : new AuthorshipEngine();
      try {
        return await use(engine);
      } finally {
        this.keep(key, engine);
      }
    });
    this.locks.set(key, run);
    this.busy = run;
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }

  /** Keeps the engine as the session's most recent, then drops the least recent past either bound. */
  private keep(key: string, engine: AuthorshipEngine): void {
    this.engines.set(key, engine);
    let held = 0;
    for (const kept of this.engines.values()) held += kept.updates;
    for (const [oldest, kept] of this.engines) {
      if (this.engines.size <= this.cachedSessions && held <= this.cachedUpdates) return;
      this.engines.delete(oldest);
      held -= kept.updates;
    }
  }

  /**
   * Applies the log after where the engine stands, up to `uptoId`. The next page is read (on the
   * storage thread) while this one is applied.
   */
  private async advance(tenantId: string, sessionId: string, engine: AuthorshipEngine, uptoId: string | null): Promise<void> {
    if (uptoId === null || idValue(engine.uptoId) >= idValue(uptoId)) return;
    const read = (after: string | null) => {
      const page = this.replay.updatesAfter(tenantId, sessionId, after, this.pageSize, uptoId);
      page.catch(() => undefined); // awaited below, unless applying the page before it fails
      return page;
    };
    let next = read(engine.uptoId);
    for (;;) {
      const page = await next;
      const full = page.length === this.pageSize;
      if (full) next = read(page.at(-1)!.id);
      // This runs on the thread that serves sockets: a slice of the page at a time, each after the
      // event loop had its turn, so no realtime message waits for more than a slice.
      for (let i = 0; i < page.length; i += APPLY_SLICE) {
        if (i > 0) await yieldToLoop();
        engine.apply(page.slice(i, i + APPLY_SLICE));
      }
      if (!full) return;
      await yieldToLoop();
    }
  }
}
