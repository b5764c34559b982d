import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unboundTokensWarning } from '../../src/server/auth.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * What a probe found a client could do with a valid token: a time past any date (a 500), a
 * currency that does not exist, reading anyone's tip; and what an operator is told when tokens are
 * not bound to this service.
 */
describe('bad input from a signed-in client', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    server = await startTestServer({ 'collab-flush-ms': '5' });
    for (const user of ['ana', 'ben', 'cy']) tokens[user] = await server.veza.auth.sign({ sub: user, docs: { '*': 'owner' } });
    tokens.ops = await server.veza.auth.sign({ sub: 'ops', admin: true, docs: { '*': 'owner' } });
    await server.veza.collab.edit('default', 'song', 'ana', (doc) => doc.getMap('settings').set('title', 'Song'));
    await server.veza.collab.persisted('default', 'song');
  }, 60_000);
  afterAll(() => server?.stop());

  const call = async (user: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[user]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : text };
  };

  it('answers a time past what a date can hold with 400, on the MIDI export and the replay socket', async () => {
    for (const at of ['1e308', '253402300800000', '-1', 'Infinity', '']) {
      const res = await call('ana', 'GET', `/api/v1/sessions/song/export.mid?at=${at}`);
      expect([at, res.status]).toEqual([at, 400]);
      expect(res.type).toContain('application/problem+json');
      expect((res.body as { detail: string }).detail).toBe('at must be a time in Unix milliseconds, from 0 to 253402300799999');
    }
    expect((await call('ana', 'GET', '/api/v1/sessions/song/export.mid?at=253402300799999')).status).toBe(200);
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/replay/song?at=1e308&token=${tokens.ana}`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('the replay opened')));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(400);
  });

  it('refuses a tip in a currency that does not exist, and keeps the ones that do', async () => {
    const tip = (currency: string, key: string) => call('ben', 'POST', '/api/v1/live/stage/tips', { toUserId: 'ana', amount: 500, currency }, { 'idempotency-key': key });
    const bad = await tip('ZZZ', 'zzz-1');
    expect(bad.status).toBe(400);
    expect(JSON.stringify((bad.body as { errors: unknown }).errors)).toContain('not an ISO 4217 currency code in use, such as EUR');
    for (const [currency, key] of [['EUR', 'eur-1'], ['JPY', 'jpy-1'], ['KWD', 'kwd-1']] as const) expect((await tip(currency, key)).status).toBe(201);
    const room = (await call('ana', 'GET', '/api/v1/live/stage/tips')).body as { tips?: { currency: string }[] };
    expect(JSON.stringify(room)).not.toContain('ZZZ');
  });

  it('shows a tip to its sender, its recipient and administrators only', async () => {
    const sent = await call('ben', 'POST', '/api/v1/live/stage/tips', { toUserId: 'ana', amount: 300, currency: 'EUR', message: 'for ana' }, { 'idempotency-key': 'read-1' });
    expect(sent.status).toBe(201);
    const id = (sent.body as { tipId: string }).tipId;
    for (const user of ['ben', 'ana', 'ops']) {
      const res = await call(user, 'GET', `/api/v1/tips/${id}`);
      expect([user, res.status]).toEqual([user, 200]);
      expect(res.body).toMatchObject({ tipId: id, fromUserId: 'ben', toUserId: 'ana', message: 'for ana' });
    }
    const other = await call('cy', 'GET', `/api/v1/tips/${id}`);
    expect(other.status).toBe(403);
    expect((other.body as { detail: string }).detail).toBe(`only the sender, the recipient or an administrator may read tip ${id}`);
    expect(JSON.stringify(other.body)).not.toContain('for ana');
  });
});

describe('tokens not bound to this service', () => {
  const warning = 'VEZA_JWT_ISSUER and VEZA_JWT_AUDIENCE are not set: tokens are not checked for this service\'s issuer and audience, so a token signed with the same key for another service is accepted';
  const health = async (flags: Record<string, string>) => {
    const server = await startTestServer({ 'jwt-secret': 'a-production-secret-of-forty-characters!!', ...flags });
    try {
      return (await (await fetch(`${server.url}/healthz`)).json()) as { auth?: { warning: string } };
    } finally {
      await server.stop();
    }
  };

  it('are named on /healthz outside development mode, and not in development mode', { timeout: 60_000 }, async () => {
    const [production, development] = await Promise.all([health({}), health({ dev: 'true' })]);
    expect(production.auth).toEqual({ warning });
    expect(development.auth).toBeUndefined();
  });

  it('stay named until both the issuer and the audience are required', () => {
    expect(unboundTokensWarning({})).toBe(warning);
    expect(unboundTokensWarning({ jwtIssuer: 'https://id.example' })).toBe(warning.replace('VEZA_JWT_ISSUER and VEZA_JWT_AUDIENCE are', 'VEZA_JWT_AUDIENCE is'));
    expect(unboundTokensWarning({ jwtAudience: 'veza' })).toBe(warning.replace('VEZA_JWT_ISSUER and VEZA_JWT_AUDIENCE are', 'VEZA_JWT_ISSUER is'));
    expect(unboundTokensWarning({ jwtIssuer: 'https://id.example', jwtAudience: 'veza' })).toBeNull();
  });
});
