// Listening, engagement and commerce events into the insights rollups (migration 0007). Events are
// gathered for a moment (or up to a batch size) and applied in one transaction per tenant: each
// rollup row gets one upsert per batch, however many events touched it. An event's promise settles
// when its batch is stored, so the bus acknowledges it only then (at-least-once, as everywhere).
import { sql } from 'kysely';
import type { VezaEvent } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';
import { BUCKETS, CONTINUATION_MS, bucketOf, dayNumber, dayString, describeListen, segmentOf, type Segment } from './listening.js';

/** Listeners whose last segment per track is remembered, for seeks and replays. */
const REMEMBERED_SEGMENTS = 200_000;

type Trx = Parameters<Parameters<Storage['withTenant']>[1]>[0];
/** A rollup's columns after tenant_id, with their PostgreSQL types, in insert order. */
type Columns = readonly (readonly [string, string])[];
const HOURS: Columns = [['track_id', 'text'], ['hour', 'timestamptz'], ...['plays', 'completes', 'skips', 'listen_ms', 'likes', 'shares', 'purchases'].map((c) => [c, 'bigint'] as const)];
const LISTENERS: Columns = [['track_id', 'text'], ['day', 'date'], ['user_id', 'text'], ['plays', 'bigint']];
const USER_TRACKS: Columns = [['user_id', 'text'], ['track_id', 'text'], ['segment', 'text'], ...['first_play_at', 'first_like_at', 'first_share_at', 'first_purchase_at'].map((c) => [c, 'timestamptz'] as const)];
const USER_DAYS: Columns = [['user_id', 'text'], ['day', 'date'], ...['plays', 'listen_ms', 'likes', 'shares', 'purchases', 'skips'].map((c) => [c, 'bigint'] as const)];
const REVENUE: Columns = [['track_id', 'text'], ['day', 'date'], ['currency', 'text'], ['purchases', 'bigint'], ['amount_minor', 'bigint']];

const asParameter = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/**
 * One `INSERT … SELECT FROM unnest(…) ON CONFLICT` per rollup and batch: a bind parameter per
 * column (an array of all the rows' values) instead of one per value, so the statement stays the
 * same size however many rows the batch has. Table and column names are the constants above.
 */
async function upsert<T extends object>(trx: Trx, table: string, tenantId: string, rows: T[], columns: Columns, conflict: string[], update: string): Promise<void> {
  if (rows.length === 0) return;
  const arrays = columns.map(([name, type]) => sql`${rows.map((r) => asParameter((r as Record<string, unknown>)[name]))}::${sql.raw(type)}[]`);
  const names = columns.map(([name]) => name).join(', ');
  await sql`INSERT INTO ${sql.raw(table)} (tenant_id, ${sql.raw(names)})
            SELECT ${tenantId}, * FROM unnest(${sql.join(arrays)})
            ON CONFLICT (tenant_id, ${sql.raw(conflict.join(', '))}) DO UPDATE SET ${sql.raw(update)}`.execute(trx);
}

/**
 * The heat-map rows: each row's 50 counts per kind travel as one array literal in a text[] (a
 * two-dimensional parameter could not be unnested row by row, and slicing flat arrays per row
 * measured twice as slow as this).
 */
async function upsertPositions(trx: Trx, tenantId: string, rows: Batch['positions'] extends Map<string, infer R> ? R[] : never): Promise<void> {
  if (rows.length === 0) return;
  const literals = (key: 'listens' | 'drops' | 'seeks' | 'replays') => rows.map((r) => `{${r[key].join(',')}}`);
  await sql`INSERT INTO ins_track_positions (tenant_id, track_id, day, segment, listens, drops, seeks, replays)
            SELECT ${tenantId}, track, day, segment, l::integer[], d::integer[], s::integer[], r::integer[]
              FROM unnest(${rows.map((r) => r.track_id)}::text[], ${rows.map((r) => r.day)}::date[], ${rows.map((r) => r.segment)}::text[],
                          ${literals('listens')}::text[], ${literals('drops')}::text[], ${literals('seeks')}::text[], ${literals('replays')}::text[])
                   AS p(track, day, segment, l, d, s, r)
            ON CONFLICT (tenant_id, track_id, day, segment) DO UPDATE SET
              listens = veza_add_counts(ins_track_positions.listens, excluded.listens),
              drops = veza_add_counts(ins_track_positions.drops, excluded.drops),
              seeks = veza_add_counts(ins_track_positions.seeks, excluded.seeks),
              replays = veza_add_counts(ins_track_positions.replays, excluded.replays)`.execute(trx);
}

/**
 * A bounded memory of recent keys: two generations, the older dropped whole when the newer fills.
 * (Evicting a Map's oldest key one at a time is quadratic in V8: deleted slots at the front of its
 * table are skipped again on every `keys().next()`; at 200k keys that cost 10 s per 50k events.)
 */
class RecentMap<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    return this.current.get(key) ?? this.previous.get(key);
  }
  set(key: string, value: V): void {
    this.current.set(key, value);
    this.previous.delete(key);
    if (this.current.size >= this.capacity / 2) {
      this.previous = this.current;
      this.current = new Map();
    }
  }
}

export const INSIGHT_TYPES = ['track.played', 'track.liked', 'track.shared', 'track.purchased'] as const;

interface Counters {
  plays: number;
  completes: number;
  skips: number;
  listen_ms: number;
  likes: number;
  shares: number;
  purchases: number;
}
const zero = (): Counters => ({ plays: 0, completes: 0, skips: 0, listen_ms: 0, likes: 0, shares: 0, purchases: 0 });

interface Batch {
  hours: Map<string, { track_id: string; hour: Date } & Counters>;
  listeners: Map<string, { track_id: string; day: string; user_id: string; plays: number }>;
  positions: Map<string, { track_id: string; day: string; segment: Segment; listens: number[]; drops: number[]; seeks: number[]; replays: number[] }>;
  userTracks: Map<string, { user_id: string; track_id: string; segment: Segment; first_play_at: Date | null; first_like_at: Date | null; first_share_at: Date | null; first_purchase_at: Date | null }>;
  userDays: Map<string, { user_id: string; day: string; plays: number; listen_ms: number; likes: number; shares: number; purchases: number; skips: number }>;
  revenue: Map<string, { track_id: string; day: string; currency: string; purchases: number; amount_minor: number }>;
}

export interface WriterOptions {
  /** How long events wait for company before their batch is written. */
  flushMs?: number;
  /** A batch this large is written at once. */
  maxBatch?: number;
  /** Called after a batch is stored, with its events (the live dashboards). */
  onStored?: (events: VezaEvent[]) => void;
}

interface Pending {
  events: VezaEvent[];
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

const zeros = () => Array<number>(BUCKETS).fill(0);
const earlier = (a: Date | null, b: Date | null) => (a === null ? b : b === null ? a : a < b ? a : b);

export class InsightsWriter {
  private pending: Pending = { events: [], waiters: [] };
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  /** tenant, user, track → the listener's last segment end and when it was reported. */
  private readonly lastSegment = new RecentMap<{ endMs: number; at: number }>(REMEMBERED_SEGMENTS);

  constructor(
    private readonly storage: Storage,
    private readonly options: WriterOptions = {},
  ) {}

  /** Queues an event; resolves once it is stored (rejects if its batch could not be). */
  add(event: VezaEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.events.push(event);
      this.pending.waiters.push({ resolve, reject });
      if (this.pending.events.length >= (this.options.maxBatch ?? 5000)) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 50);
    });
  }

  /** Writes what is queued now; resolves when it and everything before it is stored. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = { events: [], waiters: [] };
    if (batch.events.length === 0) return this.chain;
    this.chain = this.chain.then(async () => {
      try {
        await this.write(batch.events);
        batch.waiters.forEach((w) => w.resolve());
        this.options.onStored?.(batch.events);
      } catch (error) {
        batch.waiters.forEach((w) => w.reject(error));
      }
    });
    return this.chain;
  }

  /** Applies events straight away (bulk loads, benchmarks): the same path as `add`, one batch. */
  async write(events: VezaEvent[]): Promise<void> {
    const byTenant = new Map<string, VezaEvent[]>();
    for (const e of events) (byTenant.get(e.tenantId) ?? byTenant.set(e.tenantId, []).get(e.tenantId)!).push(e);
    for (const [tenantId, list] of byTenant) await this.writeTenant(tenantId, list);
  }

  private async writeTenant(tenantId: string, events: VezaEvent[]): Promise<void> {
    const sorted = [...events].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    await this.storage.withTenant(tenantId, async (trx) => {
      const profiles = await this.profiles(trx, sorted);
      const batch = this.aggregate(tenantId, sorted, profiles);
      const sum = (table: string, columns: string[]) => columns.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(', ');
      await upsert(trx, 'ins_track_hours', tenantId, [...batch.hours.values()], HOURS, ['track_id', 'hour'], sum('ins_track_hours', HOURS.slice(2).map(([c]) => c)));
      await upsert(trx, 'ins_track_listeners', tenantId, [...batch.listeners.values()], LISTENERS, ['track_id', 'day', 'user_id'], sum('ins_track_listeners', ['plays']));
      await upsertPositions(trx, tenantId, [...batch.positions.values()]);
      await upsert(
        trx,
        'ins_user_tracks',
        tenantId,
        [...batch.userTracks.values()],
        USER_TRACKS,
        ['user_id', 'track_id'],
        USER_TRACKS.slice(3)
          .map(([c]) => `${c} = least(ins_user_tracks.${c}, excluded.${c})`)
          .join(', '),
      );
      await upsert(trx, 'ins_user_days', tenantId, [...batch.userDays.values()], USER_DAYS, ['user_id', 'day'], sum('ins_user_days', USER_DAYS.slice(2).map(([c]) => c)));
      await upsert(trx, 'ins_revenue_days', tenantId, [...batch.revenue.values()], REVENUE, ['track_id', 'day', 'currency'], sum('ins_revenue_days', ['purchases', 'amount_minor']));
    });
  }

  /**
   * What is stored about the batch's listeners before it: their first active day and plays per day
   * over the 28 days before the batch's earliest day (segments are judged on that).
   */
  private async profiles(
    trx: Trx,
    events: VezaEvent[],
  ): Promise<Map<string, { firstDay: number | null; plays: Map<number, number> }>> {
    const users = [...new Set(events.map((e) => e.actor).filter((a): a is string => a !== undefined))];
    const profiles = new Map(users.map((u) => [u, { firstDay: null as number | null, plays: new Map<number, number>() }]));
    if (users.length === 0) return profiles;
    const first = dayNumber(new Date(events[0]!.at));
    const last = dayNumber(new Date(events.at(-1)!.at));
    // Days as numbers computed in SQL: node-postgres would turn a `date` into local midnight. Both
    // queries probe the primary key per listener (a GROUP BY or `IN` list would read their history).
    const firsts = await sql<{ user_id: string; first: number | null }>`
      SELECT u AS user_id, (SELECT d.day - date '1970-01-01' FROM ins_user_days d WHERE d.user_id = u ORDER BY d.day LIMIT 1) AS first
        FROM unnest(${users}::text[]) AS u`.execute(trx);
    for (const row of firsts.rows) if (row.first !== null) profiles.get(row.user_id)!.firstDay = Number(row.first);
    const recent = await sql<{ user_id: string; day: number; plays: number }>`
      SELECT d.user_id, d.day - date '1970-01-01' AS day, d.plays
        FROM unnest(${users}::text[]) AS u
        JOIN ins_user_days d ON d.user_id = u AND d.day >= ${dayString(first - 28)}::date AND d.day <= ${dayString(last)}::date`.execute(trx);
    for (const row of recent.rows) profiles.get(row.user_id)!.plays.set(Number(row.day), row.plays);
    return profiles;
  }

  private aggregate(tenantId: string, events: VezaEvent[], profiles: Map<string, { firstDay: number | null; plays: Map<number, number> }>): Batch {
    const batch: Batch = { hours: new Map(), listeners: new Map(), positions: new Map(), userTracks: new Map(), userDays: new Map(), revenue: new Map() };
    const segmentCache = new Map<string, Segment>();
    const segmentFor = (user: string, day: number): Segment => {
      const key = `${user}\u0000${day}`;
      let segment = segmentCache.get(key);
      if (!segment) {
        const profile = profiles.get(user)!;
        let plays = 0;
        for (let d = day - 28; d < day; d++) plays += profile.plays.get(d) ?? 0;
        segment = segmentOf(plays, profile.firstDay, day);
        segmentCache.set(key, segment);
      }
      return segment;
    };
    for (const event of events) {
      if (event.type !== 'track.played' && event.type !== 'track.liked' && event.type !== 'track.shared' && event.type !== 'track.purchased') continue;
      const user = event.actor;
      if (!user) continue;
      const at = new Date(event.at);
      const day = dayNumber(at);
      const dayText = dayString(day);
      const track = event.payload.trackId;
      const hour = new Date(Math.floor(at.getTime() / 3_600_000) * 3_600_000);
      const hourKey = `${track}\u0000${hour.getTime()}`;
      const hourRow = batch.hours.get(hourKey) ?? batch.hours.set(hourKey, { track_id: track, hour, ...zero() }).get(hourKey)!;
      const dayKey = `${user}\u0000${dayText}`;
      const userDay = batch.userDays.get(dayKey) ?? batch.userDays.set(dayKey, { user_id: user, day: dayText, plays: 0, listen_ms: 0, likes: 0, shares: 0, purchases: 0, skips: 0 }).get(dayKey)!;
      const segment = segmentFor(user, day);
      const utKey = `${user}\u0000${track}`;
      const userTrack =
        batch.userTracks.get(utKey) ??
        batch.userTracks.set(utKey, { user_id: user, track_id: track, segment, first_play_at: null, first_like_at: null, first_share_at: null, first_purchase_at: null }).get(utKey)!;

      if (event.type === 'track.played') {
        const listen = describeListen(event.payload);
        const memoryKey = `${tenantId}\u0000${utKey}`;
        const previous = this.lastSegment.get(memoryKey);
        const startMs = event.payload.startMs ?? 0;
        const continues = previous !== undefined && startMs > 0 && at.getTime() - previous.at < CONTINUATION_MS;
        if (!continues) {
          hourRow.plays++;
          userDay.plays++;
          const lKey = `${track}\u0000${dayText}\u0000${user}`;
          const listener = batch.listeners.get(lKey) ?? batch.listeners.set(lKey, { track_id: track, day: dayText, user_id: user, plays: 0 }).get(lKey)!;
          listener.plays++;
          userTrack.first_play_at = earlier(userTrack.first_play_at, at);
        }
        hourRow.listen_ms += listen.heardMs;
        userDay.listen_ms += listen.heardMs;
        if (listen.complete) hourRow.completes++;
        if (listen.skip && !continues) {
          hourRow.skips++;
          userDay.skips++;
        }
        const key = `${track}\u0000${dayText}\u0000${segment}`;
        const counts =
          batch.positions.get(key) ??
          batch.positions.set(key, { track_id: track, day: dayText, segment, listens: zeros(), drops: zeros(), seeks: zeros(), replays: zeros() }).get(key)!;
        if (listen.covered) for (let b = listen.covered[0]; b <= listen.covered[1]; b++) counts.listens[b]!++;
        if (listen.dropBucket !== null) counts.drops[listen.dropBucket]!++;
        if (listen.seekBucket !== null && continues) counts.seeks[listen.seekBucket]!++;
        // Jumping back over what this listener just heard replays it.
        const { endMs, durationMs } = event.payload;
        if (continues && previous && endMs !== undefined && durationMs && startMs < previous.endMs) {
          const replayEnd = Math.min(endMs, previous.endMs);
          if (replayEnd > startMs) for (let b = bucketOf(startMs, durationMs); b <= bucketOf(replayEnd - 1, durationMs); b++) counts.replays[b]!++;
        }
        if (endMs !== undefined) {
          this.lastSegment.set(memoryKey, { endMs, at: at.getTime() });
        }
      } else if (event.type === 'track.liked') {
        hourRow.likes++;
        userDay.likes++;
        userTrack.first_like_at = earlier(userTrack.first_like_at, at);
      } else if (event.type === 'track.shared') {
        hourRow.shares++;
        userDay.shares++;
        userTrack.first_share_at = earlier(userTrack.first_share_at, at);
      } else {
        hourRow.purchases++;
        userDay.purchases++;
        userTrack.first_purchase_at = earlier(userTrack.first_purchase_at, at);
        const rKey = `${track}\u0000${dayText}\u0000${event.payload.currency}`;
        const revenue =
          batch.revenue.get(rKey) ?? batch.revenue.set(rKey, { track_id: track, day: dayText, currency: event.payload.currency, purchases: 0, amount_minor: 0 }).get(rKey)!;
        revenue.purchases++;
        revenue.amount_minor += event.payload.amount;
      }
    }
    return batch;
  }
}
