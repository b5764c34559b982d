import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { detectPlaysAnomaly, signature } from '../../src/insights/alerts.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
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
  let server: TestServer;
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
    server = await startTestServer({ 'database-url': db.url, 'insights-alert-interval-s': '0', 'recs-train-interval-s': '0' });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  }, 60_000);
  afterAll(async () => {
    receiver.close();
    await server?.stop();
    await db?.drop();
  });

  it('raises a spike once, publishes it, and delivers it signed after a failed first attempt', async () => {
    const { veza, url } = server;
    await veza.recommendations.importHistory('default', JSON.stringify({ type: 'item', itemId: 'k-1', kind: 'track', artistId: 'kai', tags: [] }));
    const kai = await veza.auth.sign({ sub: 'kai' });
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
    await veza.insights.writer.write(events);
    const published: VezaEvent[] = [];
    await veza.bus.subscribe('alert-watch', (e) => void published.push(e), { types: ['insights.alert'] });

    expect(await veza.insights.alerts.evaluate()).toEqual([{ tenantId: 'default', creatorId: 'kai', kind: 'plays-spike' }]);
    expect(await veza.insights.alerts.evaluate()).toEqual([]); // the same hour is not raised twice
    await waitFor(() => received.length === 2, 'the retried delivery');
    expect(received[0]!.body).toBe(received[1]!.body);
    expect(received[1]!.alert).toBe(received[0]!.alert);
    expect(received[1]!.signature).toBe(signature(secret, received[1]!.body));
    expect(JSON.parse(received[1]!.body)).toMatchObject({ type: 'insights.alert', creatorId: 'kai', kind: 'plays-spike', value: 60, expected: 10 });
    await waitFor(() => published.length === 1, 'the insights.alert event');
    expect(published[0]!.payload).toMatchObject({ creatorId: 'kai', kind: 'plays-spike', value: 60 });

    const alerts = await waitFor(async () => {
      const res = (await (await fetch(`${url}/api/v1/insights/alerts?creator_id=kai`, { headers: { authorization: `Bearer ${kai}` } })).json()) as { alerts: { attempts: number; deliveredAt: string | null }[] };
      return res.alerts[0]?.deliveredAt ? res.alerts : undefined;
    }, 'the alert marked delivered');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.attempts).toBe(2);
  }, 60_000);
});
