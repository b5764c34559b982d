// What the side modules' consumers share: items gathered for a moment (or up to a batch size) and
// written per tenant, one batch after another. An item's promise settles when its batch is written,
// so the bus acknowledges an event only then (at-least-once, as everywhere).

/** Writes one tenant's items; throws to fail them all, or answers one error (or undefined) per item. */
export type BatchWrite<T> = (tenantId: string, items: T[]) => Promise<readonly unknown[] | void>;

interface Pending<T> {
  items: T[];
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

/**
 * How long the side modules gather events before writing them: a batch's statements and its
 * transaction are paid once a second per tenant at most, whatever the rate of events, so the work
 * the modules cause on the storage thread (shared with the update log) stays small and flat. What a
 * user sees move (a creator dashboard, a leaderboard, an achievement) moves within about a second.
 */
export const SIDE_MODULE_BATCH_MS = 1000;

export class TenantBatches<T> {
  private pending = new Map<string, Pending<T>>();
  private size = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: BatchWrite<T>,
    private readonly options: { flushMs: number; maxBatch: number },
  ) {}

  /** Resolves once the item is written; rejects with its batch's (or its own) error. */
  add(tenantId: string, item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      let batch = this.pending.get(tenantId);
      if (!batch) this.pending.set(tenantId, (batch = { items: [], waiters: [] }));
      batch.items.push(item);
      batch.waiters.push({ resolve, reject });
      if (++this.size >= this.options.maxBatch) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs);
    });
  }

  /** Writes what is gathered now; resolves when it (and any write before it) is done. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.pending;
    this.pending = new Map();
    this.size = 0;
    this.chain = this.chain.then(async () => {
      for (const [tenantId, { items, waiters }] of pending) {
        try {
          const errors = (await this.write(tenantId, items)) ?? [];
          waiters.forEach((w, i) => (errors[i] === undefined ? w.resolve() : w.reject(errors[i])));
        } catch (error) {
          waiters.forEach((w) => w.reject(error));
        }
      }
    });
    return this.chain;
  }
}
