// The questions creators ask, answered from the rollups. Every query starts from the creator's
// tracks (rec_items by artist, indexed) and reads ranges of primary keys that begin with the track:
// the cost follows the creator's own data and the period, never the size of the platform.
import { sql } from 'kysely';
import type { Storage } from '../storage/database.js';
import { authorshipTotals, type AuthorshipTotals } from './authorship.js';
import type { UserActivity } from './churn-features.js';
import { BUCKETS, SEGMENTS, type Segment } from './listening.js';

export interface Period {
  from: Date;
  to: Date;
}

export interface TrackTotals {
  trackId: string;
  title: string | null;
  plays: number;
  completes: number;
  skips: number;
  listenMs: number;
  likes: number;
  shares: number;
  purchases: number;
}

export interface Listening {
  plays: number;
  listeners: number;
  listenHours: number;
  completionRate: number | null;
  skipRate: number | null;
  likes: number;
  shares: number;
  purchases: number;
  revenue: { currency: string; amountMinor: number; purchases: number }[];
  /** Plays by hour of day (UTC), 0..23, and by weekday, Monday first. */
  byHourOfDay: number[];
  byWeekday: number[];
  daily: { day: string; plays: number; listeners: number }[];
  tracks: TrackTotals[];
}

export interface HeatmapBucket {
  bucket: number;
  /** Start of the bucket as a fraction of the track. */
  position: number;
  listens: number;
  /** listens / listens of the first bucket (1 at the start). */
  retention: number | null;
  drops: number;
  seeks: number;
  replays: number;
}

export interface Heatmap {
  trackId: string;
  segment: Segment | 'all';
  buckets: HeatmapBucket[];
  /** Retention per segment, each against its own first bucket. */
  bySegment: Record<string, (number | null)[]>;
  /** The mean retention curve of the creator's other tracks in the period (null: none played). */
  otherTracks: (number | null)[] | null;
  keyMoments: { biggestDrop: number | null; mostReplayed: number | null; mostSeekedTo: number | null };
}

export const FUNNEL_STEPS = ['stream', 'like', 'share', 'purchase'] as const;

export interface FunnelStep {
  step: (typeof FUNNEL_STEPS)[number];
  users: number;
  /** users / users of the previous step (null for the first, or when the previous is 0). */
  conversion: number | null;
}

export interface Cohort {
  /** Monday of the cohort's week. */
  week: string;
  users: number;
  /** Share of the cohort active in week k after its first (index 0 = the first week: 1); null for a week not begun yet. */
  retention: (number | null)[];
}

const num = (v: unknown) => Number(v ?? 0);

export class InsightsQueries {
  constructor(private readonly storage: Storage) {}

  /** The creator's tracks (catalogue items with this artist), with titles. */
  async tracksOf(tenantId: string, creatorId: string): Promise<{ trackId: string; title: string | null }[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('rec_items').select(['item_id', 'title']).where('artist_id', '=', creatorId).orderBy('item_id').execute(),
    );
    return rows.map((r) => ({ trackId: r.item_id, title: r.title }));
  }

  async trackCreator(tenantId: string, trackId: string): Promise<string | null> {
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('rec_items').select('artist_id').where('item_id', '=', trackId).executeTakeFirst());
    return row?.artist_id ?? null;
  }

  async listening(tenantId: string, trackIds: string[], period: Period): Promise<Omit<Listening, 'tracks'> & { tracks: Omit<TrackTotals, 'title'>[] }> {
    const empty = { plays: 0, listeners: 0, listenHours: 0, completionRate: null, skipRate: null, likes: 0, shares: 0, purchases: 0, revenue: [], byHourOfDay: Array<number>(24).fill(0), byWeekday: Array<number>(7).fill(0), daily: [], tracks: [] };
    if (trackIds.length === 0) return empty;
    const fromDay = period.from.toISOString().slice(0, 10);
    const toDay = period.to.toISOString().slice(0, 10);
    return this.storage.withTenant(tenantId, async (trx) => {
      const hours = await trx
        .selectFrom('ins_track_hours')
        .select(['track_id', 'hour', 'plays', 'completes', 'skips', 'listen_ms', 'likes', 'shares', 'purchases'])
        .where('track_id', 'in', trackIds)
        .where('hour', '>=', period.from)
        .where('hour', '<', period.to)
        .execute();
      const listeners = await trx
        .selectFrom('ins_track_listeners')
        .select([sql<string>`to_char(day, 'YYYY-MM-DD')`.as('day'), (eb) => eb.fn.count<string>('user_id').distinct().as('listeners')])
        .where('track_id', 'in', trackIds)
        .where('day', '>=', fromDay)
        .where('day', '<', toDay)
        .groupBy('day')
        .execute();
      const distinct = await trx
        .selectFrom('ins_track_listeners')
        .select((eb) => eb.fn.count<string>('user_id').distinct().as('n'))
        .where('track_id', 'in', trackIds)
        .where('day', '>=', fromDay)
        .where('day', '<', toDay)
        .executeTakeFirst();
      const revenue = await trx
        .selectFrom('ins_revenue_days')
        .select(['currency', (eb) => eb.fn.sum<string>('amount_minor').as('amount'), (eb) => eb.fn.sum<string>('purchases').as('purchases')])
        .where('track_id', 'in', trackIds)
        .where('day', '>=', fromDay)
        .where('day', '<', toDay)
        .groupBy('currency')
        .orderBy('currency')
        .execute();
      const byTrack = new Map<string, Omit<TrackTotals, 'title'>>();
      const byHourOfDay = Array<number>(24).fill(0);
      const byWeekday = Array<number>(7).fill(0);
      const dailyPlays = new Map<string, number>();
      for (const h of hours) {
        const t = byTrack.get(h.track_id) ?? byTrack.set(h.track_id, { trackId: h.track_id, plays: 0, completes: 0, skips: 0, listenMs: 0, likes: 0, shares: 0, purchases: 0 }).get(h.track_id)!;
        t.plays += h.plays;
        t.completes += h.completes;
        t.skips += h.skips;
        t.listenMs += num(h.listen_ms);
        t.likes += h.likes;
        t.shares += h.shares;
        t.purchases += h.purchases;
        const at = new Date(h.hour);
        byHourOfDay[at.getUTCHours()]! += h.plays;
        byWeekday[(at.getUTCDay() + 6) % 7]! += h.plays;
        const day = at.toISOString().slice(0, 10);
        dailyPlays.set(day, (dailyPlays.get(day) ?? 0) + h.plays);
      }
      // The period's totals are the sum of the tracks'.
      const sum = (key: 'plays' | 'completes' | 'skips' | 'listenMs' | 'likes' | 'shares' | 'purchases') => [...byTrack.values()].reduce((s, t) => s + t[key], 0);
      const [plays, completes, skips, listenMs] = [sum('plays'), sum('completes'), sum('skips'), sum('listenMs')];
      const listenersByDay = new Map(listeners.map((l) => [l.day, num(l.listeners)]));
      const days = [...new Set([...dailyPlays.keys(), ...listenersByDay.keys()])].sort();
      return {
        plays,
        listeners: num(distinct?.n),
        listenHours: Math.round((listenMs / 3_600_000) * 100) / 100,
        completionRate: plays ? completes / plays : null,
        skipRate: plays ? skips / plays : null,
        likes: sum('likes'),
        shares: sum('shares'),
        purchases: sum('purchases'),
        revenue: revenue.map((r) => ({ currency: r.currency, amountMinor: num(r.amount), purchases: num(r.purchases) })),
        byHourOfDay,
        byWeekday,
        daily: days.map((day) => ({ day, plays: dailyPlays.get(day) ?? 0, listeners: listenersByDay.get(day) ?? 0 })),
        tracks: [...byTrack.values()].sort((a, b) => b.plays - a.plays || (a.trackId < b.trackId ? -1 : 1)),
      };
    });
  }

  /** Listening along one track's timeline, by segment, against the creator's other tracks. */
  async heatmap(tenantId: string, trackId: string, otherTrackIds: string[], period: Period, segment: Segment | 'all'): Promise<Heatmap> {
    const fromDay = period.from.toISOString().slice(0, 10);
    const toDay = period.to.toISOString().slice(0, 10);
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('ins_track_positions')
        .select(['track_id', 'segment', 'listens', 'drops', 'seeks', 'replays'])
        .where('track_id', 'in', [trackId, ...otherTrackIds])
        .where('day', '>=', fromDay)
        .where('day', '<', toDay)
        .execute(),
    );
    const curve = (filter: (r: (typeof rows)[number]) => boolean) => {
      const listens = Array<number>(BUCKETS).fill(0);
      const drops = Array<number>(BUCKETS).fill(0);
      const seeks = Array<number>(BUCKETS).fill(0);
      const replays = Array<number>(BUCKETS).fill(0);
      for (const r of rows) {
        if (!filter(r)) continue;
        for (let b = 0; b < BUCKETS; b++) {
          listens[b]! += r.listens[b] ?? 0;
          drops[b]! += r.drops[b] ?? 0;
          seeks[b]! += r.seeks[b] ?? 0;
          replays[b]! += r.replays[b] ?? 0;
        }
      }
      const retention = listens.map((l) => (listens[0] ? l / listens[0] : null));
      return { listens, drops, seeks, replays, retention };
    };
    const mine = curve((r) => r.track_id === trackId && (segment === 'all' || r.segment === segment));
    const bySegment: Record<string, (number | null)[]> = {};
    for (const s of SEGMENTS) {
      const c = curve((r) => r.track_id === trackId && r.segment === s);
      if (c.listens[0]! > 0) bySegment[s] = c.retention;
    }
    const others = otherTrackIds.map((id) => curve((r) => r.track_id === id && (segment === 'all' || r.segment === segment)).retention).filter((c) => c[0] !== null);
    const otherTracks = others.length ? Array.from({ length: BUCKETS }, (_, b) => others.reduce((s, c) => s + (c[b] ?? 0), 0) / others.length) : null;
    const argmax = (values: number[]) => (values.some((v) => v > 0) ? values.indexOf(Math.max(...values)) : null);
    return {
      trackId,
      segment,
      buckets: mine.listens.map((listens, bucket) => ({
        bucket,
        position: bucket / BUCKETS,
        listens,
        retention: mine.retention[bucket]!,
        drops: mine.drops[bucket]!,
        seeks: mine.seeks[bucket]!,
        replays: mine.replays[bucket]!,
      })),
      bySegment,
      otherTracks,
      keyMoments: { biggestDrop: argmax(mine.drops), mostReplayed: argmax(mine.replays), mostSeekedTo: argmax(mine.seeks) },
    };
  }

  /**
   * stream → like → share → purchase over the listeners whose first play of one of the tracks fell
   * in the period: a step counts when it happened in the period and no earlier than the step before.
   */
  async funnel(tenantId: string, trackIds: string[], period: Period): Promise<{ all: FunnelStep[]; bySegment: Record<string, FunnelStep[]> }> {
    const rows = trackIds.length
      ? await this.storage.withTenant(tenantId, (trx) =>
          trx
            .selectFrom('ins_user_tracks')
            .select(['user_id', 'segment', 'first_play_at', 'first_like_at', 'first_share_at', 'first_purchase_at'])
            .where('track_id', 'in', trackIds)
            .where('first_play_at', '>=', period.from)
            .where('first_play_at', '<', period.to)
            .execute(),
        )
      : [];
    // A listener counts once per step for the creator: the furthest step reached on any track.
    const reached = new Map<string, { segment: string; depth: number }>();
    for (const r of rows) {
      const times = [r.first_play_at, r.first_like_at, r.first_share_at, r.first_purchase_at];
      let depth = 1;
      while (depth < 4) {
        const t = times[depth];
        if (!t || t >= period.to || t < times[depth - 1]!) break;
        depth++;
      }
      const prior = reached.get(r.user_id);
      if (!prior || depth > prior.depth) reached.set(r.user_id, { segment: prior?.segment ?? r.segment, depth });
    }
    const steps = (entries: { depth: number }[]): FunnelStep[] => {
      const counts = FUNNEL_STEPS.map((_, i) => entries.filter((e) => e.depth > i).length);
      return FUNNEL_STEPS.map((step, i) => ({ step, users: counts[i]!, conversion: i === 0 || counts[i - 1] === 0 ? null : counts[i]! / counts[i - 1]! }));
    };
    const all = [...reached.values()];
    const bySegment: Record<string, FunnelStep[]> = {};
    for (const s of SEGMENTS) {
      const some = all.filter((e) => e.segment === s);
      if (some.length) bySegment[s] = steps(some);
    }
    return { all: steps(all), bySegment };
  }

  /**
   * Weekly cohorts: `listeners` by the week of their first play of the creator, or `followers` by
   * the week they followed; retention is the share who played the creator k weeks later.
   */
  async cohorts(tenantId: string, creatorId: string, trackIds: string[], kind: 'listeners' | 'followers', period: Period, weeks: number, now = Date.now()): Promise<Cohort[]> {
    if (trackIds.length === 0) return [];
    const until = new Date(period.to.getTime() + weeks * 7 * 86_400_000).toISOString().slice(0, 10);
    const result = await this.storage.withTenant(tenantId, (trx) => {
      const starts =
        kind === 'listeners'
          ? sql`SELECT user_id, min(day) AS first FROM ins_track_listeners WHERE track_id IN (${sql.join(trackIds)}) GROUP BY user_id`
          : sql`SELECT user_id, (at AT TIME ZONE 'UTC')::date AS first FROM rec_follows WHERE artist_id = ${creatorId}`;
      return sql<{ week: string; k: number; users: string }>`
        WITH starts AS (${starts}),
        cohort AS (
          SELECT user_id, date_trunc('week', first)::date AS week FROM starts
           WHERE first >= ${period.from.toISOString().slice(0, 10)}::date AND first < ${period.to.toISOString().slice(0, 10)}::date
        ),
        active AS (
          SELECT DISTINCT user_id, date_trunc('week', day)::date AS week FROM ins_track_listeners
           WHERE track_id IN (${sql.join(trackIds)}) AND day >= ${period.from.toISOString().slice(0, 10)}::date AND day < ${until}::date
        )
        SELECT to_char(c.week, 'YYYY-MM-DD') AS week, -1 AS k, count(*) AS users FROM cohort c GROUP BY c.week
        UNION ALL
        SELECT to_char(c.week, 'YYYY-MM-DD'), ((a.week - c.week) / 7)::int, count(*)
          FROM cohort c JOIN active a ON a.user_id = c.user_id AND a.week >= c.week AND a.week < c.week + ${weeks * 7}::int
         GROUP BY c.week, a.week
        ORDER BY 1, 2`.execute(trx);
    });
    const cohorts = new Map<string, Cohort>();
    for (const row of result.rows) {
      const cohort = cohorts.get(row.week) ?? cohorts.set(row.week, { week: row.week, users: 0, retention: Array<number>(weeks).fill(0) }).get(row.week)!;
      if (row.k === -1) cohort.users = num(row.users);
      else cohort.retention[row.k] = num(row.users);
    }
    // A week that has not begun has no retention yet, which is not the same as nobody coming back.
    const begun = (week: string, k: number) => Date.parse(`${week}T00:00:00Z`) + k * 7 * 86_400_000 <= now;
    return [...cohorts.values()].map((c) => ({ ...c, retention: c.retention.map((n, k) => (!begun(c.week, k) ? null : c.users ? (n ?? 0) / c.users : 0)) }));
  }

  /**
   * The daily activity (on the whole platform, from `sinceDay`) of everyone who played one of the
   * tracks since then: the churn model's input for a creator's audience.
   */
  async audienceActivity(tenantId: string, trackIds: string[], sinceDay: number): Promise<UserActivity[]> {
    if (trackIds.length === 0) return [];
    const since = new Date(sinceDay * 86_400_000).toISOString().slice(0, 10);
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('ins_user_days')
        .select(['user_id', sql<number>`(day - date '1970-01-01')`.as('day'), 'plays', 'listen_ms', 'likes', 'shares', 'purchases', 'skips'])
        .where('day', '>=', since)
        .where('user_id', 'in', (eb) => eb.selectFrom('ins_track_listeners').select('user_id').distinct().where('track_id', 'in', trackIds).where('day', '>=', since))
        .execute(),
    );
    const users = new Map<string, UserActivity>();
    for (const r of rows) {
      const user = users.get(r.user_id) ?? users.set(r.user_id, { userId: r.user_id, days: new Map() }).get(r.user_id)!;
      user.days.set(Number(r.day), { plays: r.plays, listenMs: num(r.listen_ms), likes: r.likes, shares: r.shares, purchases: r.purchases, skips: r.skips });
    }
    return [...users.values()];
  }

  /** Co-editing by the creator in the period: sessions and distinct collaborators. */
  async collaboration(tenantId: string, creatorId: string, period: Period): Promise<{ sessions: number; collaborators: number }> {
    const row = await this.storage.withTenant(tenantId, (trx) =>
      sql<{ sessions: string; collaborators: string }>`
        SELECT count(DISTINCT mine.session_id) AS sessions, count(DISTINCT theirs.user_id) FILTER (WHERE theirs.user_id <> ${creatorId}) AS collaborators
          FROM rec_coedits mine
          LEFT JOIN rec_coedits theirs ON theirs.tenant_id = mine.tenant_id AND theirs.session_id = mine.session_id
         WHERE mine.user_id = ${creatorId} AND mine.last_at >= ${period.from} AND mine.last_at < ${period.to}`.execute(trx),
    );
    return { sessions: num(row.rows[0]?.sessions), collaborators: num(row.rows[0]?.collaborators) };
  }

  /** Authorship of the creator's sessions closed in the period (see authorship.ts). */
  async authorship(tenantId: string, creatorId: string, period: Period): Promise<AuthorshipTotals> {
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('ins_session_authorship')
        .select(['session_id', 'user_id', 'notes', 'tracks'])
        .where('session_id', 'in', (eb) =>
          eb.selectFrom('ins_session_authorship').select('session_id').where('user_id', '=', creatorId).where('closed_at', '>=', period.from).where('closed_at', '<', period.to),
        )
        .execute(),
    );
    return authorshipTotals(creatorId, rows);
  }
}
