// A generated listening history whose right answers are computed here independently, by plain
// filtering and counting over the events (no rollups, no SQL): the tests compare the insights API
// with these.
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { seededRandom } from '../../src/shared/random.js';

export const START = Date.UTC(2026, 8, 7); // Monday 2026-09-07
export const DAYS = 42;
export const DURATION_MS = 200_000;
export const CREATORS = { nova: ['nova-1', 'nova-2', 'nova-3'], orbit: ['orbit-1', 'orbit-2'] } as const;

export function catalogRows(): object[] {
  return Object.entries(CREATORS).flatMap(([artistId, tracks]) => tracks.map((itemId) => ({ type: 'item', itemId, kind: 'track', artistId, title: `${itemId} title`, tags: [] })));
}

/**
 * 300 listeners, each starting on a random day; active days thin out over time. A play starts at 0
 * and ends somewhere (a third of plays are complete); likes, shares and purchases follow a play of
 * the same track a few minutes later, in funnel order or, for some, out of order.
 */
export function generate(seed = 3): VezaEvent[] {
  const random = seededRandom(seed);
  const events: VezaEvent[] = [];
  const tracks = Object.values(CREATORS).flat();
  const event = (type: 'track.played' | 'track.liked' | 'track.shared' | 'track.purchased', user: string, at: number, payload: object) =>
    events.push(createEvent(type, { tenantId: 'default', actor: user, at: new Date(at), payload } as never) as VezaEvent);
  for (let u = 0; u < 300; u++) {
    const user = `listener-${u}`;
    const first = Math.floor(random() * DAYS);
    let stay = 0.9;
    for (let day = first; day < DAYS; day++) {
      if (random() > stay) continue;
      stay *= 0.93;
      const plays = 1 + Math.floor(random() * 4);
      for (let p = 0; p < plays; p++) {
        const track = tracks[Math.floor(random() * tracks.length)]!;
        const at = START + day * 86_400_000 + Math.floor(random() * 86_000_000);
        const complete = random() < 0.33;
        const endMs = complete ? DURATION_MS : Math.floor(random() * DURATION_MS);
        event('track.played', user, at, { trackId: track, startMs: 0, endMs, durationMs: DURATION_MS });
        const r = random();
        if (r < 0.2) event('track.liked', user, at + 60_000, { trackId: track });
        if (r < 0.08) event('track.shared', user, at + 120_000, { trackId: track });
        if (r < 0.03) event('track.purchased', user, at + 180_000, { trackId: track, amount: 199, currency: 'EUR' });
        // Out of order: shared before liking (a share that does not follow a like does not count).
        if (r > 0.97) {
          event('track.shared', user, at + 30_000, { trackId: track });
          event('track.liked', user, at + 90_000, { trackId: track });
        }
      }
    }
  }
  return events.sort((a, b) => (a.at < b.at ? -1 : 1));
}

const inPeriod = (e: VezaEvent, from: number, to: number) => Date.parse(e.at) >= from && Date.parse(e.at) < to;

export function expectedListening(events: VezaEvent[], tracks: readonly string[], from: number, to: number) {
  const plays = events.filter((e) => e.type === 'track.played' && tracks.includes(e.payload.trackId) && inPeriod(e, from, to));
  const count = (type: string) => events.filter((e) => e.type === type && tracks.includes((e.payload as { trackId: string }).trackId) && inPeriod(e, from, to)).length;
  let heard = 0;
  let completes = 0;
  let skips = 0;
  for (const e of plays) {
    const p = e.payload as { endMs: number; durationMs: number };
    heard += p.endMs;
    if (p.endMs >= 0.98 * p.durationMs) completes++;
    else if (p.endMs < 30_000) skips++;
  }
  return {
    plays: plays.length,
    listeners: new Set(plays.map((e) => e.actor)).size,
    listenHours: Math.round((heard / 3_600_000) * 100) / 100,
    completes,
    skips,
    likes: count('track.liked'),
    shares: count('track.shared'),
    purchases: count('track.purchased'),
  };
}

/** Furthest funnel step per listener whose first play of one of the tracks is in the period. */
export function expectedFunnel(events: VezaEvent[], tracks: readonly string[], from: number, to: number): number[] {
  const firsts = new Map<string, number[]>();
  const steps = ['track.played', 'track.liked', 'track.shared', 'track.purchased'];
  for (const e of events) {
    const step = steps.indexOf(e.type);
    if (step < 0 || !tracks.includes((e.payload as { trackId: string }).trackId)) continue;
    const key = `${e.actor}|${(e.payload as { trackId: string }).trackId}`;
    const times = firsts.get(key) ?? firsts.set(key, [Infinity, Infinity, Infinity, Infinity]).get(key)!;
    times[step] = Math.min(times[step]!, Date.parse(e.at));
  }
  const depth = new Map<string, number>();
  for (const [key, times] of firsts) {
    if (!(times[0]! >= from && times[0]! < to)) continue;
    let d = 1;
    while (d < 4 && times[d]! < to && times[d]! >= times[d - 1]!) d++;
    const user = key.split('|')[0]!;
    depth.set(user, Math.max(depth.get(user) ?? 0, d));
  }
  return [1, 2, 3, 4].map((k) => [...depth.values()].filter((d) => d >= k).length);
}

/** Week cohorts by first play of the tracks; retention[k] = share active in week k. */
export function expectedCohorts(events: VezaEvent[], tracks: readonly string[], from: number, to: number, weeks: number) {
  const plays = events.filter((e) => e.type === 'track.played' && tracks.includes(e.payload.trackId));
  const weekOf = (t: number) => Math.floor((t - START) / (7 * 86_400_000));
  const firstDay = new Map<string, number>();
  for (const e of plays) {
    const day = Math.floor(Date.parse(e.at) / 86_400_000) * 86_400_000;
    firstDay.set(e.actor!, Math.min(firstDay.get(e.actor!) ?? Infinity, day));
  }
  const active = new Map<string, Set<number>>();
  for (const e of plays) (active.get(e.actor!) ?? active.set(e.actor!, new Set()).get(e.actor!)!).add(weekOf(Date.parse(e.at)));
  const cohorts = new Map<number, string[]>();
  for (const [user, day] of firstDay) if (day >= from && day < to) (cohorts.get(weekOf(day)) ?? cohorts.set(weekOf(day), []).get(weekOf(day))!).push(user);
  return [...cohorts.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([week, users]) => ({
      week: new Date(START + week * 7 * 86_400_000).toISOString().slice(0, 10),
      users: users.length,
      retention: Array.from({ length: weeks }, (_, k) => users.filter((u) => active.get(u)!.has(week + k) && START + (week + k) * 7 * 86_400_000 < to + weeks * 7 * 86_400_000).length / users.length),
    }));
}
