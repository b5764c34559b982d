// Deleting a tenant: only the operator, never the default tenant; the tenant is refused (403, its
// sockets closed with 4403) while its export archive is written; the archive holds its rows, its
// documents' states and its files and nothing of another tenant; resume during the grace period
// cancels; after the grace period every row and file of the tenant is gone and the others' are
// intact. The CLI does the same with and without a server running on the embedded database.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { tenantTables } from '../../src/tenants/tenant-data.js';
import { runVeza } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

type Json = Record<string, unknown>;

/** Rows of each tenant table for `tenant`, as JSON text (to compare before and after). */
async function rowsOf(server: TestServer, tenant: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of await tenantTables(server.veza.storage)) {
    const result = await sql<Json>`SELECT * FROM ${sql.table(table)} WHERE tenant_id = ${tenant}`.execute(server.veza.storage.db);
    out[table] = result.rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

function extract(archive: Buffer): string {
  const dir = tempDir('tenant-export').dir;
  writeFileSync(path.join(dir, 'a.tar.gz'), archive);
  mkdirSync(path.join(dir, 'x'));
  execFileSync('tar', ['-xzf', path.join(dir, 'a.tar.gz'), '-C', path.join(dir, 'x')]);
  return path.join(dir, 'x');
}

describe('deleting a tenant', () => {
  let server: TestServer;
  let operator: string;
  const token = (sub: string, tenant: string, extra: { admin?: boolean } = {}) => server.veza.auth.sign({ sub, tenant, docs: { '*': 'owner' }, ...extra });
  const call = async (method: string, route: string, bearer: string, body?: unknown) => {
    const response = await fetch(`${server.url}${route}`, { method, headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const buffer = Buffer.from(await response.arrayBuffer());
    const type = response.headers.get('content-type') ?? '';
    return { status: response.status, type, buffer, body: (type.includes('json') ? JSON.parse(buffer.toString()) : {}) as Json };
  };
  const deletion = (tenant: string) => call('GET', `/api/v1/platform/tenants/${tenant}/deletion`, operator);
  const tip = async (tenant: string, from: string) => {
    const response = await fetch(`${server.url}/api/v1/live/stage/tips`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token(from, tenant)}`, 'content-type': 'application/json', 'idempotency-key': `${tenant}-${from}` },
      body: JSON.stringify({ toUserId: 'artist', amount: 500, currency: 'EUR' }),
    });
    return response.status;
  };
  /** A document with text, a tip and a recording file for `tenant`. */
  const fill = async (tenant: string, text: string) => {
    const client = await connectClient(server.url, `${tenant}-song`, await token('ann', tenant));
    client.doc.getText('t').insert(0, text);
    await waitFor(async () => {
      await server.veza.collab.writer.flush();
      return (await server.veza.storage.db.selectFrom('document_updates').select('id').where('tenant_id', '=', tenant).execute()).length > 0;
    }, `${tenant}'s update stored`, 20_000);
    client.destroy();
    // What the edit leads to on its own (the co-editing signal) is written before the tests compare rows.
    await waitFor(async () => (await server.veza.storage.db.selectFrom('rec_coedits').select('tenant_id').where('tenant_id', '=', tenant).execute()).length > 0, `${tenant}'s co-editing signal`, 30_000);
    expect(await tip(tenant, 'fan')).toBe(201);
    const relative = path.join('media', tenant, 'recording', 'stage', 'r1.webm');
    mkdirSync(path.dirname(path.join(server.config.storage.dataDir, relative)), { recursive: true });
    writeFileSync(path.join(server.config.storage.dataDir, relative), `${tenant} recording`);
    await server.veza.storage.withTenant(tenant, (trx) =>
      trx
        .insertInto('media_outputs')
        .values({ id: `${tenant}-r1`, tenant_id: tenant, room_id: 'stage', kind: 'recording', status: 'finished', started_by: 'ann', started_at: new Date(), ended_at: new Date(), path: relative, tracks: '[]', bytes: 20, duration_ms: 1000, error: null })
        .execute(),
    );
    // A creator's alert hook, with the secret it signs with: the archive keeps the hook, not the secret.
    await server.veza.storage.withTenant(tenant, (trx) =>
      trx.insertInto('ins_webhooks').values({ tenant_id: tenant, id: `${tenant}-hook`, creator_id: 'ann', url: 'https://example.com/alerts', secret: `${tenant}-signing-key-0123456789`, created_at: new Date() }).execute(),
    );
  };

  beforeAll(async () => {
    // Updates reach the database only when flushed, or within a minute, and documents stay loaded as long
    // (no snapshot at unload): the export must store what was accepted itself.
    server = await startTestServer({ 'collab-unload-delay-ms': '60000', 'collab-store-ms': '60000' });
    operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of ['label-a', 'label-b']) expect((await call('POST', '/api/v1/platform/tenants', operator, { id, name: id })).status).toBe(201);
    await fill('label-a', 'alpha content');
    await fill('label-b', 'bravo content');
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('is refused for the default tenant (409) and for anyone but the operator (403)', async () => {
    const refused = await call('DELETE', '/api/v1/platform/tenants/default', operator);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toBe('the default tenant cannot be deleted');
    expect((await call('DELETE', '/api/v1/platform/tenants/label-a', await token('boss', 'label-a', { admin: true }))).status).toBe(403);
    expect((await call('DELETE', '/api/v1/platform/tenants/label-a', await token('ann', 'default'))).status).toBe(403);
    expect((await call('DELETE', '/api/v1/platform/tenants/nobody', operator)).status).toBe(404);
    expect((await call('DELETE', '/api/v1/platform/tenants/label-a', operator, { graceSeconds: -1 })).status).toBe(400);
    expect((await call('GET', '/api/v1/me', await token('ann', 'label-a'))).status).toBe(200);
  });

  it('refuses the tenant and closes its sockets, writes one archive of its data only, and is cancelled by resume', { timeout: 60_000 }, async () => {
    const ann = await token('ann', 'label-a');
    const client = await connectClient(server.url, 'label-a-song', ann);
    const watcher = await connectClient(server.url, 'label-a-song', await token('cat', 'label-a'));
    // An edit accepted just before the deletion, not yet in the database: the export still holds it.
    client.doc.getText('t').insert(0, 'late ');
    await waitFor(() => watcher.doc.getText('t').toString().startsWith('late '), 'the late edit accepted');
    watcher.destroy();
    const closed = new Promise<{ code: number; reason: string }>((resolve) => client.provider.ws?.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
    const started = await call('DELETE', '/api/v1/platform/tenants/label-a', operator, { graceSeconds: 3600 });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ tenant: 'label-a', state: 'exporting', requestedBy: 'ops', graceSeconds: 3600 });
    expect(await closed).toEqual({ code: 4403, reason: 'tenant label-a is being deleted' });
    client.destroy();
    const refused = await call('GET', '/api/v1/me', ann);
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toBe('tenant label-a is being deleted');
    expect((await call('DELETE', '/api/v1/platform/tenants/label-a', operator)).status).toBe(409);
    expect((await call('POST', '/api/v1/platform/tenants/label-a/suspend', operator)).status).toBe(409);

    const pending = await waitFor(async () => {
      const d = await deletion('label-a');
      return d.body.state === 'pending' ? d.body : false;
    }, 'the export to be written', 30_000);
    expect(pending.archive).toMatch(/^exports\/label-a-.*\.tar\.gz$/);
    expect(Date.parse(pending.purgeAfter as string) - Date.parse(pending.requestedAt as string)).toBeGreaterThanOrEqual(3_599_000);
    const download = await call('GET', '/api/v1/platform/tenants/label-a/export', operator);
    expect(download.status).toBe(200);
    expect(download.type).toBe('application/gzip');
    expect(download.buffer.length).toBe(pending.archiveBytes);
    expect((await call('GET', '/api/v1/platform/tenants/label-a/export', await token('boss', 'label-b', { admin: true }))).status).toBe(403);

    const dir = extract(download.buffer);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { tenant: { id: string }; tables: Record<string, number>; redacted: string[]; documents: { id: string }[]; files: { path: string }[] };
    expect(manifest.tenant.id).toBe('label-a');
    expect(manifest.documents.map((d) => d.id)).toEqual(['label-a-song']);
    expect(manifest.files.map((f) => f.path)).toEqual(['media/label-a/recording/stage/r1.webm']);
    expect(manifest.tables.tips).toBe(1);
    expect(manifest.tables.document_updates).toBeGreaterThan(0);
    // Every table with tenant_id has its file, holding only label-a's rows (as many as the manifest says).
    const tables = await tenantTables(server.veza.storage);
    expect(readdirSync(path.join(dir, 'tables')).sort()).toEqual(tables.map((t) => `${t}.jsonl`).sort());
    for (const table of tables) {
      const lines = readFileSync(path.join(dir, 'tables', `${table}.jsonl`), 'utf8').split('\n').filter(Boolean);
      expect(lines.length, table).toBe(manifest.tables[table]);
      for (const line of lines) expect((JSON.parse(line) as Json).tenant_id, table).toBe('label-a');
    }
    const all = execFileSync('tar', ['-xzOf', '-'], { input: download.buffer }).toString('latin1');
    // Signing secrets are replaced, and the manifest names every such column.
    expect(manifest.redacted).toEqual(expect.arrayContaining(['ins_webhooks.secret', 'tenant_identity_providers.hs256_secret', 'wh_endpoints.secrets']));
    const hook = JSON.parse(readFileSync(path.join(dir, 'tables', 'ins_webhooks.jsonl'), 'utf8').trim()) as Json;
    expect(hook).toMatchObject({ id: 'label-a-hook', url: 'https://example.com/alerts', secret: '[redacted]' });
    expect(all).not.toContain('signing-key');
    expect(all).toContain('alpha content');
    expect(all).not.toContain('bravo');
    expect(all).not.toContain('label-b');
    const state = new Y.Doc();
    Y.applyUpdate(state, readFileSync(path.join(dir, 'documents', 'label-a-song.yjs')));
    expect(state.getText('t').toString()).toBe('late alpha content');
    expect(readFileSync(path.join(dir, 'files', 'media', 'label-a', 'recording', 'stage', 'r1.webm'), 'utf8')).toBe('label-a recording');

    const resumed = await call('POST', '/api/v1/platform/tenants/label-a/resume', operator);
    expect(resumed.body).toMatchObject({ status: 'active' });
    expect((await deletion('label-a')).body).toMatchObject({ state: 'cancelled', archive: pending.archive });
    expect((await call('GET', '/api/v1/me', ann)).status).toBe(200);
    // Nothing was purged, even by a sweep.
    expect(await server.veza.modules.api((await import('../../src/tenants/module.js')).tenantsModule).lifecycle.sweep()).toEqual([]);
    const back = await connectClient(server.url, 'label-a-song', ann);
    expect(back.doc.getText('t').toString()).toBe('late alpha content');
    back.destroy();
  });

  it('with no grace period, purges every row and file of the tenant and leaves the other tenants\' intact', { timeout: 60_000 }, async () => {
    const others = { b: await rowsOf(server, 'label-b'), default: await rowsOf(server, 'default') };
    expect(others.b.tips).toHaveLength(1);
    const ann = await token('ann', 'label-a');
    const started = await call('DELETE', '/api/v1/platform/tenants/label-a', operator, { graceSeconds: 0 });
    expect(started.status).toBe(202);
    const purged = await waitFor(async () => {
      const d = await deletion('label-a');
      return d.body.state === 'purged' ? d.body : false;
    }, 'the tenant to be purged', 30_000);
    expect(purged.archive).toMatch(/^exports\/label-a-/);
    expect(existsSync(path.join(server.config.storage.dataDir, purged.archive as string))).toBe(true);
    const left = await rowsOf(server, 'label-a');
    expect(Object.entries(left).filter(([, rows]) => rows.length > 0)).toEqual([]);
    expect(await server.veza.storage.db.selectFrom('tenants').select('id').where('id', '=', 'label-a').executeTakeFirst()).toBeUndefined();
    expect(existsSync(path.join(server.config.storage.dataDir, 'media', 'label-a'))).toBe(false);
    expect(existsSync(path.join(server.config.storage.dataDir, 'media', 'label-b', 'recording', 'stage', 'r1.webm'))).toBe(true);
    for (const [tenant, before] of [['label-b', others.b], ['default', others.default]] as const) {
      const after = await rowsOf(server, tenant);
      // Usage goes on being metered for the other tenants (the operator's own calls count under
      // `default`): their rows are kept, each at least what it was; every other table is unchanged.
      const usage = (rows: string[]) => new Map(rows.map((row) => JSON.parse(row) as Json).map((row) => [`${String(row.metric)} ${String(row.minute)} ${String(row.node)}`, Number(row.quantity)]));
      const [was, now] = [usage(before.tenant_usage ?? []), usage(after.tenant_usage ?? [])];
      for (const [key, quantity] of was) expect(now.get(key) ?? -1, `${tenant} usage ${key}`).toBeGreaterThanOrEqual(quantity);
      expect({ ...after, tenant_usage: [] }, tenant).toEqual({ ...before, tenant_usage: [] });
    }
    const gone = await call('GET', '/api/v1/me', ann);
    expect(gone.status).toBe(401);
    expect(gone.body.detail).toBe('tenant label-a does not exist');
    // The archive stays downloadable after the purge.
    expect((await call('GET', '/api/v1/platform/tenants/label-a/export', operator)).status).toBe(200);
  });
});

describe('the tenant CLI with and without a running server', () => {
  const data = tempDir('tenant-lifecycle-cli');
  afterAll(() => data.remove());
  const flags = ['--data-dir', data.dir];

  it('deletes a tenant straight on the embedded database, showing the export\'s progress', { timeout: 120_000 }, async () => {
    expect((await runVeza(['tenant', 'create', 'label-d', '--name', 'Label D', ...flags])).code).toBe(0);
    const refused = await runVeza(['tenant', 'delete', 'default', ...flags]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('tenant delete refused: the default tenant cannot be deleted');
    const deleted = await runVeza(['tenant', 'delete', 'label-d', '--grace-seconds', '0', ...flags]);
    expect(deleted.code).toBe(0);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ tenant: 'label-d', state: 'purged', requestedBy: 'veza-cli' });
    expect(deleted.stderr).toContain('export of label-d: tables');
    expect(deleted.stderr).toContain('export of label-d: written');
    const list = await runVeza(['tenant', 'list', ...flags]);
    expect((JSON.parse(list.stdout) as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toEqual(['default']);
  });

  it('goes through the server that holds the embedded database, and straight again once it stopped', { timeout: 120_000 }, async () => {
    const server = await startTestServer({ 'data-dir': data.dir });
    try {
      expect(existsSync(path.join(data.dir, 'server.json'))).toBe(true);
      const created = await runVeza(['tenant', 'create', 'label-e', '--name', 'Label E', ...flags]);
      expect(created.stderr).toBe('');
      expect(JSON.parse(created.stdout)).toMatchObject({ id: 'label-e', status: 'active' });
      // The server admits the tenant at once: the change went through it.
      const ed = await server.veza.auth.sign({ sub: 'ed', tenant: 'label-e' });
      expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${ed}` } })).status).toBe(200);
      const again = await runVeza(['tenant', 'create', 'label-e', '--name', 'Again', ...flags]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('tenant create refused: tenant label-e exists already');
      const deleted = await runVeza(['tenant', 'delete', 'label-e', ...flags]);
      expect(deleted.code).toBe(0);
      expect(JSON.parse(deleted.stdout)).toMatchObject({ tenant: 'label-e', state: 'pending', graceSeconds: 30 * 86_400 });
      expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${ed}` } })).status).toBe(403);
      const resumed = await runVeza(['tenant', 'resume', 'label-e', ...flags]);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ id: 'label-e', status: 'active' });
      const purged = await runVeza(['tenant', 'delete', 'label-e', '--grace-seconds', '0', ...flags]);
      expect(JSON.parse(purged.stdout)).toMatchObject({ tenant: 'label-e', state: 'purged' });
      expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${ed}` } })).status).toBe(401);
    } finally {
      await server.stop();
    }
    expect(existsSync(path.join(data.dir, 'server.json'))).toBe(false);
    const list = await runVeza(['tenant', 'list', ...flags]);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { tenants: { id: string }[] }).tenants.map((t) => t.id)).toEqual(['default']);
  });
});
