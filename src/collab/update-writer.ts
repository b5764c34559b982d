import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import type { CollabMetrics } from './metrics.js';
import type { DocumentStore, LoggedUpdate } from './document-store.js';

interface DocQueue {
  tenantId: string;
  docId: string;
  updates: LoggedUpdate[];
  onPersisted: (lastId: string, count: number) => void;
}

/**
 * Group commit for the update log. Rooms hand over accepted updates; a single loop writes every
 * tenant's queued updates (all its documents) in one statement every `flushMs`, or as soon as
 * `maxBatch` updates wait (a commit costs about the same however little it holds, and a huge one
 * would hold the storage thread for long). When storage fails, the batches stay in
 * memory and are retried with backoff until it returns; `hasRoom` tells rooms when the memory bound
 * is reached so they refuse new writes instead of accepting what they could not keep.
 */
export class UpdateWriter {
  private readonly queues = new Map<string, DocQueue>();
  private pendingBytes = 0;
  /** Updates queued since the last flush began: past `maxBatch` the next flush starts at once. */
  private pendingCount = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly store: DocumentStore,
    private readonly options: { flushMs: number; maxPendingBytes: number; logger: Logger; metrics: CollabMetrics; maxBatch?: number },
  ) {
    options.metrics.pendingBytes = () => this.pendingBytes;
  }

  hasRoom(bytes: number): boolean {
    return this.pendingBytes + bytes <= this.options.maxPendingBytes;
  }

  /** The caller checked `hasRoom`; the update is now the writer's to keep. */
  append(key: string, tenantId: string, docId: string, update: LoggedUpdate, onPersisted: DocQueue['onPersisted']): void {
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { tenantId, docId, updates: [], onPersisted };
      this.queues.set(key, queue);
    }
    queue.updates.push(update);
    this.pendingBytes += update.update.byteLength;
    // A full batch goes at once: at high rates commits come more often instead of growing, so no
    // single commit holds the storage thread (and a core) for long.
    if (++this.pendingCount >= this.maxBatch && this.timer && !this.flushing && this.failures === 0) {
      clearTimeout(this.timer);
      this.timer = null;
      this.schedule(0);
    } else this.schedule();
  }

  private get maxBatch(): number {
    return this.options.maxBatch ?? 500;
  }

  /** Whether `key` has updates not yet in storage. */
  isPending(key: string): boolean {
    return (this.queues.get(key)?.updates.length ?? 0) > 0;
  }

  /** Writes everything queued now; rejects when storage failed (the updates stay queued). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queues.size === 0) return;
    this.pendingCount = 0;
    this.flushing = this.writeAll().finally(() => {
      this.flushing = null;
    });
    await this.flushing;
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
    return this.queues.size === 0;
  }

  private schedule(delay = this.options.flushMs): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().then(
        () => {
          if (this.failures > 0) this.options.logger.info({ failures: this.failures }, 'update log writable again');
          this.failures = 0;
          if (this.queues.size > 0) this.schedule(this.pendingCount >= this.maxBatch ? 0 : this.options.flushMs);
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

  /** One transaction per tenant with everything queued for its documents. */
  private async writeAll(): Promise<void> {
    const started = process.hrtime.bigint();
    const byTenant = new Map<string, [string, DocQueue, LoggedUpdate[]][]>();
    for (const [key, queue] of this.queues) {
      const group = byTenant.get(queue.tenantId) ?? [];
      group.push([key, queue, queue.updates.slice()]);
      byTenant.set(queue.tenantId, group);
    }
    for (const [tenantId, group] of byTenant) {
      const lastIds = await this.store.append(
        tenantId,
        group.map(([, queue, batch]) => ({ docId: queue.docId, updates: batch })),
      );
      for (const [key, queue, batch] of group) {
        // Updates appended while the write ran stay for the next round.
        queue.updates.splice(0, batch.length);
        if (queue.updates.length === 0) this.queues.delete(key);
        this.pendingBytes -= batch.reduce((n, u) => n + u.update.byteLength, 0);
        this.options.metrics.storedUpdates.inc(batch.length);
        const lastId = lastIds.get(queue.docId);
        if (lastId) queue.onPersisted(lastId, batch.length);
      }
    }
    this.options.metrics.flushSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }
}
