// The `recommendations` consumer group: signals from the bus into the store. Interactions (with the
// experiment outcomes they may be), follows and co-edits are gathered for a moment and written together, one transaction per tenant and
// batch (a live session reports `session.updated` every second per author; one transaction each was
// the largest cost of a busy server's consumers). An event's promise settles when its batch is
// stored, so the bus acknowledges it only then.
import type { EventType, VezaEvent } from '../events/catalog.js';
import type { ConsumerModule } from '../consumers/contract.js';
import { signalFromEvent, type Interaction } from './signals.js';
import { RecommendationStore } from './store.js';

export const SIGNAL_TYPES = [
  'track.played',
  'track.liked',
  'track.shared',
  'track.purchased',
  'user.followed',
  'session.updated',
  'experiment.exposed',
  'experiment.outcome',
] as const satisfies readonly EventType[];

/** Events that count as an outcome of an exposure when their track was among the items shown. */
const OUTCOME_TYPES = new Set<string>(['track.played', 'track.liked', 'track.shared', 'track.purchased']);

interface TenantBatch {
  interactions: Interaction[];
  /** Track events that may be outcomes of an experiment's exposure. */
  outcomes: { userId: string; metric: string; at: Date; itemId: string }[];
  follows: { userId: string; artistId: string; at: Date }[];
  coedits: { userId: string; sessionId: string; at: Date }[];
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

export class SignalWriter {
  private batches = new Map<string, TenantBatch>();
  private size = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: RecommendationStore,
    private readonly options: { flushMs?: number; maxBatch?: number } = {},
  ) {}

  /** Applies one event; resolves once what it changed is stored. */
  async handle(event: VezaEvent): Promise<void> {
    const tenantId = event.tenantId;
    if (event.type === 'experiment.exposed') {
      if (!event.actor) return;
      await this.store.recordExposure(tenantId, { experimentId: event.payload.experimentId, userId: event.actor, variant: event.payload.variant, at: new Date(event.at), items: event.payload.items ?? [] });
      return;
    }
    if (event.type === 'experiment.outcome') {
      if (!event.actor) return;
      const { experimentId, metric, itemId, value } = event.payload;
      await this.store.recordOutcome(tenantId, { userId: event.actor, metric, at: new Date(event.at), value: value ?? 1, experimentId, itemId: itemId ?? null });
      return;
    }
    const signal = signalFromEvent(event);
    if (!signal) return;
    const stored = new Promise<void>((resolve, reject) => {
      const batch = this.batchOf(tenantId);
      if (signal.kind === 'interaction') {
        batch.interactions.push(signal.interaction);
        const { userId, itemId, at } = signal.interaction;
        if (OUTCOME_TYPES.has(event.type)) batch.outcomes.push({ userId, metric: event.type, at, itemId });
      } else if (signal.kind === 'follow') batch.follows.push(signal);
      else batch.coedits.push(signal);
      batch.waiters.push({ resolve, reject });
      if (++this.size >= (this.options.maxBatch ?? 1000)) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 500);
    });
    await stored;
  }

  /** Writes what is gathered now; resolves when it (and any write before it) is done. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batches = this.batches;
    this.batches = new Map();
    this.size = 0;
    this.chain = this.chain.then(async () => {
      for (const [tenantId, batch] of batches) {
        try {
          if (batch.interactions.length) await this.store.addInteractions(tenantId, batch.interactions);
          if (batch.follows.length) await this.store.addFollows(tenantId, batch.follows);
          if (batch.coedits.length) await this.store.addCoedits(tenantId, batch.coedits);
          await this.store.recordTrackOutcomes(tenantId, batch.outcomes);
          batch.waiters.forEach((w) => w.resolve());
        } catch (error) {
          batch.waiters.forEach((w) => w.reject(error));
        }
      }
    });
    return this.chain;
  }

  private batchOf(tenantId: string): TenantBatch {
    let batch = this.batches.get(tenantId);
    if (!batch) this.batches.set(tenantId, (batch = { interactions: [], outcomes: [], follows: [], coedits: [], waiters: [] }));
    return batch;
  }
}

export const recommendationsConsumer: ConsumerModule = {
  name: 'recommendations',
  async start({ storage, bus }) {
    const writer = new SignalWriter(new RecommendationStore(storage));
    // Many in flight: each event waits for its batch.
    const subscription = await bus.subscribe('recommendations', (event) => writer.handle(event), { types: SIGNAL_TYPES, concurrency: 1000 });
    return {
      async close() {
        await subscription.close();
        await writer.flush();
      },
    };
  },
};
