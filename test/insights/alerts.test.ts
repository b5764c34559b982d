import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { detectPlaysAnomaly, signature } from '../../src/insights/alerts.js';
import { insightsModule } from '../../src/insights/module.js';
import { recommendationsModule } from '../../src/recommendations/module.js';
import { syntheticActivity } from './synthetic-activity.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const hasPostgres = await postgresAvailable();
const week = (last: number, base = 10) => [...Array<number>(168).fill(base), last];

describe('plays anomalies against the same hour of the last 7 days', () => {
  it('flags a spike and a drop, and leaves ordinary and small hours alone', () => {
    expect(detectPlaysAnomaly(week(10))).toBeNull();
    expect(detectPlaysAnomaly(week(20))).toBeNull(); // 10 + 4·√10 = 22.6
    expect(detectPlaysAnomaly(week(40))).toEqual({ kind: 'plays-spike', value: 40, expected: 10 });
    expect(detectPlaysAnomaly(week(0, 20))).toEqual({ kind: 'plays-drop', value: 0, expected: 20 });
    expect(detectPlaysAnomaly(week(4, 1))).toBeNull(); // too small to call
    expect(detectPlaysAnomaly(week(40).slice(1))).toBeNull(); // under 7 days of history
    // The forecast is the same hour on earlier days, not the mean of all hours.
    const daily = Array.from({ length: 169 }, (_, h) => (h % 24 === 168 % 24 ? 50 : 2));
    expect(detectPlaysAnomaly(daily)).toBeNull();
  });
});

describe.skipIf(!hasPostgres)('alerts as events and signed webhooks with retries', () => {
  let server: TestNode;
  let db: { url: string; drop: () => Promise<void> };
  const received: { body: string; signature: string; alert: string }[] = [];
  const receiver = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body, signature: String(req.headers['x-veza-signature']), alert: String(req.headers['x-veza-alert']) });
      // The first delivery fails: the retry must come.
      res.writeHead(received.length === 1 ? 500 : 204).end();
    });
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    // Recommendations imports the catalogue that names the track's creator.
    server = await startModules(() => [recommendationsModule, insightsModule], { 'database-url': db.url, 'insights-alert-interval-s': '0', 'recs-train-interval-s': '0' });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  }, 60_000);
  afterAll(async () => {
    receiver.close();
    await server?.stop();
    await db?.drop();
  });

  it('raises a spike once, publishes it, and delivers it signed after a failed first attempt', async () => {
    const { node, url } = server;
    const recommendations = node.modules.api(recommendationsModule);
    const insights = node.modules.api(insightsModule);
    await recommendations.importHistory('default', JSON.stringify({ type: 'item', itemId: 'k-1', kind: 'track', artistId: 'kai', tags: [] }));
    const kai = await node.auth.sign({ sub: 'kai' });
    const post = (body: object, token = kai) =>
      fetch(`${url}/api/v1/insights/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ creator_id: 'kai', url: 'ftp://example.org/hook' })).status).toBe(400);
    expect((await post({ creator_id: 'someone-else', url: 'http://127.0.0.1/hook' })).status).toBe(403);
    const created = await post({ creator_id: 'kai', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };

    // A week of 10 plays an hour, then 60 in the last complete hour.
    const last = Math.floor(Date.now() / 3_600_000) - 1;
    const events: VezaEvent[] = [];
    for (let h = last - 168; h <= last; h++) {
      for (let p = 0; p < (h === last ? 60 : 10); p++) {
        events.push(createEvent('track.played', { tenantId: 'default', actor: `l${p}`, at: new Date(h * 3_600_000 + p * 1000), payload: { trackId: 'k-1' } }) as VezaEvent);
      }
    }
    await insights.writer.write(events);
    const published: VezaEvent[] = [];
    await node.bus.subscribe('alert-watch', (e) => void published.push(e), { types: ['insights.alert'] });

    expect(await insights.alerts.evaluate()).toEqual([
      { tenantId: 'default', creatorId: 'kai', kind: 'weekly-report' },
      { tenantId: 'default', creatorId: 'kai', kind: 'plays-spike' },
    ]);
    expect(await insights.alerts.evaluate()).toEqual([]); // the same week and hour are not raised twice
    // The weekly report is announced first (its first delivery fails and is retried), then the spike.
    await waitFor(() => received.filter((r) => JSON.parse(r.body).kind === 'plays-spike').length === 1 && received.length === 3, 'the deliveries');
    const report = JSON.parse(received[0]!.body) as { kind: string; message: string };
    expect(report.kind).toBe('weekly-report');
    expect(report.message).toMatch(/\/api\/v1\/insights\/report\?creator_id=kai&week=\d{4}-\d{2}-\d{2}&format=pdf/);
    received.splice(0, received.length, ...received.filter((r) => JSON.parse(r.body).kind === 'plays-spike'));
    // The spike went through on its first attempt (only the very first request failed).
    expect(received).toHaveLength(1);
    expect(received[0]!.signature).toBe(signature(secret, received[0]!.body));
    expect(JSON.parse(received[0]!.body)).toMatchObject({ type: 'insights.alert', creatorId: 'kai', kind: 'plays-spike', value: 60, expected: 10 });
    await waitFor(() => published.length === 2, 'the insights.alert events');
    expect(published.map((e) => (e.payload as { kind: string }).kind)).toEqual(['weekly-report', 'plays-spike']);
    expect(published[1]!.payload).toMatchObject({ creatorId: 'kai', kind: 'plays-spike', value: 60 });

    const alerts = await waitFor(async () => {
      const res = (await (await fetch(`${url}/api/v1/insights/alerts?creator_id=kai`, { headers: { authorization: `Bearer ${kai}` } })).json()) as {
        alerts: { kind: string; attempts: number; deliveredAt: string | null }[];
      };
      return res.alerts.every((a) => a.deliveredAt) ? res.alerts : undefined;
    }, 'the alerts marked delivered');
    expect(alerts.map((a) => [a.kind, a.attempts]).sort()).toEqual([
      ['plays-spike', 1],
      ['weekly-report', 2],
    ]);
  }, 60_000);
});

describe.skipIf(!hasPostgres)('churn risk of a creator\'s audience', () => {
  it('trains on the audience\'s history, beats the base rate one window later, and names who is at risk and why', async () => {
    const db = await createTestDatabase();
    // Recommendations imports the catalogue that names the tracks' creators.
    const server = await startModules(() => [recommendationsModule, insightsModule], { 'database-url': db.url, 'insights-alert-interval-s': '0', 'recs-train-interval-s': '0' });
    try {
      const { node, url } = server;
      const recommendations = node.modules.api(recommendationsModule);
      await recommendations.importHistory('default', JSON.stringify({ type: 'item', itemId: 'z-1', kind: 'track', artistId: 'zed', tags: [] }));
      const today = Math.floor(Date.now() / 86_400_000);
      const users = syntheticActivity({ users: 1500, days: 200, startDay: today - 200, seed: 5 });
      const days: object[] = [];
      const listens: object[] = [];
      for (const user of users) {
        for (const [d, c] of user.days) {
          if (c.plays + c.likes + c.shares + c.purchases === 0) continue;
          const day = new Date(d * 86_400_000).toISOString().slice(0, 10);
          days.push({ tenant_id: 'default', user_id: user.userId, day, plays: c.plays, listen_ms: c.listenMs, likes: c.likes, shares: c.shares, purchases: c.purchases, skips: c.skips });
          listens.push({ tenant_id: 'default', track_id: 'z-1', day, user_id: user.userId, plays: Math.max(1, c.plays) });
        }
      }
      await node.storage.withTenant('default', async (trx) => {
        for (let k = 0; k < days.length; k += 2000) {
          await trx.insertInto('ins_user_days').values(days.slice(k, k + 2000) as never).execute();
          await trx.insertInto('ins_track_listeners').values(listens.slice(k, k + 2000) as never).execute();
        }
      });
      const zed = await node.auth.sign({ sub: 'zed' });
      const res = await fetch(`${url}/api/v1/insights/churn?creator_id=zed`, { headers: { authorization: `Bearer ${zed}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        status: string;
        evaluation: { logLoss: number; baseRateLogLoss: number; auc: number; testUsers: number };
        activeListeners: number;
        atRiskShare: number;
        atRisk: { userId: string; score: number; reasons: string[] }[];
      };
      console.log(`churn on a synthetic audience: log loss ${body.evaluation.logLoss.toFixed(3)} vs base rate ${body.evaluation.baseRateLogLoss.toFixed(3)}, AUC ${body.evaluation.auc.toFixed(3)}, ${body.evaluation.testUsers} test users`);
      expect(body.status).toBe('ok');
      expect(body.evaluation.logLoss).toBeLessThan(body.evaluation.baseRateLogLoss);
      expect(body.evaluation.auc).toBeGreaterThan(0.7);
      expect(body.atRisk.length).toBeGreaterThan(0);
      expect(body.atRisk.every((u) => u.score >= 0.5 && u.score <= 1 && u.reasons.length > 0)).toBe(true);
      expect(body.atRisk.map((u) => u.score)).toEqual([...body.atRisk.map((u) => u.score)].sort((a, b) => b - a));
      expect(body.atRiskShare).toBeGreaterThan(0);

      // The summary carries it, and an audience with no history says so instead of guessing.
      const summary = (await (await fetch(`${url}/api/v1/insights?creator_id=zed`, { headers: { authorization: `Bearer ${zed}` } })).json()) as { churnRisk: { status: string; atRisk: number } };
      expect(summary.churnRisk).toMatchObject({ status: 'ok', atRisk: body.atRisk.length });
      await recommendations.importHistory('default', JSON.stringify({ type: 'item', itemId: 'y-1', kind: 'track', artistId: 'yan', tags: [] }));
      const admin = await node.auth.sign({ sub: 'ops', admin: true });
      const none = (await (await fetch(`${url}/api/v1/insights/churn?creator_id=yan`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { status: string; reason: string };
      expect(none.status).toBe('insufficient-history');
      expect(none.reason).toMatch(/empty training set/);
    } finally {
      await server.stop();
      await db.drop();
    }
  }, 120_000);
});
