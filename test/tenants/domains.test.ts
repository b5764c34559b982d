// Tenants' own domains: a domain resolves to its tenant only once the tenant served the token the
// server gave it (fetched here from a loopback HTTP server, `*.localhost` names resolving to
// 127.0.0.1); a domain is one tenant's; on a tenant's domain another tenant's token is refused; the
// TLS `ask` endpoint vouches only for verified domains and the platform's own host.
import type { Server } from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardedLookup, normaliseDomain } from '../../src/tenants/domains.js';
import { call, claimDomain, startTokenServer } from '../helpers/domains.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

type Problem = { status: number; type: string; detail: string };

describe('tenant domains', () => {
  let server: TestServer;
  let tokens: { server: Server; port: number };
  const served = new Map<string, string>();
  let operator: string;
  const sign = (sub: string, tenant: string, admin = false) => server.veza.auth.sign({ sub, tenant, docs: { '*': 'editor' }, admin });
  const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) => call(server.url, method, path, options);

  beforeAll(async () => {
    tokens = await startTokenServer(served);
    server = await startTestServer({ 'domain-verify-port': String(tokens.port), 'domain-verify-private': 'true', 'platform-hosts': 'studio.localhost' });
    operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const [id, name] of [['label-a', 'Label A'], ['label-b', 'Label B']]) {
      expect((await api('POST', '/api/v1/platform/tenants', { token: operator, body: { id, name } })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => tokens?.server.close(resolve));
  });

  it('resolves a domain to its tenant only once the token the tenant serves is verified', async () => {
    const admin = await sign('ann', 'label-a', true);
    const added = await api('POST', '/api/v1/tenants/label-a/domains', { token: admin, body: { domain: 'Music.Label-A.localhost' } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ domain: 'music.label-a.localhost', tenantId: 'label-a', verified: false, verifyUrl: `http://music.label-a.localhost:${tokens.port}/.well-known/veza-domain-verification` });
    const token = added.body.token as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Unverified: the host is the platform's, and Caddy is refused a certificate for it.
    expect((await api('GET', '/api/v1/branding', { host: 'music.label-a.localhost' })).body.tenantId).toBe('default');
    expect((await api('GET', '/api/v1/domains/ask?domain=music.label-a.localhost')).status).toBe(404);

    // Nothing served yet, then the wrong token: each refusal says what the server saw.
    const missing = await api('POST', '/api/v1/tenants/label-a/domains/music.label-a.localhost/verify', { token: admin });
    expect(missing.status).toBe(422);
    expect((missing.body as Problem).type).toBe('urn:veza:problem:domain-verification-failed');
    expect((missing.body as Problem).detail).toContain('answered 404; it must answer 200 with the token');
    served.set('music.label-a.localhost', 'x'.repeat(2000));
    const large = await api('POST', '/api/v1/tenants/label-a/domains/music.label-a.localhost/verify', { token: admin });
    expect((large.body as Problem).detail).toContain('the answer is larger than 1024 bytes; it must be the token alone');
    served.set('music.label-a.localhost', 'not-the-token');
    const wrong = await api('POST', '/api/v1/tenants/label-a/domains/music.label-a.localhost/verify', { token: admin });
    expect(wrong.status).toBe(422);
    expect((wrong.body as Problem).detail).toBe(`http://music.label-a.localhost:${tokens.port}/.well-known/veza-domain-verification did not answer this domain's verification token`);
    expect((await api('GET', '/api/v1/domains/ask?domain=music.label-a.localhost')).status).toBe(404);

    served.set('music.label-a.localhost', token);
    const verified = await api('POST', '/api/v1/tenants/label-a/domains/music.label-a.localhost/verify', { token: admin });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ verified: true });
    expect((await api('GET', '/api/v1/branding', { host: 'music.label-a.localhost:443' })).body.tenantId).toBe('label-a');
    expect((await api('GET', '/api/v1/domains/ask?domain=music.label-a.localhost')).body).toEqual({ domain: 'music.label-a.localhost', tenantId: 'label-a' });
    // The platform's own host is vouched for; a missing name is a bad request.
    expect((await api('GET', '/api/v1/domains/ask?domain=studio.localhost')).status).toBe(200);
    expect((await api('GET', '/api/v1/domains/ask')).status).toBe(400);
    const listed = await api('GET', '/api/v1/tenants/label-a/domains', { token: operator });
    expect((listed.body.domains as { domain: string; verified: boolean }[]).map((d) => `${d.domain}:${d.verified}`)).toEqual(['music.label-a.localhost:true']);
  });

  it('gives a domain to one tenant only, and lets only its admin or the operator manage its domains', async () => {
    const adminA = await sign('ann', 'label-a', true);
    const adminB = await sign('bob', 'label-b', true);
    expect((await api('POST', '/api/v1/tenants/label-a/domains', { token: adminA, body: { domain: 'shared.localhost' } })).status).toBe(201);
    const taken = await api('POST', '/api/v1/tenants/label-b/domains', { token: adminB, body: { domain: 'shared.localhost' } });
    expect(taken.status).toBe(409);
    expect((taken.body as Problem).detail).toBe('shared.localhost is already claimed');
    expect((await api('POST', '/api/v1/tenants/label-b/domains', { token: adminB, body: { domain: 'studio.localhost' } })).status).toBe(409);
    // Another tenant's admin, a user who is no admin, a bad name, an unknown tenant.
    expect((await api('POST', '/api/v1/tenants/label-a/domains', { token: adminB, body: { domain: 'x.localhost' } })).status).toBe(403);
    expect((await api('GET', '/api/v1/tenants/label-a/domains', { token: await sign('cat', 'label-a') })).status).toBe(403);
    const bad = await api('POST', '/api/v1/tenants/label-b/domains', { token: adminB, body: { domain: 'not a domain' } });
    expect(bad.status).toBe(400);
    expect((bad.body as Problem).detail).toContain('is not a domain name');
    expect((await api('GET', '/api/v1/tenants/nobody/domains', { token: operator })).status).toBe(404);
    // The operator adds one for label-b; label-b's admin removes it again.
    expect((await api('POST', '/api/v1/tenants/label-b/domains', { token: operator, body: { domain: 'b.localhost' } })).status).toBe(201);
    expect((await api('DELETE', '/api/v1/tenants/label-b/domains/b.localhost', { token: adminB })).status).toBe(204);
    expect((await api('DELETE', '/api/v1/tenants/label-b/domains/b.localhost', { token: adminB })).status).toBe(404);
  });

  it('refuses on a tenant domain the tokens of another tenant, for requests and WebSocket upgrades', async () => {
    const host = 'music.label-a.localhost';
    const ann = await sign('ann', 'label-a');
    const bob = await sign('bob', 'label-b');
    expect((await api('GET', '/api/v1/me', { token: ann, host })).status).toBe(200);
    const refused = await api('GET', '/api/v1/me', { token: bob, host });
    expect(refused.status).toBe(403);
    expect((refused.body as Problem).detail).toBe(`a token of tenant label-b is not accepted on ${host}, a domain of tenant label-a`);
    // The operator is the platform's, and the platform's hosts admit every tenant.
    expect((await api('GET', '/api/v1/me', { token: operator, host })).status).toBe(200);
    expect((await api('GET', '/api/v1/me', { token: bob, host: 'studio.localhost' })).status).toBe(200);
    const upgrade = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}/collab/song`, ['veza', `bearer.${bob}`], { headers: { host } });
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('open', () => {
        socket.close();
        resolve(101);
      });
      socket.on('error', (error) => (error.message.includes('Unexpected server response') ? undefined : reject(error)));
    });
    expect(upgrade).toBe(403);
  });
});

describe('domain names and the verification fetch', () => {
  it('normalises names and refuses what is not a domain', () => {
    expect(normaliseDomain(' Music.Label-A.COM. ')).toBe('music.label-a.com');
    for (const bad of ['localhost', 'a..b', '-a.com', 'a_b.com', 'http://a.com', '127.0.0.1:80', `${'a'.repeat(64)}.com`]) expect(() => normaliseDomain(bad), bad).toThrow(/is not a domain name/);
  });

  it('never fetches from loopback or private addresses unless allowed', async () => {
    const resolve = (allowPrivate: boolean, name: string) =>
      new Promise<string>((done) => guardedLookup(allowPrivate)(name, {}, (error, address) => done(error ? `refused: ${error.message}` : String(address))));
    expect(await resolve(false, 'label-a.localhost')).toBe('refused: label-a.localhost resolves to a private address (127.0.0.1)');
    expect(await resolve(true, 'label-a.localhost')).toBe('127.0.0.1');
    expect(await resolve(false, '10.1.2.3')).toBe('refused: 10.1.2.3 resolves to a private address (10.1.2.3)');
    expect(await resolve(false, '::ffff:192.168.1.5')).toMatch(/^refused: .* private address/);
    expect(await resolve(false, '93.184.215.14')).toBe('93.184.215.14');
  });
});

const cluster = (await postgresAvailable()) && (await redisAvailable());
if (!cluster) console.warn('SKIP: two-node domains test needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379');

describe.skipIf(!cluster)('tenant domains on two nodes sharing PostgreSQL and Redis', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tokens: { server: Server; port: number };
  const served = new Map<string, string>();
  const nodes: TestServer[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    tokens = await startTokenServer(served);
    const flags = { 'database-url': db.url, 'redis-url': REDIS_URL, 'events-stream': redisPrefix('domains'), 'jwt-secret': 'domains-test-secret-domains-test-secret', 'domain-verify-port': String(tokens.port), 'domain-verify-private': 'true' };
    nodes.push(await startTestServer(flags), await startTestServer(flags));
  }, 90_000);
  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await new Promise((resolve) => tokens?.server.close(resolve));
    await db?.drop();
  });

  it('resolves on every node a domain verified through one, shows its new theme there, and forgets it once removed', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const operator = await a.veza.auth.sign({ sub: 'ops', operator: true });
    expect((await call(a.url, 'POST', '/api/v1/platform/tenants', { token: operator, body: { id: 'label-d', name: 'Label D' } })).status).toBe(201);
    const admin = await a.veza.auth.sign({ sub: 'dot', tenant: 'label-d', admin: true });
    const tenantOn = async (node: TestServer) => (await call(node.url, 'GET', '/api/v1/branding', { host: 'label-d.localhost' })).body.tenantId;
    expect(await tenantOn(b)).toBe('default');
    await claimDomain(a.url, served, 'label-d', 'label-d.localhost', admin);
    await waitFor(async () => (await tenantOn(b)) === 'label-d', 'node B resolving the verified domain', 10_000);
    // B read label-d's (default) theme; a change made through A reaches it.
    const theme = { name: 'Label D', colours: { background: '#000000', surface: '#111111', text: '#ffffff', muted: '#aaaaaa', accent: '#ffcc00', accentText: '#000000' }, fonts: { body: 'Verdana', heading: 'Verdana' } };
    expect((await call(a.url, 'PUT', '/api/v1/branding', { token: admin, body: theme })).status).toBe(200);
    await waitFor(async () => (await call(b.url, 'GET', '/api/v1/branding', { host: 'label-d.localhost' })).body.custom === true, 'node B serving the new theme', 10_000);
    expect((await call(a.url, 'DELETE', '/api/v1/tenants/label-d/domains/label-d.localhost', { token: admin })).status).toBe(204);
    await waitFor(async () => (await tenantOn(b)) === 'default', 'node B forgetting the removed domain', 10_000);
  });
});
