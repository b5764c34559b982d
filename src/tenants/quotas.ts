// Per-tenant quotas: the gate the server asks (src/server/quota.ts), the quarter-second tick that
// slides the rate windows and shares the counts through Redis, and the stored usage read from the
// database now and then. Installed by the tenants module with `startQuotas`.
//
// Where each limit is checked:
//   connections, joinsPerSecond, channelsPerClient  WebSocket upgrade (429 problem body)
//   messagesPerSecond, bytesPerSecond                each WebSocket message (close 4429)
//   requestsPerSecond                                each authenticated HTTP request (429)
//   documents, participantsPerRoom, rooms            a document's first load, a join, a live room's creation
//   storageBytes, recordingMinutes                   a new document, a recording's start
import type { Logger } from '../log.js';
import type { Principal } from '../server/auth.js';
import type { QuotaGate, QuotaResource, SocketMeter } from '../server/quota.js';
import { DEFAULT_PLAN, effectiveLimits, type Limits, type LimitName } from './quota-plans.js';
import type { QuotaCluster } from './quota-cluster.js';
import type { QuotaStore, TenantPlan } from './quota-store.js';
import { SLOT_MS, TenantQuotaState, type Rate } from './quota-state.js';

/** How often the usage kept in the database (documents, bytes, minutes) is read again per tenant. */
export const USAGE_READ_MS = 30_000;
/** Retry-After of a refusal over a gauge (connections, rooms, participants): someone may leave soon. */
const GAUGE_RETRY_S = 5;

export interface QuotaDeps {
  store: QuotaStore;
  cluster: QuotaCluster | null;
  logger: Logger;
  /** A refusal, for the metrics. */
  refused?: (tenantId: string, limit: LimitName) => void;
}

export class TenantQuotas implements QuotaGate {
  private readonly states = new Map<string, TenantQuotaState>();
  private plans = new Map<string, TenantPlan>();
  private timer: NodeJS.Timeout | null = null;
  private usageReads = new Set<string>();

  constructor(private readonly deps: QuotaDeps) {}

  async start(): Promise<this> {
    this.plans = await this.deps.store.all();
    // Tenants on a plan with limits are followed from the start, so that the other nodes' counts are
    // known before this node's first connection of the tenant.
    for (const tenantId of this.plans.keys()) this.state(tenantId);
    await Promise.all([...this.plans.keys()].map((tenantId) => this.readUsage(tenantId)));
    this.timer = setInterval(() => this.tick(), SLOT_MS);
    this.timer.unref();
    return this;
  }

  /** The tenant's plan, overrides and effective limits. */
  plan(tenantId: string): TenantPlan & { limits: Limits } {
    const plan = this.plans.get(tenantId) ?? { plan: DEFAULT_PLAN, overrides: {}, updatedAt: null };
    return { ...plan, limits: effectiveLimits(plan.plan, plan.overrides) };
  }

  /** Applies a plan change (made here, or heard from another node): takes effect at the next check. */
  async changed(tenantId: string): Promise<void> {
    const plan = await this.deps.store.get(tenantId);
    if (plan.updatedAt === null) this.plans.delete(tenantId);
    else this.plans.set(tenantId, plan);
    this.state(tenantId).setLimits(effectiveLimits(plan.plan, plan.overrides));
    await this.readUsage(tenantId);
  }

  /** What the tenant uses now: rates over the last second (this node and all), gauges, stored usage. */
  usage(tenantId: string) {
    const state = this.state(tenantId);
    const rate = (r: Rate) => state.rate(r);
    return {
      connections: { node: state.connections, cluster: state.connections + state.remoteConnections },
      rooms: { node: state.rooms, cluster: state.rooms + state.remoteRooms },
      messagesPerSecond: rate('messages'),
      bytesPerSecond: rate('bytes'),
      joinsPerSecond: rate('joins'),
      requestsPerSecond: rate('requests'),
      documents: state.stored.documents + state.documentsAdded,
      storageBytes: state.stored.storageBytes,
      recordingMinutes: state.stored.recordingMinutes,
      storedUsageReadAt: state.stored.readAt ? new Date(state.stored.readAt).toISOString() : null,
      refusals: Object.fromEntries(state.refusals),
    };
  }

  // The gate (src/server/quota.ts).

  admitSocket(principal: Principal): SocketMeter {
    const state = this.state(principal.tenantId);
    if (state.connections + state.remoteConnections >= state.connectionsLimit) throw this.refuse(state, 'connections', GAUGE_RETRY_S);
    if (state.joins + state.joinsBase >= state.joinsLimit) throw this.refuse(state, 'joinsPerSecond', 1);
    if ((state.channels.get(principal.userId) ?? 0) >= state.channelsLimit) throw this.refuse(state, 'channelsPerClient', GAUGE_RETRY_S);
    state.joins++;
    return state;
  }

  socketOpened(principal: Principal, meter: SocketMeter): void {
    const state = meter as TenantQuotaState;
    state.connections++;
    state.channels.set(principal.userId, (state.channels.get(principal.userId) ?? 0) + 1);
  }

  socketClosed(principal: Principal, meter: SocketMeter): void {
    const state = meter as TenantQuotaState;
    state.connections--;
    const left = (state.channels.get(principal.userId) ?? 1) - 1;
    if (left > 0) state.channels.set(principal.userId, left);
    else state.channels.delete(principal.userId);
  }

  admitRequest(principal: Principal): void {
    const state = this.state(principal.tenantId);
    // A refused request is not counted, so a client that keeps asking is admitted once the second has passed.
    if (state.requests + 1 + state.requestsBase > state.requestsLimit) throw this.refuse(state, 'requestsPerSecond', 1);
    state.requests++;
  }

  admit(tenantId: string, resource: QuotaResource, current = 0): void {
    const state = this.state(tenantId);
    const over = (limit: LimitName, used: number) => {
      const max = state.limits[limit];
      return max !== null && used >= max;
    };
    switch (resource) {
      case 'documents':
        if (over('documents', state.stored.documents + state.documentsAdded)) throw this.refuse(state, 'documents', USAGE_READ_MS / 1000);
        this.admit(tenantId, 'storageBytes');
        state.documentsAdded++;
        return;
      case 'rooms':
        if (over('rooms', state.rooms + state.remoteRooms)) throw this.refuse(state, 'rooms', GAUGE_RETRY_S);
        return;
      case 'participantsPerRoom':
        if (over('participantsPerRoom', current)) throw this.refuse(state, 'participantsPerRoom', GAUGE_RETRY_S);
        return;
      case 'storageBytes':
        if (over('storageBytes', state.stored.storageBytes)) throw this.refuse(state, 'storageBytes', USAGE_READ_MS / 1000);
        return;
      case 'recordingMinutes':
        if (over('recordingMinutes', state.stored.recordingMinutes)) throw this.refuse(state, 'recordingMinutes', secondsToNextMonth());
        this.admit(tenantId, 'storageBytes');
    }
  }

  entered(tenantId: string): void {
    this.state(tenantId).rooms++;
  }

  left(tenantId: string): void {
    this.state(tenantId).rooms--;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.deps.cluster?.close();
  }

  private refuse(state: TenantQuotaState, limit: LimitName, retryAfter: number) {
    this.deps.refused?.(state.tenantId, limit);
    return state.refuse(limit, Math.max(1, Math.ceil(retryAfter)));
  }

  private state(tenantId: string): TenantQuotaState {
    let state = this.states.get(tenantId);
    if (!state) {
      state = new TenantQuotaState(tenantId, this.plan(tenantId).limits);
      this.states.set(tenantId, state);
    }
    return state;
  }

  /** Each quarter: slide every tenant's window, share the counts, read stored usage that is due. */
  private tick(now = Date.now()): void {
    const done = new Map<TenantQuotaState, Record<Rate, number>>();
    for (const [tenantId, state] of this.states) {
      const counts = state.roll();
      if (counts) done.set(state, counts);
      // A tenant on no plan, with nothing open and nothing counted, is forgotten until it comes back.
      else if (!this.plans.has(tenantId) && state.idle && state.refusals.size === 0) {
        this.states.delete(tenantId);
        this.deps.cluster?.forget(tenantId);
        continue;
      }
      if (this.plans.has(tenantId) && now - state.stored.readAt >= USAGE_READ_MS) void this.readUsage(tenantId);
    }
    void this.deps.cluster?.exchange(this.states.values(), done, now);
  }

  private async readUsage(tenantId: string): Promise<void> {
    if (this.usageReads.has(tenantId)) return;
    this.usageReads.add(tenantId);
    try {
      const stored = await this.deps.store.usage(tenantId);
      const state = this.state(tenantId);
      state.stored = stored;
      state.documentsAdded = 0;
    } catch (error) {
      this.deps.logger.warn({ err: error, tenant: tenantId }, 'could not read a tenant\'s stored usage');
      // Tried again at the next read's time, not at every tick.
      this.state(tenantId).stored.readAt = Date.now();
    } finally {
      this.usageReads.delete(tenantId);
    }
  }
}

function secondsToNextMonth(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.ceil((next - now.getTime()) / 1000);
}
