import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersModule } from '../../src/consumers/module.js';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { insightsModule } from '../../src/insights/module.js';
import type { InsightsService } from '../../src/insights/service.js';
import { recommendationsModule } from '../../src/recommendations/module.js';
import { chromiumPath } from '../helpers/browser.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { CREATORS, catalogRows, expectedCohorts, expectedFunnel, expectedListening, generate } from './history.js';

const hasPostgres = await postgresAvailable();
const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);

/** A JSON answer read loosely: the assertions say what shape they expect. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deep JSON bodies, checked by the assertions
type Body = any;

describe.skipIf(!hasPostgres)('creator insights on PostgreSQL, against a generated history with known answers', () => {
  let server: TestNode;
  let insights: InsightsService;
  let db: { url: string; drop: () => Promise<void> };
  let admin: string;
  let events: VezaEvent[];

  const get = async (path: string, token = admin) => {
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Body };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    // Recommendations takes the catalogue (POST /api/v1/interactions) that names the tracks' creators.
    server = await startModules((config) => [recommendationsModule, insightsModule, consumersModule({ config })], {
      'database-url': db.url,
      'recs-train-interval-s': '0',
      'rate-limit-requests-per-minute': '0',
      consumers: 'insights',
    });
    insights = server.node.modules.api(insightsModule);
    admin = await server.node.auth.sign({ sub: 'ops', admin: true });
    const scripted = [
      { type: 'item', itemId: 'echo-1', kind: 'track', artistId: 'echo', title: 'echo one', tags: [] },
      { type: 'item', itemId: 'echo-2', kind: 'track', artistId: 'echo', title: 'echo two', tags: [] },
    ];
    const load = await fetch(`${server.url}/api/v1/interactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' },
      body: [...catalogRows(), ...scripted].map((r) => JSON.stringify(r)).join('\n'),
    });
    expect(load.status).toBe(200);
    events = generate();
    // Through the bus, as players' reports arrive.
    for (const event of events) await server.node.bus.publish(event);
    await waitFor(async () => {
      const { body } = await get('/api/v1/insights?creator_id=nova&from=2026-09-01&to=2026-11-01');
      return body.listening?.plays === expectedListening(events, CREATORS.nova, day('2026-09-01'), day('2026-11-01')).plays;
    }, 'the generated history to be stored', 60_000);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('totals a period exactly: plays, listeners, hours, completes, skips, engagement, revenue', async () => {
    for (const [creator, from, to] of [
      ['nova', '2026-09-14', '2026-10-12'],
      ['orbit', '2026-09-07', '2026-09-21'],
    ] as const) {
      const tracks = CREATORS[creator];
      const expected = expectedListening(events, tracks, day(from), day(to));
      const { status, body } = await get(`/api/v1/insights?creator_id=${creator}&from=${from}&to=${to}`);
      expect(status).toBe(200);
      expect(body.listening).toMatchObject({
        plays: expected.plays,
        listeners: expected.listeners,
        listenHours: expected.listenHours,
        likes: expected.likes,
        shares: expected.shares,
        purchases: expected.purchases,
        completionRate: Math.round((expected.completes / expected.plays) * 1000) / 1000,
        skipRate: Math.round((expected.skips / expected.plays) * 1000) / 1000,
      });
      expect(body.listening.plays).toBeGreaterThan(100);
      expect(body.monetization.revenue).toEqual(expected.purchases ? [{ currency: 'EUR', amountMinor: 199 * expected.purchases, purchases: expected.purchases }] : []);
      expect(body.listening.byHourOfDay.reduce((s: number, v: number) => s + v, 0)).toBe(expected.plays);
      expect(body.listening.daily.reduce((s: number, d: { plays: number }) => s + d.plays, 0)).toBe(expected.plays);
      expect(body.listening.tracks.map((t: { trackId: string }) => t.trackId).sort()).toEqual([...tracks].sort());
      expect(body.recommendations.length).toBeGreaterThan(0);
    }
  });

  it('counts the funnel stream → like → share → purchase in order, per creator and per track', async () => {
    const from = '2026-09-07';
    const to = '2026-10-05';
    const [stream, like, share, purchase] = expectedFunnel(events, CREATORS.nova, day(from), day(to));
    const { body } = await get(`/api/v1/insights/funnel?creator_id=nova&from=${from}&to=${to}`);
    expect(body.all.map((s: { users: number }) => s.users)).toEqual([stream, like, share, purchase]);
    expect(body.all[1].conversion).toBeCloseTo(like! / stream!, 12);
    expect(stream).toBeGreaterThan(50);
    expect(purchase).toBeGreaterThan(0);
    // Per segment the counts add up to the whole.
    const segments = Object.values(body.bySegment as Record<string, { users: number }[]>);
    expect(segments.reduce((s, steps) => s + steps[0]!.users, 0)).toBe(stream);

    const track = await get(`/api/v1/insights/funnel?track_id=orbit-2&from=${from}&to=${to}`);
    expect(track.body.all.map((s: { users: number }) => s.users)).toEqual(expectedFunnel(events, ['orbit-2'], day(from), day(to)));
    expect(track.body.creatorId).toBe('orbit');
  });

  it('builds weekly listener cohorts with their retention', async () => {
    const { body } = await get('/api/v1/insights/cohorts?creator_id=nova&from=2026-09-07&to=2026-10-05&weeks=3');
    const expected = expectedCohorts(events, CREATORS.nova, day('2026-09-07'), day('2026-10-05'), 3);
    expect(body.cohorts.map((c: { week: string; users: number }) => [c.week, c.users])).toEqual(expected.map((c) => [c.week, c.users]));
    body.cohorts.forEach((c: { retention: number[] }, i: number) => {
      expect(c.retention[0]).toBe(1);
      c.retention.forEach((r, k) => expect(r).toBeCloseTo(expected[i]!.retention[k]!, 12));
    });
  });

  it('leaves the weeks of a cohort that have not begun without a retention (null), not 0', async () => {
    // A first play now: this week's cohort has a week 0 and no week 1 or 2 yet.
    await server.node.bus.publish(createEvent('track.played', { tenantId: 'default', actor: 'new-fan', payload: { trackId: 'nova-3' } }) as VezaEvent);
    const today = Math.floor(Date.now() / 86_400_000);
    const monday = new Date((today - ((new Date(today * 86_400_000).getUTCDay() + 6) % 7)) * 86_400_000).toISOString().slice(0, 10);
    const cohort = await waitFor(async () => {
      const { body } = await get(`/api/v1/insights/cohorts?creator_id=nova&from=${monday}&weeks=3`);
      return (body.cohorts as { week: string; users: number; retention: (number | null)[] }[]).find((c) => c.week === monday);
    }, "this week's cohort");
    expect(cohort.users).toBeGreaterThanOrEqual(1);
    expect(cohort.retention).toEqual([1, null, null]);
  });

  it('draws the heat-map: listens, drops, seeks and replays along the timeline, against the other tracks', async () => {
    const at = new Date('2026-11-20T10:00:00Z').getTime();
    const list: VezaEvent[] = [];
    const play = (user: string, track: string, offset: number, startMs: number, endMs: number) =>
      list.push(createEvent('track.played', { tenantId: 'default', actor: user, at: new Date(at + offset), payload: { trackId: track, startMs, endMs, durationMs: 100_000 } }) as VezaEvent);
    for (let u = 0; u < 10; u++) play(`full-${u}`, 'echo-1', u, 0, 100_000);
    for (let u = 0; u < 4; u++) play(`drop-${u}`, 'echo-1', u, 0, 41_000);
    for (let u = 0; u < 3; u++) {
      play(`seek-${u}`, 'echo-1', u, 0, 20_000);
      play(`seek-${u}`, 'echo-1', 20_000 + u, 60_000, 100_000);
    }
    for (let u = 0; u < 2; u++) {
      play(`back-${u}`, 'echo-1', u, 0, 50_000);
      play(`back-${u}`, 'echo-1', 50_000 + u, 30_000, 70_000);
    }
    for (let u = 0; u < 5; u++) play(`other-${u}`, 'echo-2', u, 0, 100_000);
    for (const e of list) await server.node.bus.publish(e);
    await waitFor(async () => (await get('/api/v1/insights/heatmap?track_id=echo-1&from=2026-11-20&to=2026-11-21')).body.buckets?.[0]?.listens === 19, 'the scripted listens');

    const { body } = await get('/api/v1/insights/heatmap?track_id=echo-1&from=2026-11-20&to=2026-11-21');
    const b = body.buckets as { listens: number; drops: number; seeks: number; replays: number; retention: number }[];
    expect([0, 12, 20, 25, 40].map((i) => b[i]!.listens)).toEqual([19, 16, 18, 12, 13]);
    expect(b.map((x, i) => [i, x.drops]).filter(([, d]) => d! > 0)).toEqual([[10, 3], [20, 4], [25, 2], [35, 2]]);
    expect(b.map((x, i) => [i, x.seeks]).filter(([, s]) => s! > 0)).toEqual([[15, 2], [30, 3]]);
    expect(b.map((x, i) => [i, x.replays]).filter(([, r]) => r! > 0)).toEqual(Array.from({ length: 10 }, (_, k) => [15 + k, 2]));
    expect(b[40]!.retention).toBeCloseTo(13 / 19, 12);
    expect(body.keyMoments).toEqual({ biggestDrop: 20, mostReplayed: 15, mostSeekedTo: 30 });
    expect(body.otherTracks).toEqual(Array(50).fill(1));
    expect(Object.keys(body.bySegment)).toEqual(['new']);

    // The plays: 19 listeners, the seeks and jumps back continue their play rather than start one.
    const totals = await get('/api/v1/insights?creator_id=echo&from=2026-11-20&to=2026-11-21');
    expect(totals.body.listening.tracks.find((t: { trackId: string }) => t.trackId === 'echo-1')).toMatchObject({ plays: 19, completes: 13 });
  });

  it('pushes the live dashboard when a play is stored', async () => {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/insights/live/nova?token=${admin}`);
    const frames: Body[] = [];
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    await waitFor(() => frames.length > 0, 'the snapshot');
    expect(frames[0]).toMatchObject({ type: 'snapshot', creatorId: 'nova' });
    expect(frames[0]!.playsPerMinute).toHaveLength(60);
    expect(frames[0]!.playsPerHour).toHaveLength(48);
    const before = frames[0]!.listenersNow as number;

    const sent = Date.now();
    await server.node.bus.publish(createEvent('track.played', { tenantId: 'default', actor: 'live-listener', payload: { trackId: 'nova-2' } }) as VezaEvent);
    const update = await waitFor(() => frames.find((f) => f.type === 'update'), 'the update');
    console.log(`dashboard update ${Date.now() - sent} ms after the event was published`);
    expect(update.listenersNow).toBe(before + 1);
    expect(update.playsPerMinute.at(-1).plays).toBeGreaterThanOrEqual(1);
    expect(update.playsPerHour.at(-1).plays).toBeGreaterThanOrEqual(1);
    // An event for another creator does not reach this dashboard.
    const count = frames.length;
    await server.node.bus.publish(createEvent('track.liked', { tenantId: 'default', actor: 'x', payload: { trackId: 'orbit-1' } }) as VezaEvent);
    await insights.writer.flush();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(frames.length).toBe(count);
    socket.close();
  });

  it('writes the weekly report as data, as HTML with charts and as PDF', async () => {
    const week = '2026-09-14';
    const expected = expectedListening(events, CREATORS.nova, day(week), day('2026-09-21'));
    const json = await get(`/api/v1/insights/report?creator_id=nova&week=${week}&format=json`);
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ creatorId: 'nova', from: week, to: '2026-09-21' });
    expect(json.body.totals).toMatchObject({ plays: expected.plays, listeners: expected.listeners, likes: expected.likes, purchases: expected.purchases, revenueMinor: 199 * expected.purchases });
    expect(json.body.previousTotals.plays).toBe(expectedListening(events, CREATORS.nova, day('2026-09-07'), day(week)).plays);
    expect(json.body.daily).toHaveLength(7);
    expect(json.body.daily.reduce((s: number, d: { plays: number }) => s + d.plays, 0)).toBe(expected.plays);
    expect(json.body.heatmap.buckets).toHaveLength(50);

    const html = await fetch(`${server.url}/api/v1/insights/report?creator_id=nova&week=${week}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await html.text();
    expect(page.match(/<svg/g)?.length).toBeGreaterThanOrEqual(3);
    expect(page).toContain(expected.plays.toLocaleString('en'));

    if (chromiumPath()) {
      const pdf = await fetch(`${server.url}/api/v1/insights/report?creator_id=nova&week=${week}&format=pdf`, { headers: { authorization: `Bearer ${admin}` } });
      expect(pdf.status).toBe(200);
      expect(pdf.headers.get('content-type')).toBe('application/pdf');
      const bytes = Buffer.from(await pdf.arrayBuffer());
      expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
      expect(bytes.length).toBeGreaterThan(5000);
    }
    expect((await get('/api/v1/insights/report?creator_id=nova&week=2026-09-15')).status).toBe(400);
    expect((await get('/api/v1/insights/report?creator_id=nova&format=docx')).status).toBe(400);
  }, 60_000);

  it('answers bad periods, unknown creators and other creators with clear errors', async () => {
    const nova = await server.node.auth.sign({ sub: 'nova' });
    expect((await get('/api/v1/insights?creator_id=nova', nova)).status).toBe(200);
    for (const [path, status, detail] of [
      ['/api/v1/insights?creator_id=nova&from=2026-10-01&to=2026-09-01', 400, /must be before/],
      ['/api/v1/insights?creator_id=nova&from=yesterday', 400, /from must be a date/],
      ['/api/v1/insights?creator_id=nova&from=2026-13-45', 400, /from must be a date/],
      ['/api/v1/insights?creator_id=nova&from=2024-01-01&to=2026-01-01', 400, /at most 366 days/],
      ['/api/v1/insights', 400, /creator_id is required/],
      ['/api/v1/insights?creator_id=orbit', 403, /only orbit or a tenant administrator/],
      ['/api/v1/insights/heatmap?track_id=nova-1&segment=vip', 400, /segment must be all or one of/],
      ['/api/v1/insights/heatmap?track_id=orbit-1', 403, /only orbit/],
      ['/api/v1/insights/heatmap?track_id=ghost', 404, /not in the catalogue/],
      ['/api/v1/insights/cohorts?creator_id=nova&kind=fans', 400, /kind must be listeners/],
      ['/api/v1/insights/cohorts?creator_id=nova&weeks=0', 400, /weeks must be an integer/],
    ] as const) {
      const { status: got, body } = await get(path, nova);
      expect(got, path).toBe(status);
      expect(body.detail, path).toMatch(detail);
    }
    const unknown = await get('/api/v1/insights?creator_id=nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/unknown creator nobody/);
    const refused = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}/insights/live/orbit?token=${nova}`);
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('open', () => resolve(101));
    });
    expect(refused).toBe(403);
  });
});

describe('creator insights on the embedded default (PGlite)', () => {
  it('stores plays with positions and answers the heat-map and totals', async () => {
    // Recommendations imports the catalogue that names the track's creator.
    const server = await startModules(() => [recommendationsModule, insightsModule], { 'recs-train-interval-s': '0' });
    try {
      const insights = server.node.modules.api(insightsModule);
      await server.node.modules.api(recommendationsModule).importHistory('default', JSON.stringify({ type: 'item', itemId: 'p-1', kind: 'track', artistId: 'pia', tags: [] }));
      const at = new Date('2026-11-02T12:00:00Z');
      const events = [
        ['a', 0, 100_000],
        ['b', 0, 25_000],
        ['c', 0, 100_000],
      ].map(([user, startMs, endMs]) =>
        createEvent('track.played', { tenantId: 'default', actor: user as string, at, payload: { trackId: 'p-1', startMs: startMs as number, endMs: endMs as number, durationMs: 100_000 } }) as VezaEvent,
      );
      await insights.writer.write(events);
      const period = { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-03T00:00:00Z') };
      const heatmap = await insights.queries.heatmap('default', 'p-1', [], period, 'all');
      expect(heatmap.buckets.map((b) => b.listens)).toEqual([...Array<number>(13).fill(3), ...Array<number>(37).fill(2)]);
      expect(heatmap.keyMoments.biggestDrop).toBe(12);
      const totals = await insights.queries.listening('default', ['p-1'], period);
      expect(totals).toMatchObject({ plays: 3, listeners: 3, completionRate: 2 / 3, skipRate: 1 / 3 });
    } finally {
      await server.stop();
    }
  });
});
