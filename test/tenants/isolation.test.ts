// Tenant isolation, end to end: every HTTP route and every WebSocket path the server registers is
// called with tenant B's credentials (its tokens and its API keys) on tenant A's ids (real ones read
// from A's rows, and guessed ones); nothing of A may come back, and no row of A may change, A's
// metered usage included (B's calls and sockets are counted as B's). The server runs on PostgreSQL
// as a login role without SUPERUSER or BYPASSRLS, as production should: what isolates tenants is
// row-level security, not the application's care alone. Routes and paths are read from the routers,
// so one added later is called too (or the suite fails naming the parameter it cannot fill).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantsModule } from '../../src/tenants/module.js';
import { tenantTables } from '../../src/tenants/tenant-data.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, POSTGRES_URL, postgresAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

const A = 'tenant-a';
const B = 'tenant-b';
/** Strings only tenant A's data holds: none may reach B. */
const A_MARKERS: readonly string[] = ['alpha-secret-text', 'alpha-tip-note', 'ann-alpha', 'fan-alpha', 'alpha-hook.example', 'alpha recording bytes', 'alpha-key-name', 'music.alpha-label.example'];
/** A's domain, added through the domain API (unverified: it claims no host). */
const A_DOMAIN = 'music.alpha-label.example';
/** A month, as invoice routes name periods. */
const month = (offset: number) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1)).toISOString().slice(0, 7);
};
/** A deterministic sample of a list: every few, so that the number of calls stays bounded as data grows. */
const sample = <T>(list: T[], most: number): T[] => (list.length <= most ? list : list.filter((_, i) => i % Math.ceil(list.length / most) === 0));

// Skips with the reason printed where PostgreSQL is absent; CI (REQUIRE_SERVICES=1) fails instead.
const available = await postgresAvailable();

describe.skipIf(!available)('tenant isolation on every route, as a role without BYPASSRLS', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: TestServer;
  let admin: pg.Client;
  let operator: string;
  let aKey: { id: string; secret: string };
  /** A_MARKERS, with A's API key secret and its domain's verification token. */
  const markers = [...A_MARKERS];
  const bKeys: Record<string, string> = {};
  const sign = (sub: string, tenant: string, extra: { admin?: boolean } = {}) => server.veza.auth.sign({ sub, tenant, docs: { '*': 'owner' }, ...extra });
  const call = async (method: string, url: string, credential: string, body?: unknown) => {
    const response = await fetch(`${server.url}${url}`, { method, headers: { authorization: `Bearer ${credential}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> | null };
  };

  /**
   * Every row of A in every table with tenant_id, and A's tenant row, as one hash per table (read as
   * the cluster's superuser). Usage is metered: what A's own setup did (its API calls, its sockets'
   * time) is written to A's tenant_usage every 5 s, so the meter is settled first: from then on a
   * change of A's usage is counting someone else's activity under A. Of tenant_usage, the
   * `published` flag is left out: the platform sets it when a minute has ended, whoever did anything.
   */
  async function rowsOfA(): Promise<Record<string, string>> {
    await settleUsage();
    const out: Record<string, string> = {};
    const tables = await tenantTables(server.veza.storage);
    for (const table of [...tables, 'tenants']) {
      const column = table === 'tenants' ? 'id' : 'tenant_id';
      const { rows } = await admin.query(`SELECT * FROM ${table} WHERE ${column} = $1`, [A]);
      const kept = (rows as Record<string, unknown>[]).map((row) => (table === 'tenant_usage' ? { ...row, published: undefined } : row));
      out[table] = `${rows.length}:${createHash('sha256').update(kept.map((r) => JSON.stringify(r)).sort().join('\n')).digest('hex')}`;
    }
    return out;
  }

  /** Writes what the meter holds: the second run starts after the first (a periodic one may be running), so it holds everything done before. */
  async function settleUsage(): Promise<void> {
    const { metering } = server.veza.modules.api(tenantsModule);
    await metering.settle();
    await metering.settle();
  }

  /** A tenant's metered totals, per metric, as written (settle first). */
  async function usageOf(tenant: string): Promise<Record<string, number>> {
    const { rows } = await admin.query('SELECT metric, sum(quantity)::float8 AS total FROM tenant_usage WHERE tenant_id = $1 GROUP BY metric', [tenant]);
    return Object.fromEntries((rows as { metric: string; total: number }[]).map((r) => [r.metric, r.total]));
  }

  beforeAll(async () => {
    db = await createTestDatabase({ restrictedOwner: true });
    server = await startTestServer({ 'database-url': db.url, 'collab-unload-delay-ms': '100', 'rate-limit-requests-per-minute': '0', 'rate-limit-connections-per-minute': '0', 'ws-messages-per-second': '0' });
    const adminUrl = new URL(db.url);
    adminUrl.username = new URL(POSTGRES_URL).username;
    admin = new pg.Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of [A, B]) {
      const created = await fetch(`${server.url}/api/v1/platform/tenants`, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, body: JSON.stringify({ id, name: id }) });
      expect(created.status).toBe(201);
    }
    // Tenant A's data, made through the API and the sockets where they allow it.
    const ann = await sign('ann-alpha', A);
    const client = await connectClient(server.url, 'alpha-song', ann);
    client.doc.getText('t').insert(0, 'alpha-secret-text');
    await waitFor(async () => (await admin.query('SELECT 1 FROM document_updates WHERE tenant_id = $1', [A])).rowCount! > 0, 'A\'s edit stored', 20_000);
    client.destroy();
    const tip = await fetch(`${server.url}/api/v1/live/alpha-stage/tips`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign('fan-alpha', A)}`, 'content-type': 'application/json', 'idempotency-key': 'alpha-tip-1' },
      body: JSON.stringify({ toUserId: 'ann-alpha', amount: 700, currency: 'EUR', message: 'alpha-tip-note' }),
    });
    expect(tip.status).toBe(201);
    const hook = await fetch(`${server.url}/api/v1/insights/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign('ann-alpha', A, { admin: true })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ creator_id: 'ann-alpha', url: 'https://alpha-hook.example/x' }),
    });
    expect(hook.status).toBe(201);
    // A finished recording (the media plane may be absent here): its row and its file, as the recorder leaves them.
    const relative = path.join('media', A, 'recording', 'alpha-stage', 'alpha-rec.webm');
    mkdirSync(path.dirname(path.join(server.config.storage.dataDir, relative)), { recursive: true });
    writeFileSync(path.join(server.config.storage.dataDir, relative), 'alpha recording bytes');
    await server.veza.storage.withTenant(A, (trx) =>
      trx
        .insertInto('media_outputs')
        .values({ id: 'alpha-rec', tenant_id: A, room_id: 'alpha-stage', kind: 'recording', status: 'finished', started_by: 'ann-alpha', started_at: new Date(), ended_at: new Date(), path: relative, tracks: '[]', bytes: 21, duration_ms: 1000, error: null })
        .execute(),
    );
    // A's credentials and domain, made by A's administrator; B's API keys, made by B's: one for every
    // area and one that may only read.
    const aAdmin = await sign('ann-alpha', A, { admin: true });
    const made = await call('POST', '/api/v1/tenant/api-keys', aAdmin, { name: 'alpha-key-name', scopes: ['*:write'] });
    expect(made.status).toBe(201);
    aKey = { id: (made.body!.key as { id: string }).id, secret: made.body!.secret as string };
    const domain = await call('POST', `/api/v1/tenants/${A}/domains`, aAdmin, { domain: A_DOMAIN });
    expect(domain.status).toBe(201);
    markers.push(aKey.secret, domain.body!.token as string);
    const bAdmin = await sign('boss-bravo', B, { admin: true });
    for (const [name, scopes] of [['write', ['*:write']], ['read', ['*:read']]] as const) {
      const key = await call('POST', '/api/v1/tenant/api-keys', bAdmin, { name: `bravo-${name}`, scopes });
      expect(key.status).toBe(201);
      bKeys[`${name} key`] = key.body!.secret as string;
    }
    // What A's own edit leads to on its own (the document's snapshot when it unloads, the co-editing
    // signal its event feeds) is written before the suite looks, so that any later change of A's rows is B's doing.
    const derived = async () =>
      (await admin.query('SELECT (SELECT count(*) FROM document_snapshots WHERE tenant_id = $1) AS s, (SELECT count(*) FROM rec_coedits WHERE tenant_id = $1) AS c, (SELECT count(*) FROM session_versions WHERE tenant_id = $1) AS v', [A])).rows[0] as { s: string; c: string; v: string };
    await waitFor(async () => {
      const { s, c, v } = await derived();
      return Number(s) > 0 && Number(c) > 0 && Number(v) > 0;
    }, 'A\'s snapshot, co-editing signal and session-end version', 30_000);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await server?.stop();
    await db?.drop();
  });

  it('runs as a role that is neither superuser nor exempt from row-level security', async () => {
    const role = await sql<{ rolsuper: boolean; rolbypassrls: boolean }>`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`.execute(server.veza.storage.db);
    expect(role.rows).toEqual([{ rolsuper: false, rolbypassrls: false }]);
  });

  it('gives tenant B nothing of A on any HTTP route, whatever id of A it names, and changes no row of A', { timeout: 300_000 }, async () => {
    const before = await rowsOfA();
    const usageBefore = { a: await usageOf(A), b: await usageOf(B) };
    // A's ids, read from its rows: every id-like column of every table (and guessed neighbours of them).
    const ids = new Set<string>(['alpha-song', 'alpha-stage', 'alpha-rec', 'ann-alpha', A]);
    for (const table of await tenantTables(server.veza.storage)) {
      const { rows } = await admin.query(`SELECT * FROM ${table} WHERE tenant_id = $1 LIMIT 20`, [A]);
      for (const row of rows as Record<string, unknown>[]) {
        for (const [column, value] of Object.entries(row)) {
          if ((column === 'id' || column.endsWith('_id')) && column !== 'tenant_id' && typeof value === 'string' && value.length <= 200) ids.add(value);
        }
      }
    }
    expect(ids).toContain(aKey.id);
    // All of A's real ids; of the guessed ones, a sample.
    const generic = [...ids, ...sample([...ids].map((id) => `${id}-2`), 8), '1', '2', 'alpha-guess'];
    // Parameters with a form of their own: A's real value first, then guesses.
    const specific: Record<string, string[]> = {
      key: [aKey.id, `${aKey.id.slice(0, -1)}${aKey.id.endsWith('0') ? '1' : '0'}`, '1'],
      domain: [A_DOMAIN, `www.${A_DOMAIN}`, 'alpha-guess.example'],
      tenant: [A, `${A}-2`, 'alpha-guess'],
      period: [month(0), month(-1), '1999-01', 'alpha-guess'],
      vid: [...((await admin.query('SELECT id::text FROM session_versions WHERE tenant_id = $1', [A])).rows as { id: string }[]).map((r) => r.id), '1', '2'],
    };
    // Where a route has several parameters, one varies while the others name A's real things.
    const anchors: Record<string, string> = { id: 'alpha-rec', room: 'alpha-stage', doc: 'alpha-song' };
    const anchor = (param: string, pattern: string): string => specific[param]?.[0] ?? (param === 'id' && pattern.includes('/tenants/:id') ? A : (anchors[param] ?? 'ann-alpha'));
    const credentials: Record<string, string> = { user: await sign('bob-bravo', B), admin: await sign('boss-bravo', B, { admin: true }), ...bKeys };
    expect(Object.keys(credentials)).toEqual(['user', 'admin', 'write key', 'read key']);
    const routes = server.veza.server.http.registered;
    expect(routes.length).toBeGreaterThan(40);
    const fillable = new Set(['id', 'doc', 'room', 'user', 'metric', 'creator', 'file', 'cid', 'contract', 'tokenId', ...Object.keys(specific)]);
    const leaks: string[] = [];
    const errors: string[] = [];
    const byCredential = Object.fromEntries(Object.keys(credentials).map((who) => [who, new Set<number>()]));
    let calls = 0;
    let admittedAnswers = 0;
    for (const route of routes) {
      const params = [...route.pattern.matchAll(/:(\w+)/g)].map((m) => m[1]!);
      const unknown = params.filter((p) => !fillable.has(p));
      expect(unknown, `route ${route.method} ${route.pattern} has parameters the isolation suite cannot fill; add them to its list`).toEqual([]);
      const urls = new Set<string>(params.length === 0 ? [route.pattern] : []);
      for (const param of params) {
        for (const value of specific[param] ?? generic) {
          urls.add(route.pattern.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(name === param ? value : anchor(name, route.pattern))));
        }
      }
      for (const url of urls) {
        for (const [who, credential] of Object.entries(credentials)) {
          const body = route.method === 'GET' ? undefined : '{}';
          const response = await fetch(`${server.url}${url}`, { method: route.method, headers: { authorization: `Bearer ${credential}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body } : {}) });
          const text = await response.text();
          calls++;
          byCredential[who]!.add(response.status);
          if (route.auth === 'required' && response.status < 300) admittedAnswers++;
          // A module that is off here (digital ownership without a configured chain) says so with 503: not a failure.
          const off = response.status === 503 && text.includes('urn:veza:problem:nft-unavailable');
          if (response.status >= 500 && !off) errors.push(`${route.method} ${url} as B's ${who}: ${response.status} ${text.slice(0, 200)}`);
          const found = markers.filter((m) => text.includes(m) && !url.includes(m));
          if (found.length > 0) leaks.push(`${route.method} ${url} as B's ${who}: ${response.status} holds ${found.join(', ')}`);
        }
      }
    }
    expect(leaks).toEqual([]);
    expect(errors).toEqual([]);
    expect(calls).toBeGreaterThan(routes.length * 4);
    // Every credential of B was admitted somewhere (a refused key would test nothing), and the read-only key was refused writes.
    for (const who of Object.keys(credentials)) expect([...byCredential[who]!].some((status) => status < 300), `B's ${who} admitted`).toBe(true);
    expect(byCredential['read key']).toContain(403);
    const after = await rowsOfA();
    // Metering counted B's calls, all under B: none of them is in A's usage.
    const usageAfter = { a: await usageOf(A), b: await usageOf(B) };
    expect(usageAfter.a).toEqual(usageBefore.a);
    expect(admittedAnswers).toBeGreaterThan(0);
    expect((usageAfter.b.api_calls ?? 0) - (usageBefore.b.api_calls ?? 0)).toBeGreaterThanOrEqual(admittedAnswers);
    expect(after).toEqual(before);
    // A's own credential does see its data on the same routes: the markers are findable at all.
    const own = await fetch(`${server.url}/api/v1/live/alpha-stage/tips`, { headers: { authorization: `Bearer ${await sign('ann-alpha', A)}` } });
    expect(await own.text()).toContain('alpha-tip-note');
  });

  it('gives tenant B nothing of A on any WebSocket path, and B\'s writes on A\'s document ids stay B\'s', { timeout: 120_000 }, async () => {
    const before = await rowsOfA();
    const usageBefore = await usageOf(A);
    const token = await sign('bob-bravo', B);
    const credentials: Record<string, string> = { user: token, ...bKeys };
    const paths = server.veza.server.ws.registered;
    expect(paths).toContain('/collab/:doc');
    const received: { where: string; value: string; frame: string }[] = [];
    const opened = new Set<string>();
    for (const pattern of paths) {
      for (const value of ['alpha-song', 'alpha-stage', 'ann-alpha', 'points']) {
        const url = `${server.url.replace('http', 'ws')}${pattern.replace(/:(\w+)/g, value)}`;
        // B's credentials side by side: each socket is B's alone, so they may as well be open at once.
        await Promise.all(
          Object.entries(credentials).map(
            ([who, credential]) =>
              new Promise<void>((resolve) => {
                const socket = new WebSocket(url, ['veza', `bearer.${credential}`]);
                socket.on('message', (data: Buffer) => received.push({ where: `${pattern} with ${value} as B's ${who}`, value, frame: data.toString('latin1') }));
                socket.on('unexpected-response', (_req, res) => {
                  res.resume();
                  resolve();
                });
                socket.on('error', () => resolve());
                socket.on('close', () => resolve());
                // What the server sends on opening comes in this window; then the socket is closed.
                socket.on('open', () => {
                  opened.add(who);
                  setTimeout(() => socket.close(), 300);
                });
              }),
          ),
        );
      }
    }
    // A marker B named itself in the path (a room echoed back) is no leak.
    expect(received.filter(({ value, frame }) => markers.some((m) => m !== value && frame.includes(m))).map((r) => `${r.where}: ${r.frame}`)).toEqual([]);
    expect(received.length).toBeGreaterThan(0);
    expect([...opened].sort()).toEqual(Object.keys(credentials).sort());
    // B's collaborator on A's document id gets B's own, empty document; what it writes stays in B.
    const bob = await connectClient(server.url, 'alpha-song', token);
    expect(bob.doc.getText('t').toString()).toBe('');
    bob.doc.getText('t').insert(0, 'bravo writes');
    await waitFor(async () => (await admin.query('SELECT 1 FROM document_updates WHERE tenant_id = $1', [B])).rowCount! > 0, 'B\'s edit stored', 20_000);
    bob.destroy();
    const after = await rowsOfA();
    // B's sockets' time and bytes are B's usage, none of it A's.
    expect(await usageOf(A)).toEqual(usageBefore);
    expect(after).toEqual(before);
    const ann = await connectClient(server.url, 'alpha-song', await sign('ann-alpha', A));
    expect(ann.doc.getText('t').toString()).toBe('alpha-secret-text');
    ann.destroy();
  });

  it('takes A\'s API key, naming B\'s things, for A\'s own: nothing of B comes back, nothing of B changes', { timeout: 60_000 }, async () => {
    const tip = await fetch(`${server.url}/api/v1/live/bravo-stage/tips`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await sign('fan-bravo', B)}`, 'content-type': 'application/json', 'idempotency-key': 'bravo-tip-1' },
      body: JSON.stringify({ toUserId: 'bob-bravo', amount: 300, currency: 'EUR', message: 'bravo-tip-note' }),
    });
    expect(tip.status).toBe(201);
    // B's own credential sees it: the note is findable at all.
    expect(await (await fetch(`${server.url}/api/v1/live/bravo-stage/tips`, { headers: { authorization: `Bearer ${await sign('bob-bravo', B)}` } })).text()).toContain('bravo-tip-note');
    const bKeyIds = ((await call('GET', '/api/v1/tenant/api-keys', await sign('boss-bravo', B, { admin: true }))).body!.keys as { id: string }[]).map((k) => k.id);
    expect(bKeyIds).toHaveLength(2);
    // A's key is admitted, as A's.
    expect((await call('GET', '/api/v1/me', aKey.secret)).body).toMatchObject({ tenantId: A, keyId: aKey.id });
    const tips = await fetch(`${server.url}/api/v1/live/bravo-stage/tips`, { headers: { authorization: `Bearer ${aKey.secret}` } });
    expect(tips.status).toBeLessThan(500);
    expect(await tips.text()).not.toContain('bravo-tip-note');
    for (const id of bKeyIds) expect((await call('POST', `/api/v1/tenant/api-keys/${id}/revoke`, aKey.secret)).status).toBe(403);
    expect((await call('GET', `/api/v1/platform/tenants/${B}/api-keys`, aKey.secret)).status).toBe(403);
    expect((await call('GET', `/api/v1/tenants/${B}/domains`, aKey.secret)).status).toBe(403);
    // B's keys still work.
    for (const secret of Object.values(bKeys)) expect((await call('GET', '/api/v1/me', secret)).body).toMatchObject({ tenantId: B });
  });
});
