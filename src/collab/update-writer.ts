import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { CollabMetrics } from './metrics.js';
import type { DocumentStore, LoggedUpdate } from './document-store.js';
import type { JournalGroup, JournalSegment, UpdateJournal } from './update-journal.js';

interface DocQueue {
  tenantId: string;
  docId: string;
  updates: LoggedUpdate[];
  /** How many of `updates`, from the first, are already in the journal. */
  journaled: number;
  onPersisted: (lastId: string, count: number) => void;
}

/** What the writer keeps per tenant: its budget and, when its writes fail, when to try again. */
interface TenantState {
  pendingBytes: number;
  failures: number;
  /** Epoch ms before which its updates are not tried again (0: write with the next group). */
  retryAt: number;
  lastError: string | null;
}

/** A tenant whose update log writes fail, as `/healthz` shows it. */
export interface FailingTenant {
  tenantId: string;
  failures: number;
  lastError: string | null;
  retryInMs: number;
  pendingBytes: number;
}

export interface UpdateWriterOptions {
  /** Group commit: accepted updates are durable (in the journal, or in the database without one) within this many ms. */
  flushMs: number;
  /** With a journal: updates move from the journal to the database within this many ms. */
  storeMs?: number;
  /** Accepted bytes one tenant may have waiting for storage; past it its rooms refuse writes with 1013. */
  maxPendingBytes: number;
  logger: Logger;
  metrics: CollabMetrics;
  /** Without a journal: a commit starts at once when this many updates wait. */
  maxBatch?: number;
  /** With a journal: a move to the database starts at once when this many updates wait. */
  maxStoreBatch?: number;
}

/**
 * Group commit for the update log. Rooms hand over accepted updates; a single loop makes them
 * durable every `flushMs`:
 * - without a journal, every tenant's queued updates (all its documents) go to the database in one
 *   statement (a commit costs about the same however little it holds), or at once when `maxBatch`
 *   wait, so that no single commit holds the storage thread for long;
 * - with a journal (the embedded database, see `UpdateJournal`), they are appended to the journal
 *   file and synced, and moved to the database in bulk every `storeMs` (or when `maxStoreBatch`
 *   wait): the database pays one statement where it paid ten, a file append and a sync instead.
 * Either way, when storage fails the updates stay in memory and are retried with backoff until it
 * returns. Tenants are written one statement each and fail apart: a tenant whose write fails is
 * retried with its own backoff while the others go on being written every group, and each tenant
 * has its own memory bound (`hasRoom`), so that rooms refuse new writes of that tenant instead of
 * accepting what they could not keep. Every write runs in one chain, one at a time, so that an
 * update is never both moved and journaled after its move.
 */
export class UpdateWriter {
  private readonly queues = new Map<string, DocQueue>();
  private readonly tenants = new Map<string, TenantState>();
  private pendingBytes = 0;
  /** Updates queued and not yet in the database. */
  private unstored = 0;
  /** Updates queued since the last journal append or commit began. */
  private pendingCount = 0;
  /** When the oldest update not yet in the database was queued (0: none). */
  private oldestUnstoredAt = 0;
  private journal: UpdateJournal | null = null;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;
  /** Who hears that documents' updates became durable (`onDurable`). */
  private readonly durableListeners = new Set<(tenantId: string, docId: string) => void>();

  constructor(
    private readonly store: DocumentStore,
    private readonly options: UpdateWriterOptions,
  ) {
    options.metrics.pendingBytes = () => this.pendingBytes;
    options.metrics.failingTenants = () => this.failingTenants();
  }

  /**
   * Moves what a previous run left in the journal to the database (skipping what it had moved
   * already), empties it, and from now on journals every group commit. Call before any update is
   * appended.
   */
  async useJournal(opened: { journal: UpdateJournal; leftover: JournalSegment[] }): Promise<{ recovered: number; tornBytes: number }> {
    const { journal, leftover } = opened;
    let recovered = 0;
    let tornBytes = 0;
    if (leftover.length > 0) {
      const marks = await this.store.journalMarks();
      for (const segment of leftover) {
        tornBytes += segment.tornBytes;
        const byTenant = new Map<string, Map<string, LoggedUpdate[]>>();
        for (const r of segment.records) {
          if ((marks.get(r.tenantId) ?? 0) >= segment.id) continue;
          const docs = byTenant.get(r.tenantId) ?? new Map<string, LoggedUpdate[]>();
          byTenant.set(r.tenantId, docs);
          const list = docs.get(r.docId) ?? [];
          docs.set(r.docId, list);
          list.push({ update: r.update, author: r.author, at: new Date(r.at) });
        }
        for (const [tenantId, docs] of byTenant) {
          const batches = [...docs].map(([docId, updates]) => ({ docId, updates }));
          try {
            await this.store.append(tenantId, batches, segment.id);
          } catch (error) {
            // One tenant's failure does not stop the start: its updates wait in memory (journaled
            // again with the first group commit) and are retried on its backoff like any other.
            this.options.logger.error({ err: error, tenant: tenantId }, 'journaled updates of this tenant could not be moved to the update log; retrying them');
            for (const { docId, updates } of batches) for (const update of updates) this.append(`${tenantId}/${docId}`, tenantId, docId, update, () => undefined);
            continue;
          }
          recovered += batches.reduce((n, b) => n + b.updates.length, 0);
        }
      }
      await journal.release(leftover.at(-1)!.id);
    }
    // Empty, so the marks of the segments just moved can go: new segments start afresh.
    await this.store.clearJournalMarks();
    this.journal = journal;
    return { recovered, tornBytes };
  }

  /**
   * `listener` hears each document whose accepted updates became durable (journaled, or stored),
   * once per group commit, from the commit loop: off the update path. For caches of what documents
   * hold; a throwing listener is ignored. Returns what stops it.
   */
  onDurable(listener: (tenantId: string, docId: string) => void): () => void {
    this.durableListeners.add(listener);
    return () => this.durableListeners.delete(listener);
  }

  private announceDurable(tenantId: string, docId: string): void {
    for (const listener of this.durableListeners) {
      try {
        listener(tenantId, docId);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Whether group commits go to the journal (and the database in bulk). */
  get journaling(): boolean {
    return this.journal !== null;
  }

  /** Whether the tenant's budget of bytes waiting for storage takes `bytes` more. */
  hasRoom(tenantId: string, bytes: number): boolean {
    return (this.tenants.get(tenantId)?.pendingBytes ?? 0) + bytes <= this.options.maxPendingBytes;
  }

  /** Tenants whose writes are failing now: what `/healthz` and the metrics report. */
  failingTenants(now = Date.now()): FailingTenant[] {
    const failing: FailingTenant[] = [];
    for (const [tenantId, state] of this.tenants) {
      if (state.failures > 0) failing.push({ tenantId, failures: state.failures, lastError: state.lastError, retryInMs: Math.max(0, state.retryAt - now), pendingBytes: state.pendingBytes });
    }
    return failing;
  }

  /** The caller checked `hasRoom`; the update is now the writer's to keep. */
  append(key: string, tenantId: string, docId: string, update: LoggedUpdate, onPersisted: DocQueue['onPersisted']): void {
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { tenantId, docId, updates: [], journaled: 0, onPersisted };
      this.queues.set(key, queue);
    }
    // The room appending now is the one to tell (a queue may have been started by the journal's recovery).
    queue.onPersisted = onPersisted;
    queue.updates.push(update);
    this.pendingBytes += update.update.byteLength;
    this.stateOf(tenantId).pendingBytes += update.update.byteLength;
    if (this.unstored++ === 0) this.oldestUnstoredAt = Date.now();
    // Without a journal a full batch goes at once: at high rates commits come more often instead of
    // growing, so no single commit holds the storage thread (and a core) for long.
    if (++this.pendingCount >= this.maxBatch && !this.journal && this.timer && !this.flushing && this.failures === 0) {
      clearTimeout(this.timer);
      this.timer = null;
      this.schedule(0);
    } else this.schedule();
  }

  private get maxBatch(): number {
    return this.options.maxBatch ?? 500;
  }

  /** Whether `key` has updates not yet in the database. */
  isPending(key: string): boolean {
    return (this.queues.get(key)?.updates.length ?? 0) > 0;
  }

  /**
   * Writes what is queued to the database now, tenants waiting out a backoff included, and rejects
   * when a write failed (those updates stay queued): with `tenantId`, only that tenant's failure
   * counts, so a reader of one tenant never sees another's.
   */
  async flush(tenantId?: string): Promise<void> {
    await this.serial(() => this.storeAll({ force: true, ...(tenantId === undefined ? {} : { tenantId }) }));
  }

  /** Keeps flushing until the queue is empty or the deadline passes; true when all was written. */
  async drain(deadline: number): Promise<boolean> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.queues.size > 0 && Date.now() < deadline) {
      try {
        await this.flush();
      } catch {
        await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
      }
    }
    while (this.flushing) await this.flushing.catch(() => undefined);
    const written = this.queues.size === 0;
    if (this.journal) {
      const last = await this.journal.rotate();
      if (written) await this.journal.release(last);
    }
    return written;
  }

  /** Runs `write` after the write in progress, if any. */
  private async serial(write: () => Promise<void>): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.queues.size === 0) return;
    this.flushing = write().finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  private schedule(delay = this.options.flushMs): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.serial(() => this.commit()).then(
        () => {
          if (this.failures > 0) this.options.logger.info({ failures: this.failures }, 'update log writable again');
          this.failures = 0;
          if (this.queues.size > 0) this.schedule(!this.journal && this.pendingCount >= this.maxBatch ? 0 : this.options.flushMs);
        },
        (error: unknown) => {
          this.failures++;
          const backoff = Math.min(5000, 100 * 2 ** Math.min(this.failures, 6));
          this.options.metrics.storeFailures.inc();
          if (this.failures === 1 || this.failures % 20 === 0) {
            this.options.logger.error({ err: error, pendingBytes: this.pendingBytes, retryInMs: backoff }, 'update log write failed; keeping updates in memory');
          }
          this.schedule(backoff);
        },
      );
    }, delay);
  }

  /** One group commit: to the journal, and to the database when the move is due (always without a journal). */
  private async commit(): Promise<void> {
    const journal = this.journal;
    if (journal) {
      const due =
        this.stopped ||
        this.unstored >= (this.options.maxStoreBatch ?? 5000) ||
        Date.now() - this.oldestUnstoredAt >= (this.options.storeMs ?? 1000) - this.options.flushMs / 2;
      if (!due) {
        try {
          await this.journalAll(journal);
          return;
        } catch (error) {
          // The database is the way left to keep them: a failed journal moves everything at once.
          this.options.metrics.storeFailures.inc();
          this.options.logger.error({ err: error }, 'update journal write failed; writing to the database directly');
        }
      }
    }
    await this.storeAll();
  }

  /** Appends every update not yet journaled as one frame, synced. */
  private async journalAll(journal: UpdateJournal): Promise<void> {
    const taken: [DocQueue, number][] = [];
    const groups: JournalGroup[] = [];
    let count = 0;
    for (const queue of this.queues.values()) {
      const end = queue.updates.length;
      if (end <= queue.journaled) continue;
      groups.push({ tenantId: queue.tenantId, docId: queue.docId, updates: queue.updates.slice(queue.journaled, end) });
      taken.push([queue, end]);
      count += end - queue.journaled;
    }
    this.pendingCount = 0;
    if (count === 0) return;
    await journal.append(groups);
    for (const [queue, end] of taken) {
      queue.journaled = Math.max(queue.journaled, end);
      this.announceDurable(queue.tenantId, queue.docId);
    }
    this.options.metrics.journaledUpdates.inc(count);
  }

  /**
   * What is queued to the database, one statement per tenant. A tenant whose write fails keeps its
   * updates queued and waits out its own backoff (skipped by the groups meanwhile, unless `force`)
   * without holding back the others. Rejects with a failure when `force` asked for it: that
   * tenant's, or any with no tenant named.
   */
  private async storeAll({ force = false, tenantId: asked }: { force?: boolean; tenantId?: string } = {}): Promise<void> {
    const started = process.hrtime.bigint();
    const now = Date.now();
    const due = new Set<string>();
    /** Whether updates of a tenant waiting out its backoff stay queued (then the journal keeps its segments). */
    let skipped = false;
    for (const queue of this.queues.values()) {
      const state = this.tenants.get(queue.tenantId);
      if (force || this.stopped || !state || state.retryAt <= now) due.add(queue.tenantId);
      else skipped = true;
    }
    this.pendingCount = 0;
    if (due.size === 0) return;
    // Every update queued now is in a journal segment at or below `segment`, or in none.
    const segment = this.journal ? await this.journal.rotate() : null;
    const byTenant = new Map<string, [string, DocQueue, LoggedUpdate[]][]>();
    for (const [key, queue] of this.queues) {
      if (!due.has(queue.tenantId)) continue;
      const group = byTenant.get(queue.tenantId) ?? [];
      group.push([key, queue, queue.updates.slice()]);
      byTenant.set(queue.tenantId, group);
    }
    let failure: unknown = null;
    for (const [tenantId, group] of byTenant) {
      const state = this.stateOf(tenantId);
      let lastIds: Map<string, string>;
      try {
        lastIds = await this.store.append(
          tenantId,
          group.map(([, queue, batch]) => ({ docId: queue.docId, updates: batch })),
          segment,
        );
      } catch (error) {
        if (force && (asked === undefined || asked === tenantId)) failure ??= error;
        this.tenantFailed(tenantId, state, error);
        skipped = true;
        continue;
      }
      if (state.failures > 0) this.options.logger.info({ tenant: tenantId, failures: state.failures }, 'update log writable again for this tenant');
      state.failures = 0;
      state.retryAt = 0;
      state.lastError = null;
      for (const [key, queue, batch] of group) {
        // Updates appended while the write ran stay for the next round.
        queue.updates.splice(0, batch.length);
        queue.journaled = Math.max(0, queue.journaled - batch.length);
        if (queue.updates.length === 0) this.queues.delete(key);
        const bytes = batch.reduce((n, u) => n + u.update.byteLength, 0);
        this.pendingBytes -= bytes;
        state.pendingBytes -= bytes;
        this.unstored -= batch.length;
        this.options.metrics.storedUpdates.inc(batch.length);
        const lastId = lastIds.get(queue.docId);
        if (lastId) queue.onPersisted(lastId, batch.length);
        this.announceDurable(queue.tenantId, queue.docId);
      }
    }
    // A tenant with nothing queued and nothing failing is forgotten (its budget is empty).
    for (const [tenantId, state] of this.tenants) if (state.pendingBytes === 0 && state.failures === 0) this.tenants.delete(tenantId);
    this.oldestUnstoredAt = this.unstored > 0 ? Date.now() : 0;
    this.options.metrics.flushSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (failure) throw failure;
    // Segments up to `segment` are all stored unless a tenant's updates were skipped or failed (they
    // stay in the journal until written); what is queued otherwise arrived after the rotation.
    if (this.journal && segment && !skipped) await this.journal.release(segment);
  }

  private stateOf(tenantId: string): TenantState {
    let state = this.tenants.get(tenantId);
    if (!state) {
      state = { pendingBytes: 0, failures: 0, retryAt: 0, lastError: null };
      this.tenants.set(tenantId, state);
    }
    return state;
  }

  private tenantFailed(tenantId: string, state: TenantState, error: unknown): void {
    state.failures++;
    const backoff = Math.min(5000, 100 * 2 ** Math.min(state.failures, 6));
    state.retryAt = Date.now() + backoff;
    state.lastError = error instanceof Error ? error.message : String(error);
    this.options.metrics.storeFailures.inc();
    this.options.metrics.tenantStoreFailures.inc({ tenant: tenantId });
    if (state.failures === 1 || state.failures % 20 === 0) {
      this.options.logger.error({ err: error, tenant: tenantId, failures: state.failures, pendingBytes: state.pendingBytes, retryInMs: backoff }, 'update log write failed for this tenant; keeping its updates in memory, writing the others');
    }
  }
}
