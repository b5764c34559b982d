// One tenant's quota state on this node: its limits as plain numbers, the counts of the current
// quarter second, and the rest of the sliding second (this node's three earlier quarters plus what
// the other nodes counted, as last read from Redis). A socket keeps its tenant's state as its meter,
// so the check of a message is two additions and two comparisons on fields of one object.
import { QuotaExceeded, type SocketMeter } from '../server/quota.js';
import type { LimitName, Limits } from './quota-plans.js';

/** Rates are counted in quarters of a second; a sliding second is four of them. */
export const SLOT_MS = 250;
export const SLOTS = 4;

export const RATES = ['messages', 'bytes', 'joins', 'requests'] as const;
export type Rate = (typeof RATES)[number];
export const RATE_LIMIT: Record<Rate, LimitName> = { messages: 'messagesPerSecond', bytes: 'bytesPerSecond', joins: 'joinsPerSecond', requests: 'requestsPerSecond' };

/** What is read from the database now and then (not per message): see quota-usage.ts. */
export interface StoredUsage {
  documents: number;
  storageBytes: number;
  recordingMinutes: number;
  /** When it was read (epoch ms); 0 before the first read. */
  readAt: number;
}

export class TenantQuotaState implements SocketMeter {
  // The current quarter's counts on this node.
  messages = 0;
  bytes = 0;
  joins = 0;
  requests = 0;
  // The rest of the sliding second: this node's earlier quarters and the other nodes' counts.
  messagesBase = 0;
  bytesBase = 0;
  joinsBase = 0;
  requestsBase = 0;
  // Limits as numbers, Infinity for none: compared on the hot path.
  messagesLimit = Infinity;
  bytesLimit = Infinity;
  joinsLimit = Infinity;
  requestsLimit = Infinity;
  connectionsLimit = Infinity;
  channelsLimit = Infinity;

  /** Gauges on this node, and the other nodes' as last read. */
  connections = 0;
  rooms = 0;
  remoteConnections = 0;
  remoteRooms = 0;
  /** Sockets open per user (channels per client). */
  readonly channels = new Map<string, number>();
  /** Documents admitted since the stored usage was read (the next read counts them). */
  documentsAdded = 0;
  stored: StoredUsage = { documents: 0, storageBytes: 0, recordingMinutes: 0, readAt: 0 };

  /** This node's three earlier quarters per rate (rate i at 3i..3i+2, a ring), and their sum. */
  private readonly earlier = new Float64Array(RATES.length * (SLOTS - 1));
  private oldest = 0;
  private earlierTotal = 0;
  /** The other nodes' counts over the sliding second. */
  readonly remote: Record<Rate, number> = { messages: 0, bytes: 0, joins: 0, requests: 0 };
  /** The limit the last refused message went over. */
  private exceeded: LimitName = 'messagesPerSecond';
  /** Counts refused, per limit, since start (metrics and GET …/quotas). */
  readonly refusals = new Map<LimitName, number>();

  constructor(
    readonly tenantId: string,
    public limits: Limits,
  ) {
    this.setLimits(limits);
  }

  setLimits(limits: Limits): void {
    this.limits = limits;
    const n = (value: number | null) => (value === null ? Infinity : value);
    this.messagesLimit = n(limits.messagesPerSecond);
    this.bytesLimit = n(limits.bytesPerSecond);
    this.joinsLimit = n(limits.joinsPerSecond);
    this.requestsLimit = n(limits.requestsPerSecond);
    this.connectionsLimit = n(limits.connections);
    this.channelsLimit = n(limits.channelsPerClient);
  }

  /** The per-message check: counts the message, answers false once a rate is over its limit. */
  take(bytes: number): boolean {
    const messages = ++this.messages;
    const total = (this.bytes += bytes);
    if (messages + this.messagesBase <= this.messagesLimit && total + this.bytesBase <= this.bytesLimit) return true;
    this.exceeded = messages + this.messagesBase > this.messagesLimit ? 'messagesPerSecond' : 'bytesPerSecond';
    // What is refused is not counted: the tenant's other sockets keep what is left of the second.
    this.messages--;
    this.bytes -= bytes;
    return false;
  }

  refusal(): QuotaExceeded {
    return this.refuse(this.exceeded, 1);
  }

  /** The refusal for `limit`, counted. */
  refuse(limit: LimitName, retryAfterSeconds: number): QuotaExceeded {
    this.refusals.set(limit, (this.refusals.get(limit) ?? 0) + 1);
    return new QuotaExceeded(limit, retryAfterSeconds, `tenant ${this.tenantId} is over its ${limit} quota (${this.limits[limit]}); retry after ${retryAfterSeconds} s`);
  }

  /** Over the sliding second, this node's count and the cluster's. */
  rate(rate: Rate): { local: number; cluster: number } {
    const local = this[rate] + this.earlierSum(RATES.indexOf(rate));
    return { local, cluster: local + this.remote[rate] };
  }

  /**
   * The quarter is over: its counts join the earlier ones (the oldest drops out) and are returned,
   * for the cluster to add to the shared counts. Returns null when the quarter counted nothing.
   */
  roll(): Record<Rate, number> | null {
    const { messages, bytes, joins, requests } = this;
    const counted = messages + bytes + joins + requests;
    // An idle tenant (most of them, most of the time) costs one comparison.
    if (counted === 0 && this.earlierTotal === 0) return null;
    const e = this.earlier;
    const o = this.oldest;
    this.earlierTotal += counted - (e[o]! + e[3 + o]! + e[6 + o]! + e[9 + o]!);
    e[o] = messages;
    e[3 + o] = bytes;
    e[6 + o] = joins;
    e[9 + o] = requests;
    this.oldest = (o + 1) % (SLOTS - 1);
    this.messages = this.bytes = this.joins = this.requests = 0;
    this.rebase();
    return counted === 0 ? null : { messages, bytes, joins, requests };
  }

  /** Recomputes the bases after a roll or a read of the other nodes' counts. */
  rebase(): void {
    this.messagesBase = this.earlierSum(0) + this.remote.messages;
    this.bytesBase = this.earlierSum(1) + this.remote.bytes;
    this.joinsBase = this.earlierSum(2) + this.remote.joins;
    this.requestsBase = this.earlierSum(3) + this.remote.requests;
  }

  private earlierSum(rate: number): number {
    const e = this.earlier;
    return e[3 * rate]! + e[3 * rate + 1]! + e[3 * rate + 2]!;
  }

  /** Nothing open, nothing counted this second: the state may be dropped (tenants without limits). */
  get idle(): boolean {
    return this.connections === 0 && this.rooms === 0 && this.messagesBase + this.bytesBase + this.joinsBase + this.requestsBase + this.messages + this.joins + this.requests === 0;
  }
}
