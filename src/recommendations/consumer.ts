// The `recommendations` consumer group: signals from the bus into the store. Interactions (with the
// experiment outcomes they may be), follows and co-edits are gathered for a moment and written together, one transaction per tenant and
// batch (a live session reports `session.updated` every few seconds per author; one transaction each was
// the largest cost of a busy server's consumers). An event's promise settles when its batch is
// stored, so the bus acknowledges it only then. Once a batch is committed, the writer announces whose
// signals it stored (`recommendations.signals.stored`): that, not the signal's own event, is when the
// serving nodes drop what they keep of those users (history-cache.ts).
import type { EventBus } from '../events/bus.js';
import { createEvent, type EventType, type VezaEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import { SIDE_MODULE_BATCH_MS, TenantBatches } from '../consumers/batches.js';
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

type Signal =
  | { kind: 'interaction'; interaction: Interaction; outcome: { userId: string; metric: string; at: Date; itemId: string } | null }
  | { kind: 'follow'; userId: string; artistId: string; at: Date }
  | { kind: 'coedit'; userId: string; sessionId: string; at: Date };

/** Users whose signals were stored, and sessions whose co-edits were: what serving must read again. */
export interface StoredSignals {
  users: string[];
  sessions: string[];
}

/** Users (and sessions) per announcement: well inside an event's payload bounds. */
const ANNOUNCED_PER_EVENT = 500;

/** Publishes that a tenant's signals are stored, in events of at most ANNOUNCED_PER_EVENT users and sessions each. */
export async function announceStored(bus: EventBus, tenantId: string, stored: StoredSignals): Promise<void> {
  const users = [...new Set(stored.users)];
  const sessions = [...new Set(stored.sessions)];
  for (let at = 0; at < Math.max(users.length, sessions.length); at += ANNOUNCED_PER_EVENT) {
    const payload = { users: users.slice(at, at + ANNOUNCED_PER_EVENT), sessions: sessions.slice(at, at + ANNOUNCED_PER_EVENT) };
    await bus.publish(createEvent('recommendations.signals.stored', { tenantId, payload }));
  }
}

export class SignalWriter {
  private readonly batches: TenantBatches<Signal>;

  constructor(
    private readonly store: RecommendationStore,
    options: { flushMs?: number; maxBatch?: number; onStored?: (tenantId: string, stored: StoredSignals) => Promise<void>; logger?: Logger } = {},
  ) {
    this.onStored = options.onStored ?? null;
    this.logger = options.logger ?? null;
    this.batches = new TenantBatches((tenantId, signals) => this.write(tenantId, signals), { flushMs: options.flushMs ?? SIDE_MODULE_BATCH_MS, maxBatch: options.maxBatch ?? 1000 });
  }

  private readonly onStored: ((tenantId: string, stored: StoredSignals) => Promise<void>) | null;
  private readonly logger: Logger | null;

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
    if (signal.kind !== 'interaction') return this.batches.add(tenantId, signal);
    const { userId, itemId, at } = signal.interaction;
    return this.batches.add(tenantId, { ...signal, outcome: OUTCOME_TYPES.has(event.type) ? { userId, metric: event.type, at, itemId } : null });
  }

  /** Writes what is gathered now; resolves when it (and any write before it) is done. */
  flush(): Promise<void> {
    return this.batches.flush();
  }

  private async write(tenantId: string, signals: Signal[]): Promise<void> {
    const interactions = signals.flatMap((s) => (s.kind === 'interaction' ? [s.interaction] : []));
    const follows = signals.flatMap((s) => (s.kind === 'follow' ? [s] : []));
    const coedits = signals.flatMap((s) => (s.kind === 'coedit' ? [s] : []));
    if (interactions.length) await this.store.addInteractions(tenantId, interactions);
    if (follows.length) await this.store.addFollows(tenantId, follows);
    if (coedits.length) await this.store.addCoedits(tenantId, coedits);
    await this.store.recordTrackOutcomes(tenantId, signals.flatMap((s) => (s.kind === 'interaction' && s.outcome ? [s.outcome] : [])));
    const stored = {
      users: [...interactions.map((i) => i.userId), ...follows.map((f) => f.userId), ...coedits.map((c) => c.userId)],
      sessions: coedits.map((c) => c.sessionId),
    };
    // The signals are committed whatever happens now: a failed announcement is logged, not retried
    // through the events (that would store them twice); serving's cache expiry bounds what it costs.
    await this.onStored?.(tenantId, stored).catch((error: unknown) =>
      this.logger?.warn({ err: error, tenantId }, 'stored recommendation signals not announced; serving may keep those users\' histories until they expire'),
    );
  }
}

export const recommendationsConsumer: ConsumerModule = {
  name: 'recommendations',
  async start({ storage, bus, logger }) {
    const writer = new SignalWriter(new RecommendationStore(storage), { onStored: (tenantId, stored) => announceStored(bus, tenantId, stored), logger });
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

