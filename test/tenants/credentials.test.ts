// Credentials per tenant: tokens signed by a tenant's own identity provider (an HS256 secret, a JWKS
// of RS256 and ES256 keys) admitted for that tenant only and never as the operator; API keys created
// by the tenant's administrator, hashed at rest, scoped, rotated with an overlap, revoked on every
// node with their open sockets closed (4401).
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runVeza } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

type Problem = { status: number; detail: string };
type Reply = { status: number; type: string | null; body: Record<string, unknown> };

async function call(url: string, method: string, path: string, bearer: string, body?: unknown): Promise<Reply> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

interface Socket {
  status: number;
  body: string;
  socket: WebSocket | null;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

/** Opens a WebSocket with the credential as a `bearer.` subprotocol entry: 101 and the socket, or the refusal's status and body. */
function openSocket(url: string, path: string, credential: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`, ['veza', `bearer.${credential}`]);
    const closed = new Promise<{ code: number; reason: string; at: number }>((done) => socket.on('close', (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })));
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket: null, closed }));
    });
    socket.on('open', () => resolve({ status: 101, body: '', socket, closed }));
    socket.on('error', (error) => (error.message.includes('Unexpected server response') ? undefined : reject(error)));
  });
}

const hs256 = (secret: string, claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).setSubject('sam').setExpirationTime('1h').sign(new TextEncoder().encode(secret));

describe('tenant credentials on one server', () => {
  let server: TestServer;
  let operator: string;
  const SECRET_A = 'label-a-own-secret-label-a-own-secret';
  const me = (bearer: string) => call(server.url, 'GET', '/api/v1/me', bearer);
  const asOperator = (method: string, path: string, body?: unknown) => call(server.url, method, path, operator, body);

  beforeAll(async () => {
    server = await startTestServer();
    operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of ['label-a', 'label-b']) expect((await asOperator('POST', '/api/v1/platform/tenants', { id, name: id })).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('admits a token signed by a tenant\'s own HS256 secret for that tenant only, and never as the operator', async () => {
    const set = await asOperator('PUT', '/api/v1/platform/tenants/label-a/identity-provider', { hs256Secret: SECRET_A });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ tenantId: 'label-a', kind: 'hs256', platformTokens: true });
    expect(JSON.stringify(set.body)).not.toContain(SECRET_A);
    expect((await me(await hs256(SECRET_A, { tid: 'label-a' }))).body).toMatchObject({ userId: 'sam', tenantId: 'label-a' });
    expect((await openSocket(server.url, '/collab/a-song', await hs256(SECRET_A, { tid: 'label-a', docs: { '*': 'editor' } }))).status).toBe(101);
    // Naming another tenant: that tenant's keys (here the platform's) are used, and A's secret is not one of them.
    const naming = await me(await hs256(SECRET_A, { tid: 'label-b' }));
    expect(naming.status).toBe(401);
    expect((naming.body as Problem).detail).toBe('token signature is not valid');
    expect((await openSocket(server.url, '/collab/a-song', await hs256(SECRET_A, { tid: 'label-b' }))).status).toBe(401);
    const op = await me(await hs256(SECRET_A, { tid: 'label-a', op: true }));
    expect(op.status).toBe(401);
    expect((op.body as Problem).detail).toBe('a token signed by tenant label-a\'s identity provider cannot claim op');
    expect((await me(await hs256(SECRET_A, { op: true }))).status).toBe(401);
    // The platform's key still signs for the tenant, until the operator says otherwise.
    const platformToken = await server.veza.auth.sign({ sub: 'ops-user', tenant: 'label-a' });
    expect((await me(platformToken)).status).toBe(200);
    expect((await asOperator('PUT', '/api/v1/platform/tenants/label-a/identity-provider', { hs256Secret: SECRET_A, platformTokens: false })).status).toBe(200);
    const refused = await me(platformToken);
    expect(refused.status).toBe(401);
    expect((refused.body as Problem).detail).toBe('tenant label-a admits only tokens signed by its own identity provider');
    expect((await me(await hs256(SECRET_A, { tid: 'label-a' }))).status).toBe(200);
    expect((await asOperator('PUT', '/api/v1/platform/tenants/label-a/identity-provider', { hs256Secret: SECRET_A, platformTokens: true })).status).toBe(200);
  });

  it('verifies a JWKS tenant\'s RS256 and ES256 tokens by kid, and refuses bad JWKS documents with what is wrong', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('RS256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec-1' }] };
    const set = await asOperator('PUT', '/api/v1/platform/tenants/label-b/identity-provider', { jwks });
    expect(set.status).toBe(200);
    expect(set.body.keys).toEqual([
      { kid: 'rsa-1', alg: 'RS256' },
      { kid: 'ec-1', alg: 'ES256' },
    ]);
    const sign = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0], claims: Record<string, unknown> = { tid: 'label-b' }) =>
      new SignJWT(claims).setProtectedHeader({ alg, kid }).setSubject('bo').setExpirationTime('1h').sign(key);
    expect((await me(await sign('RS256', 'rsa-1', rsa.privateKey))).body).toMatchObject({ userId: 'bo', tenantId: 'label-b' });
    expect((await me(await sign('ES256', 'ec-1', ec.privateKey))).body).toMatchObject({ userId: 'bo', tenantId: 'label-b' });
    expect((await openSocket(server.url, '/collab/b-song', await sign('ES256', 'ec-1', ec.privateKey, { tid: 'label-b', docs: { '*': 'viewer' } }))).status).toBe(101);
    expect((await me(await sign('RS256', 'rsa-1', other.privateKey))).status).toBe(401);
    expect((await me(await sign('RS256', 'ec-1', rsa.privateKey))).status).toBe(401);
    expect((await me(await sign('ES256', 'ec-1', ec.privateKey, { tid: 'label-b', op: true }))).status).toBe(401);
    // B's key signs nothing for A.
    expect((await me(await sign('RS256', 'rsa-1', rsa.privateKey, { tid: 'label-a' }))).status).toBe(401);
    const priv = await exportJWK(rsa.privateKey);
    const withPrivate = await asOperator('PUT', '/api/v1/platform/tenants/label-b/identity-provider', { jwks: { keys: [{ ...priv, kid: 'p' }] } });
    expect(withPrivate.status).toBe(400);
    expect((withPrivate.body as Problem).detail).toBe('key p is a private key; give only the public keys');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const short = await asOperator('PUT', '/api/v1/platform/tenants/label-b/identity-provider', { jwks: { keys: [{ ...weak, kid: 'weak' }] } });
    expect((short.body as Problem).detail).toBe('key weak: an RSA key needs at least 2048 bits');
    const both = await asOperator('PUT', '/api/v1/platform/tenants/label-b/identity-provider', { jwks, hs256Secret: SECRET_A });
    expect((both.body as Problem).detail).toContain('give exactly one of hs256Secret and jwks');
    expect((await asOperator('PUT', '/api/v1/platform/tenants/nobody/identity-provider', { jwks })).status).toBe(404);
    const admin = await server.veza.auth.sign({ sub: 'bo', tenant: 'label-b', admin: true });
    expect((await call(server.url, 'PUT', '/api/v1/platform/tenants/label-b/identity-provider', admin, { jwks })).status).toBe(403);
  });

  it('closes the sockets of tokens that a new identity provider no longer verifies, and keeps the others open', { timeout: 90_000 }, async () => {
    expect((await asOperator('POST', '/api/v1/platform/tenants', { id: 'label-c', name: 'label-c' })).status).toBe(201);
    const old = await generateKeyPair('RS256', { extractable: true });
    const kept = await generateKeyPair('ES256', { extractable: true });
    const keptJwk = { ...(await exportJWK(kept.publicKey)), kid: 'kept' };
    expect((await asOperator('PUT', '/api/v1/platform/tenants/label-c/identity-provider', { jwks: { keys: [{ ...(await exportJWK(old.publicKey)), kid: 'old', alg: 'RS256' }, keptJwk] } })).status).toBe(200);
    const claims = { tid: 'label-c', docs: { '*': 'editor' } };
    const sign = (alg: string, kid: string, key: Parameters<SignJWT['sign']>[0]) => new SignJWT(claims).setProtectedHeader({ alg, kid }).setSubject('cy').setExpirationTime('1h').sign(key);
    const byOld = await openSocket(server.url, '/collab/c-song', await sign('RS256', 'old', old.privateKey));
    const byKept = await openSocket(server.url, '/collab/c-song', await sign('ES256', 'kept', kept.privateKey));
    const byPlatform = await openSocket(server.url, '/collab/c-song', await server.veza.auth.sign({ sub: 'cy-ops', tenant: 'label-c', docs: { '*': 'editor' } }));
    expect([byOld.status, byKept.status, byPlatform.status]).toEqual([101, 101, 101]);

    // The key `old` leaves the provider: its socket is closed; the others stay.
    expect((await asOperator('PUT', '/api/v1/platform/tenants/label-c/identity-provider', { jwks: { keys: [keptJwk] } })).status).toBe(200);
    expect(await byOld.closed).toMatchObject({ code: 4401, reason: "the tenant's identity provider changed; sign in again" });
    expect(byKept.socket!.readyState).toBe(WebSocket.OPEN);
    expect(byPlatform.socket!.readyState).toBe(WebSocket.OPEN);

    // The tenant stops admitting the platform's tokens: that socket goes too.
    expect((await asOperator('PUT', '/api/v1/platform/tenants/label-c/identity-provider', { jwks: { keys: [keptJwk] }, platformTokens: false })).status).toBe(200);
    expect((await byPlatform.closed).code).toBe(4401);
    expect(byKept.socket!.readyState).toBe(WebSocket.OPEN);
    byKept.socket!.close();
  });

  it('admits an API key within its scopes only, records its last use, and keeps no secret at rest', { timeout: 60_000 }, async () => {
    const admin = await server.veza.auth.sign({ sub: 'ann', tenant: 'label-a', admin: true });
    const created = await call(server.url, 'POST', '/api/v1/tenant/api-keys', admin, { name: 'ingest', scopes: ['events:read', 'collab:read'] });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    const key = created.body.key as { id: string };
    expect(secret).toMatch(/^vzk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect((await me(secret)).body).toMatchObject({ userId: `key:${key.id}`, tenantId: 'label-a', keyId: key.id, scopes: ['events:read', 'collab:read'] });
    const write = await call(server.url, 'POST', '/api/v1/events', secret, { type: 'track.liked', payload: { trackId: 't1' } });
    expect(write.status).toBe(403);
    expect(write.type).toContain('application/problem+json');
    expect((write.body as Problem).detail).toBe('this API key may only read events');
    const outside = await call(server.url, 'GET', '/api/v1/sessions', secret);
    expect(outside.status).toBe(403);
    expect((outside.body as Problem).detail).toBe('this API key\'s scopes do not include sessions');
    expect((await call(server.url, 'GET', '/api/v1/platform/tenants', secret)).status).toBe(403);
    expect((await call(server.url, 'POST', '/api/v1/tenant/api-keys', secret, { name: 'x', scopes: ['*:write'] })).status).toBe(403);
    // A read-only key follows a session (as a viewer, token in the query) and cannot change it.
    const reader = await connectClient(server.url, 'a-read-song', secret);
    const writer = await connectClient(server.url, 'a-read-song', await server.veza.auth.sign({ sub: 'ann', tenant: 'label-a', docs: { '*': 'editor' } }));
    const readOnly = async () => Number(/veza_collab_rejected_writes_total\{reason="read-only"\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    const refusedBefore = await readOnly();
    reader.doc.getText('t').insert(0, 'from the key');
    await waitFor(async () => (await readOnly()) > refusedBefore, 'the key\'s edit refused');
    writer.doc.getText('t').insert(0, 'from the editor');
    await waitFor(() => reader.doc.getText('t').toString().includes('from the editor'), 'the editor\'s edit reaching the key\'s socket');
    expect(writer.doc.getText('t').toString()).toBe('from the editor');
    reader.destroy();
    writer.destroy();
    const media = await openSocket(server.url, '/replay/a-song', secret);
    expect(media.status).toBe(403);
    expect((JSON.parse(media.body) as Problem).detail).toBe('this API key\'s scopes do not include replay');
    // Malformed, unknown and wrong keys are told apart.
    for (const [bad, detail] of [
      ['vzk_short', 'API key is malformed: expected vzk_<16 hex digits>_<43 base64url characters>'],
      [`vzk_0000000000000000_${'A'.repeat(43)}`, 'API key is not known'],
      [`vzk_${key.id}_${'A'.repeat(43)}`, 'API key secret is not valid'],
    ] as const) {
      const refused = await me(bad);
      expect(refused.status).toBe(401);
      expect((refused.body as Problem).detail).toBe(detail);
    }
    // Another tenant's administrator can neither see nor revoke it.
    const otherAdmin = await server.veza.auth.sign({ sub: 'bo', tenant: 'label-b', admin: true });
    expect((await call(server.url, 'GET', '/api/v1/tenant/api-keys', otherAdmin)).body).toEqual({ keys: [] });
    expect((await call(server.url, 'POST', `/api/v1/tenant/api-keys/${key.id}/revoke`, otherAdmin)).status).toBe(404);
    const row = await server.veza.storage.db.selectFrom('tenant_api_keys').selectAll().where('id', '=', key.id).executeTakeFirstOrThrow();
    const stored = JSON.stringify(row, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64url') : v));
    expect(stored).not.toContain(secret.slice(`vzk_${key.id}_`.length));
    expect(Buffer.from(row.hash).length).toBe(32);
    // Tenant-scoped queries (the application role) cannot read credentials at all, their own included.
    await expect(server.veza.storage.withTenant('label-a', (trx) => trx.selectFrom('tenant_api_keys').select('id').execute())).rejects.toThrow(/permission denied/);
    const listed = await call(server.url, 'GET', '/api/v1/tenant/api-keys', admin);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    await waitFor(
      async () => (await server.veza.storage.db.selectFrom('tenant_api_keys').select('last_used_at').where('id', '=', key.id).executeTakeFirstOrThrow()).last_used_at,
      'the last use written to the database',
      20_000,
    );
    expect((listed.body.keys as { lastUsedAt: string | null }[])[0]!.lastUsedAt).not.toBeNull();
  });

  it('keeps a rotated secret valid until its overlap ends, then refuses it and closes its sockets', { timeout: 60_000 }, async () => {
    const admin = await server.veza.auth.sign({ sub: 'ann', tenant: 'label-a', admin: true });
    const created = await call(server.url, 'POST', '/api/v1/tenant/api-keys', admin, { name: 'mixer', scopes: ['collab:write', 'me:read'] });
    const old = created.body.secret as string;
    const id = (created.body.key as { id: string }).id;
    const rotated = await call(server.url, 'POST', `/api/v1/tenant/api-keys/${id}/rotate`, admin, { overlapSeconds: 4 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret as string;
    expect(fresh).not.toBe(old);
    expect((rotated.body.key as { version: number }).version).toBe(2);
    const socket = await openSocket(server.url, '/collab/a-song', old);
    expect(socket.status).toBe(101);
    expect((await me(old)).status).toBe(200);
    expect((await me(fresh)).status).toBe(200);
    const closed = await socket.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toBe('the API key was revoked or its secret rotated');
    const refused = await me(old);
    expect(refused.status).toBe(401);
    expect((refused.body as Problem).detail).toBe('API key secret was rotated and its overlap has ended');
    expect((await me(fresh)).status).toBe(200);
  });

  it('refuses the keys of a suspended tenant at requests and upgrades', async () => {
    const created = await asOperator('POST', '/api/v1/platform/tenants/label-b/api-keys', { name: 'ops-made', scopes: ['*:read'] });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect((await me(secret)).status).toBe(200);
    expect((await asOperator('POST', '/api/v1/platform/tenants/label-b/suspend')).status).toBe(200);
    const refused = await me(secret);
    expect(refused.status).toBe(403);
    expect((refused.body as Problem).detail).toBe('tenant label-b is suspended');
    expect((await openSocket(server.url, '/collab/b-song', secret)).status).toBe(403);
    expect((await asOperator('POST', '/api/v1/platform/tenants/nobody/api-keys', { name: 'x', scopes: ['*:read'] })).status).toBe(404);
    expect((await asOperator('POST', '/api/v1/platform/tenants/label-a/api-keys', { name: 'x', scopes: ['everything'] })).status).toBe(400);
  });
});

describe('the tenant credentials CLI', () => {
  const data = tempDir('credentials-cli');
  afterAll(() => data.remove());

  it('creates, rotates and revokes API keys and sets the identity provider in the database of its flags', { timeout: 180_000 }, async () => {
    const flags = ['--data-dir', data.dir];
    expect((await runVeza(['tenant', 'create', 'label-d', '--name', 'Label D', ...flags])).code).toBe(0);
    const created = await runVeza(['tenant', 'key', 'create', 'label-d', '--name', 'box', '--scopes', 'collab:write,events:read', ...flags]);
    expect(created.code).toBe(0);
    const { key, secret } = JSON.parse(created.stdout) as { key: { id: string; scopes: string[] }; secret: string };
    expect(key.scopes).toEqual(['collab:write', 'events:read']);
    const rotated = await runVeza(['tenant', 'key', 'rotate', key.id, '--overlap', '0', ...flags]);
    const fresh = (JSON.parse(rotated.stdout) as { secret: string }).secret;
    const secretFile = path.join(data.dir, 'label-d.secret');
    writeFileSync(secretFile, 'label-d-own-secret-label-d-own-secret\n');
    const provider = await runVeza(['tenant', 'credentials', 'label-d', '--hs256-secret-file', secretFile, ...flags]);
    expect(JSON.parse(provider.stdout)).toMatchObject({ tenantId: 'label-d', kind: 'hs256', platformTokens: true });
    expect(provider.stdout).not.toContain('label-d-own-secret');
    const badScope = await runVeza(['tenant', 'key', 'create', 'label-d', '--name', 'x', '--scopes', 'collab', ...flags]);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain('tenant key create refused: scopes.0: a scope is <area>:read or <area>:write');
    const unknown = await runVeza(['tenant', 'key', 'revoke', '0000000000000000', ...flags]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no API key 0000000000000000');
    let server = await startTestServer({ 'data-dir': data.dir });
    try {
      expect((await call(server.url, 'GET', '/api/v1/me', fresh)).body).toMatchObject({ tenantId: 'label-d', keyId: key.id });
      expect((await call(server.url, 'GET', '/api/v1/me', secret)).status).toBe(401);
      expect((await call(server.url, 'GET', '/api/v1/me', await hs256('label-d-own-secret-label-d-own-secret', { tid: 'label-d' }))).status).toBe(200);
    } finally {
      await server.stop();
    }
    expect((await runVeza(['tenant', 'key', 'revoke', key.id, ...flags])).code).toBe(0);
    const list = JSON.parse((await runVeza(['tenant', 'key', 'list', 'label-d', ...flags])).stdout) as { keys: { id: string; revokedAt: string | null; lastUsedAt: string | null }[] };
    expect(list.keys).toMatchObject([{ id: key.id, revokedAt: expect.any(String), lastUsedAt: expect.any(String) }]);
    server = await startTestServer({ 'data-dir': data.dir });
    try {
      const refused = await call(server.url, 'GET', '/api/v1/me', fresh);
      expect(refused.status).toBe(401);
      expect((refused.body as Problem).detail).toBe('API key was revoked');
    } finally {
      await server.stop();
    }
  });
});

const cluster = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!cluster)('API key revocation on two nodes sharing PostgreSQL and Redis', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const nodes: TestServer[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    const flags = { 'database-url': db.url, 'redis-url': REDIS_URL, 'events-stream': redisPrefix('credentials'), 'jwt-secret': 'credentials-test-secret-credentials-test' };
    nodes.push(await startTestServer(flags), await startTestServer(flags));
  }, 60_000);
  afterAll(async () => {
    for (const node of nodes) await node.stop();
    await db?.drop();
  });

  it('closes on the other node the socket a revoked key opened, with 4401, and refuses the key there', { timeout: 60_000 }, async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    const operator = await a.veza.auth.sign({ sub: 'ops', operator: true });
    expect((await call(a.url, 'POST', '/api/v1/platform/tenants', operator, { id: 'label-c', name: 'Label C' })).status).toBe(201);
    const created = await call(a.url, 'POST', '/api/v1/platform/tenants/label-c/api-keys', operator, { name: 'studio', scopes: ['collab:write', 'me:read'] });
    const secret = created.body.secret as string;
    const id = (created.body.key as { id: string }).id;
    const socket = await waitFor(async () => {
      const opened = await openSocket(b.url, '/collab/c-song', secret);
      return opened.status === 101 ? opened : undefined;
    }, 'node B admitting the new key');
    const revokedAt = Date.now();
    expect((await call(a.url, 'POST', `/api/v1/platform/tenants/label-c/api-keys/${id}/revoke`, operator)).body).toMatchObject({ id, revokedAt: expect.any(String) });
    const closed = await socket.closed;
    expect(closed.code).toBe(4401);
    console.log(`revocation closed the socket on the other node ${closed.at - revokedAt} ms after the request was sent`);
    const refused = await call(b.url, 'GET', '/api/v1/me', secret);
    expect(refused.status).toBe(401);
    expect((refused.body as Problem).detail).toBe('API key was revoked');
  });
});
