// Webhooks on PostgreSQL, owned by a role without BYPASSRLS (as production runs): the sender's
// claims across tenants, retries and signatures work there as on the embedded database, and each
// tenant still sees only its own messages.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/events/catalog.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { call, Receiver } from './support.js';

const available = await postgresAvailable();

describe.skipIf(!available)('tenant webhooks on PostgreSQL', { timeout: 180_000 }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let server: TestServer;
  const receiver = new Receiver();
  const admin: Record<string, string> = {};

  beforeAll(async () => {
    await receiver.start();
    database = await createTestDatabase({ restrictedOwner: true });
    server = await startTestServer({
      'database-url': database.url,
      'webhooks-allow-private': 'true',
      'webhooks-retry-schedule': '0,300ms,300ms,300ms',
      'webhooks-poll-ms': '50',
      'rate-limit-requests-per-minute': '0',
    });
    const operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of ['pg-hooks-a', 'pg-hooks-b']) {
      expect((await call(server.url, 'POST', '/api/v1/platform/tenants', operator, { id, name: id })).status).toBe(201);
      admin[id] = await server.veza.auth.sign({ sub: `admin-of-${id}`, tenant: id, admin: true });
    }
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    await receiver.stop();
  });

  it('delivers each tenant its own signed messages, retrying a failed answer', async () => {
    receiver.answer('/pg-a', 500, 200);
    const secrets: Record<string, string> = {};
    for (const [tenant, path] of [
      ['pg-hooks-a', '/pg-a'],
      ['pg-hooks-b', '/pg-b'],
    ] as const) {
      const made = await call(server.url, 'POST', '/api/v1/webhooks/endpoints', admin[tenant]!, { url: receiver.url(path), eventTypes: ['achievement.unlocked'] });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      secrets[path] = made.body.secret as string;
      const payload = { userId: 'fan-1', achievementId: 'first-tip', version: 1, category: 'support', points: 10, title: 'First tip' };
      await server.veza.bus.publish(createEvent('achievement.unlocked', { tenantId: tenant, payload }));
    }
    const delivered = (path: string) => receiver.at(path).find((r) => r.status === 200);
    await waitFor(() => delivered('/pg-a') && delivered('/pg-b'), 'both delivered', 60_000);
    expect(receiver.at('/pg-a').map((r) => r.status)).toEqual([500, 200]);
    for (const path of ['/pg-a', '/pg-b']) {
      const got = delivered(path)!;
      expect(new Webhook(secrets[path]!).verify(got.body, got.headers)).toMatchObject({ type: 'achievement.unlocked', data: { achievementId: 'first-tip' } });
    }
    const listed = (tenant: string) => call(server.url, 'GET', '/api/v1/webhooks/messages', admin[tenant]!);
    const [a, b] = [(await listed('pg-hooks-a')).body.messages as { id: string }[], (await listed('pg-hooks-b')).body.messages as { id: string }[]];
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect((await call(server.url, 'GET', `/api/v1/webhooks/messages/${a[0]!.id}/attempts`, admin['pg-hooks-b']!)).status).toBe(404);
    // The receiver has answered; the attempt is written just after.
    const attempts = await waitFor(async () => {
      const log = (await call(server.url, 'GET', `/api/v1/webhooks/messages/${a[0]!.id}/attempts`, admin['pg-hooks-a']!)).body.attempts as { responseCode: number }[];
      return log.length === 2 && log;
    }, 'both attempts logged', 60_000);
    expect(attempts.map((x) => x.responseCode)).toEqual([500, 200]);
  });
});
