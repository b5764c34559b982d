// Deliveries survive the server's death: a `veza serve` process killed with SIGKILL while messages
// are still failing at the receiver sends them once it runs again, from what its database holds;
// what was delivered before the kill is not sent again.
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { call, Receiver } from './support.js';

type Message = { id: string; eventId: string; deliveries: { state: string }[] };

const JWT_SECRET = randomBytes(32).toString('hex');
const token = (claims: Record<string, unknown>, sub: string) =>
  new SignJWT({ docs: {}, ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
/** Two server starts on a busy machine take their time; the waits are long, never part of what is checked. */
const LONG = 120_000;

describe('webhook deliveries across a killed server', () => {
  const data = tempDir('webhooks-restart');
  const receiver = new Receiver();
  const servers: ServerProcess[] = [];
  const env = {
    VEZA_JWT_SECRET: JWT_SECRET,
    VEZA_WEBHOOKS_ALLOW_PRIVATE: 'true',
    VEZA_WEBHOOKS_RETRY_SCHEDULE: '0,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms',
    VEZA_WEBHOOKS_POLL_MS: '100',
    VEZA_RATE_LIMIT_REQUESTS_PER_MINUTE: '0',
  };
  const start = async () => {
    const server = await spawnServer(['--data-dir', data.dir], env, { listenTimeoutMs: 240_000 });
    servers.push(server);
    return server;
  };

  afterAll(async () => {
    for (const server of servers) if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await receiver.stop();
    data.remove();
  });

  it('sends after a restart what was pending when the process was killed with -9', { timeout: 600_000 }, async () => {
    await receiver.start();
    let server = await start();
    const operator = await token({ tid: 'default', op: true }, 'ops');
    const admin = await token({ tid: 'label-k', adm: true }, 'label-admin');
    const fan = await token({ tid: 'label-k' }, 'fan-1');
    expect((await call(server.url, 'POST', '/api/v1/platform/tenants', operator, { id: 'label-k', name: 'Label K' })).status).toBe(201);
    const made = await call(server.url, 'POST', '/api/v1/webhooks/endpoints', admin, { url: receiver.url('/hook'), eventTypes: ['user.followed'] });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const follow = async () => {
      const sent = await call(server.url, 'POST', '/api/v1/events', fan, { type: 'user.followed', payload: { userId: `creator-${randomBytes(4).toString('hex')}` } });
      expect(sent.status).toBe(202);
      return sent.body.id as string;
    };
    const messages = async () => ((await call(server.url, 'GET', '/api/v1/webhooks/messages?limit=100', admin)).body.messages as Message[]) ?? [];
    const idsAt = (status: number) => new Set(receiver.at('/hook').filter((r) => r.status === status).map((r) => JSON.parse(r.body).event.id as string));

    // Two events delivered while the receiver is up, and recorded as such.
    const delivered = [await follow(), await follow()];
    await waitFor(async () => {
      const now = await messages();
      return delivered.every((id) => now.find((m) => m.eventId === id)?.deliveries.every((d) => d.state === 'delivered'));
    }, 'the first two delivered', LONG);

    // Then the receiver fails, three more events are tried and left pending, and the server dies.
    receiver.answer('/hook', 500);
    const pending = [await follow(), await follow(), await follow()];
    await waitFor(() => pending.every((id) => idsAt(500).has(id)), 'a failed attempt of each', LONG);
    server.child.kill('SIGKILL');
    expect(await server.exited).toMatchObject({ signal: 'SIGKILL' });
    const beforeRestart = receiver.received.length;

    receiver.answer('/hook', 200);
    server = await start();
    await waitFor(() => pending.every((id) => idsAt(200).has(id)), 'the pending three delivered after the restart', LONG);
    expect(receiver.received.length).toBeGreaterThan(beforeRestart);
    // Delivered once before the kill: never sent again.
    for (const id of delivered) expect(receiver.at('/hook').filter((r) => JSON.parse(r.body).event.id === id)).toHaveLength(1);
    // Every attempt of one message carries the same webhook-id, before and after the restart.
    for (const id of pending) expect(new Set(receiver.at('/hook').filter((r) => JSON.parse(r.body).event.id === id).map((r) => r.headers['webhook-id'])).size).toBe(1);
    await waitFor(async () => {
      const now = await messages();
      return [...delivered, ...pending].every((id) => now.find((m) => m.eventId === id)?.deliveries.every((d) => d.state === 'delivered'));
    }, 'all five recorded as delivered', LONG);
  });
});
