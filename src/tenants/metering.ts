import type { VezaEvent } from '../events/catalog.js';
import type { UsageSink } from '../server/usage.js';
import { amountLine, MeterJournal, type JournalState } from './metering-journal.js';

/**
 * What a tenant uses, counted per minute on each node. Units (exact integers):
 * - `api_calls`: HTTP requests of an admitted token answered with a status below 500 other than 429;
 * - `egress_bytes`: bytes of HTTP answers to admitted tokens, and of collaboration messages sent to
 *   a tenant's connections (updates and presence counted once per receiving connection, sync answers);
 * - `connection_ms`: milliseconds of open WebSocket connections, split at minute boundaries;
 * - `participant_ms`: milliseconds viewers spent in live rooms, counted in the minute they left;
 * - `stream_ms`, `recording_ms`: length of live streams and recordings, counted in the minute they ended;
 * - `storage_bytes`: bytes of finished recordings and HLS outputs written, counted when written.
 */
export const USAGE_METRICS = ['api_calls', 'egress_bytes', 'connection_ms', 'participant_ms', 'stream_ms', 'recording_ms', 'storage_bytes'] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];

const API = 0;
const EGRESS = 1;
const CONNECTION = 2;
const PARTICIPANT = 3;
const STREAM = 4;
const RECORDING = 5;
const STORAGE = 6;
const MINUTE_MS = 60_000;
const RECENT_EVENT_IDS = 20_000;

export interface UsageBucket {
  tenant: string;
  /** Minutes since the epoch. */
  minute: number;
  values: Float64Array;
}

export function emptyValues(): Float64Array {
  return new Float64Array(USAGE_METRICS.length);
}

/**
 * The meter of one node. Counting is a map lookup and an addition (the last tenant's row is kept at
 * hand); amounts reach the journal at every answered API call, every counted event and every `tick`
 * (a second by default), and the database at `settle`, the owner's periodic flush. A process killed
 * with `kill -9` loses nothing journaled: its API calls are all there, and byte and time amounts
 * up to its last tick (open connections end at the last tick).
 */
export class UsageMeter implements UsageSink {
  /** Amounts journaled and not yet settled, per `minute|tenant`. */
  readonly buckets = new Map<string, UsageBucket>();
  /** Keys of buckets changed since they were last written to the database. */
  readonly dirty = new Set<string>();
  /** Amounts of `pendingMinute` not yet journaled, per tenant. */
  private readonly pending = new Map<string, Float64Array>();
  private pendingMinute = -1;
  private readonly sockets = new Map<string, { count: number; since: number }>();
  private readonly viewers: Map<string, { tenant: string; at: number }>;
  private readonly eventIds = new Set<string>();
  private readonly journal: MeterJournal;
  private floor = 0;
  private hotTenant = '';
  private hotRow: Float64Array | null = null;

  constructor(
    dir: string,
    private readonly now: () => number = Date.now,
  ) {
    const { journal, state } = MeterJournal.open(dir, (s) => this.restore(s));
    this.journal = journal;
    this.viewers = state.viewers;
    this.replayed = state;
  }

  /** What the journal held at start (its torn lines counted in `skipped`). */
  readonly replayed: JournalState;

  private restore(state: JournalState): string {
    for (const { minute, tenant, metric, amount } of state.amounts) {
      const index = USAGE_METRICS.indexOf(metric as UsageMetric);
      if (index < 0) continue;
      const bucket = this.bucket(this.buckets, tenant, minute);
      bucket.values[index] = (bucket.values[index] ?? 0) + amount;
      this.dirty.add(key(minute, tenant));
      this.floor = Math.max(this.floor, minute);
    }
    for (const id of state.eventIds.slice(-RECENT_EVENT_IDS)) this.eventIds.add(id);
    // `this.viewers` is not assigned yet while the constructor runs this.
    return this.snapshot(state.viewers);
  }

  /** The minute of now, never earlier than a minute already counted (a clock stepping back). */
  minuteNow(): number {
    const minute = Math.floor(this.now() / MINUTE_MS);
    if (minute > this.floor) this.floor = minute;
    return this.floor;
  }

  private row(tenant: string, minute: number): Float64Array {
    if (minute !== this.pendingMinute) {
      // A new minute: what the last one holds goes to the journal first (once a minute).
      this.journalPending();
      this.pendingMinute = minute;
    }
    if (tenant === this.hotTenant && this.hotRow) return this.hotRow;
    let row = this.pending.get(tenant);
    if (!row) {
      row = emptyValues();
      this.pending.set(tenant, row);
    }
    this.hotTenant = tenant;
    this.hotRow = row;
    return row;
  }

  private bucket(map: Map<string, UsageBucket>, tenant: string, minute: number): UsageBucket {
    const k = key(minute, tenant);
    let bucket = map.get(k);
    if (!bucket) {
      bucket = { tenant, minute, values: emptyValues() };
      map.set(k, bucket);
    }
    return bucket;
  }

  answered(tenantId: string, status: number, bytes: number): void {
    const row = this.row(tenantId, this.minuteNow());
    row[EGRESS] = (row[EGRESS] ?? 0) + bytes;
    if (status >= 500 || status === 429) return;
    row[API] = (row[API] ?? 0) + 1;
    // Journaled before the answer is written: an answer sent is never an API call lost.
    this.journalPending();
  }

  egress(tenantId: string, bytes: number): void {
    const row = this.row(tenantId, this.minuteNow());
    row[EGRESS] = (row[EGRESS] ?? 0) + bytes;
  }

  socketOpened(tenantId: string): void {
    const open = this.sockets.get(tenantId);
    if (!open) {
      this.sockets.set(tenantId, { count: 1, since: this.now() });
      return;
    }
    this.accrue(tenantId, open);
    open.count++;
  }

  socketClosed(tenantId: string): void {
    const open = this.sockets.get(tenantId);
    if (!open) return;
    this.accrue(tenantId, open);
    if (--open.count === 0) this.sockets.delete(tenantId);
  }

  /** Adds the open sockets' time since `since` to connection_ms, each minute its own share. */
  private accrue(tenantId: string, open: { count: number; since: number }): void {
    const now = this.now();
    let since = open.since;
    while (since < now) {
      const minute = Math.floor(since / MINUTE_MS);
      const end = Math.min(now, (minute + 1) * MINUTE_MS);
      const amount = (end - since) * open.count;
      if (minute >= this.pendingMinute) {
        const row = this.row(tenantId, minute);
        row[CONNECTION] = (row[CONNECTION] ?? 0) + amount;
      } else {
        this.addNow(tenantId, minute, CONNECTION, amount);
      }
      since = end;
    }
    open.since = Math.max(open.since, now);
  }

  /** Adds an amount of an earlier minute straight to the journal (an interval that crossed minutes). */
  private addNow(tenant: string, minute: number, index: number, amount: number): void {
    const bucket = this.bucket(this.buckets, tenant, minute);
    bucket.values[index] = (bucket.values[index] ?? 0) + amount;
    this.dirty.add(key(minute, tenant));
    this.journal.append(amountLine(minute, tenant, USAGE_METRICS[index] ?? '', amount));
  }

  /**
   * Counts a media event: stream, recording and viewer time, and recordings' bytes. An event already
   * counted (a redelivery, also after a restart) changes nothing. Journaled before it returns, so the
   * bus acknowledges only what is on file.
   */
  countEvent(event: VezaEvent): void {
    const id = encodeURIComponent(event.id);
    if (this.eventIds.has(id)) return;
    const tenant = event.tenantId;
    const minute = this.minuteNow();
    let lines = '';
    const add = (index: number, amount: number) => {
      if (amount <= 0) return;
      const bucket = this.bucket(this.buckets, tenant, minute);
      bucket.values[index] = (bucket.values[index] ?? 0) + amount;
      this.dirty.add(key(minute, tenant));
      lines += amountLine(minute, tenant, USAGE_METRICS[index] ?? '', amount, id);
    };
    switch (event.type) {
      case 'stream.ended':
        add(STREAM, event.payload.durationMs);
        break;
      case 'recording.ended':
        if (event.payload.status !== 'finished') break;
        if (event.payload.kind === 'recording') add(RECORDING, event.payload.durationMs);
        add(STORAGE, event.payload.bytes);
        break;
      case 'stream.viewer.joined': {
        const viewer = viewerKey(tenant, event.payload.roomId, event.payload.viewerId);
        const at = Date.parse(event.at);
        this.viewers.set(viewer, { tenant, at });
        lines += `J ${tenant} ${viewer} ${at} ${id}\n`;
        break;
      }
      case 'stream.viewer.left': {
        const viewer = viewerKey(tenant, event.payload.roomId, event.payload.viewerId);
        const joined = this.viewers.get(viewer);
        // The event says how long the viewer watched: counted whichever node saw the join.
        const watched = event.payload.watchedMs ?? (joined ? Math.max(0, Date.parse(event.at) - joined.at) : 0);
        add(PARTICIPANT, watched);
        if (joined) {
          this.viewers.delete(viewer);
          lines += `L ${viewer} ${id}\n`;
        }
        break;
      }
      default:
        return;
    }
    this.journalPending(lines || `I ${id}\n`);
    this.rememberEvent(id);
  }

  /** Whether this meter counted the event already (journaled; also after a restart). */
  counted(eventId: string): boolean {
    return this.eventIds.has(encodeURIComponent(eventId));
  }

  private rememberEvent(id: string): void {
    this.eventIds.add(id);
    if (this.eventIds.size > RECENT_EVENT_IDS) {
      const oldest = this.eventIds.values().next().value;
      if (oldest !== undefined) this.eventIds.delete(oldest);
    }
  }

  /** Accrues open connections' time to now and journals every pending amount (one write). */
  tick(): void {
    for (const [tenant, open] of this.sockets) this.accrue(tenant, open);
    this.journalPending();
  }

  private journalPending(extra = ''): void {
    let lines = '';
    const minute = this.pendingMinute;
    for (const [tenant, values] of this.pending) {
      const bucket = this.bucket(this.buckets, tenant, minute);
      values.forEach((amount, index) => {
        if (amount === 0) return;
        lines += amountLine(minute, tenant, USAGE_METRICS[index] ?? '', amount);
        bucket.values[index] = (bucket.values[index] ?? 0) + amount;
      });
      this.dirty.add(key(minute, tenant));
    }
    this.pending.clear();
    this.hotRow = null;
    this.journal.append(lines + extra);
  }

  /** Forgets settled buckets (in the database, their event out) and starts a journal segment without them. */
  settled(keys: Iterable<string>): void {
    let any = false;
    for (const k of keys) any = this.buckets.delete(k) || any;
    if (any) this.journal.rotate(this.snapshot(this.viewers));
  }

  /** The journal lines that stand for everything not yet settled. */
  private snapshot(viewers: Map<string, { tenant: string; at: number }>): string {
    let lines = '';
    for (const bucket of this.buckets.values()) {
      bucket.values.forEach((amount, index) => {
        if (amount !== 0) lines += amountLine(bucket.minute, bucket.tenant, USAGE_METRICS[index] ?? '', amount);
      });
    }
    for (const [viewer, { tenant, at }] of viewers) lines += `J ${tenant} ${viewer} ${at} -\n`;
    for (const id of this.eventIds) lines += `I ${id}\n`;
    return lines;
  }

  close(): void {
    this.tick();
    this.journal.close();
  }
}

export function key(minute: number, tenant: string): string {
  return `${minute}|${tenant}`;
}

function viewerKey(tenant: string, roomId: string, viewerId: string): string {
  return `${tenant}/${encodeURIComponent(roomId)}/${encodeURIComponent(viewerId)}`;
}
