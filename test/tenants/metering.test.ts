// Metering on a running server: API calls, egress bytes and connection time counted per tenant and
// kept apart; usage and invoices read by the tenant's administrator and the operator only; invoices
// as JSON and CSV that agree; and a server killed with SIGKILL mid-traffic that, restarted on the same
// database and data directory, reports the API calls it answered and counts nothing twice.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VezaEvent } from '../../src/events/catalog.js';
import { Storage } from '../../src/storage/database.js';
import type { Invoice } from '../../src/tenants/invoices.js';
import { tenantsModule } from '../../src/tenants/module.js';
import { PLAN_PRICES } from '../../src/tenants/prices.js';
import { freePort } from '../helpers/ports.js';
import { runVeza, spawnServer } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

const hasPostgres = await postgresAvailable();
type Usage = { tenantId: string; buckets: { start: string; usage: Record<string, number> }[]; totals: Record<string, number> };

describe('metering on one server', () => {
  let server: TestServer;
  let operator: string;
  const sign = (sub: string, tenant: string, extra: { admin?: boolean } = {}) => server.veza.auth.sign({ sub, tenant, docs: { '*': 'editor' }, ...extra });
  const get = async (path: string, bearer: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${bearer}`, ...headers } });
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { status: response.status, type: response.headers.get('content-type') ?? '', bytes: bytes.byteLength, text: new TextDecoder().decode(bytes) };
  };
  const usageOf = async (tenant: string) => {
    await server.veza.modules.api(tenantsModule).metering.settle();
    const answer = await get(`/api/v1/platform/tenants/${tenant}/usage?granularity=minute&from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`, operator);
    expect(answer.status).toBe(200);
    return JSON.parse(answer.text) as Usage;
  };

  beforeAll(async () => {
    server = await startTestServer({ 'rate-limit-requests-per-minute': '0' });
    operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of ['label-a', 'label-b']) {
      const created = await fetch(`${server.url}/api/v1/platform/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, name: id }),
      });
      expect(created.status).toBe(201);
    }
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('counts API calls, egress bytes and connection time per tenant, each apart', { timeout: 60_000 }, async () => {
    const alice = await sign('alice', 'label-a');
    const bob = await sign('bob', 'label-b');
    let bBytes = 0;
    for (let i = 0; i < 7; i++) {
      const answer = await get('/api/v1/me', bob);
      expect(answer.status).toBe(200);
      bBytes += answer.bytes;
    }
    // An answer with a problem body is an API call too; an unknown tenant's is nobody's.
    for (let i = 0; i < 2; i++) {
      const refused = await get('/api/v1/tenant/usage', bob);
      expect(refused.status).toBe(403);
      bBytes += refused.bytes;
    }
    expect((await get('/api/v1/me', await sign('gus', 'ghost-label'))).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await get('/api/v1/me', alice)).status).toBe(200);

    const opened = Date.now();
    const one = await connectClient(server.url, 'song', alice);
    const two = await connectClient(server.url, 'song', alice);
    for (let i = 0; i < 20; i++) one.doc.getArray<number>('notes').push([i]);
    await waitFor(() => two.doc.getArray('notes').length === 20, 'the other client to receive the notes');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const heldMs = Date.now() - opened;
    one.destroy();
    two.destroy();
    await waitFor(() => server.veza.server.ws.connections === 0, 'both sockets to close');

    const b = await usageOf('label-b');
    expect(b.tenantId).toBe('label-b');
    expect(b.totals).toEqual({ api_calls: 9, egress_bytes: bBytes });
    const a = await usageOf('label-a');
    expect(a.totals.api_calls).toBe(5);
    // Twenty updates fanned out to one other connection, beside five small answers.
    expect(a.totals.egress_bytes).toBeGreaterThan(20 * 3);
    // Two sockets, each open at least as long as the client held it (the server opened first and closed last).
    expect(a.totals.connection_ms).toBeGreaterThanOrEqual(2 * heldMs - 2 * 200);
    expect(a.buckets.every((bucket) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00Z$/.test(bucket.start))).toBe(true);
  });

  it("lets a tenant's administrator read its own usage and invoices, and no other tenant's", async () => {
    const adminB = await sign('boss', 'label-b', { admin: true });
    const own = await get('/api/v1/tenant/usage?granularity=day', adminB);
    expect(own.status).toBe(200);
    expect((JSON.parse(own.text) as Usage).tenantId).toBe('label-b');
    for (const path of ['/api/v1/platform/tenants/label-a/usage', '/api/v1/platform/tenants/label-a/invoices/2026-01']) {
      const refused = await get(path, adminB);
      expect(refused.status).toBe(403);
      expect(refused.type).toContain('application/problem+json');
    }
    expect((await get('/api/v1/tenant/usage', await sign('alice', 'label-a'))).status).toBe(403);
    expect((await get('/api/v1/platform/tenants/nobody/usage', operator)).status).toBe(404);
    const bad = await get('/api/v1/tenant/usage?granularity=week', adminB);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ detail: 'granularity must be minute, hour or day' });
    expect((await get('/api/v1/tenant/usage?granularity=minute&from=0&to=9999999999999', adminB)).status).toBe(400);
    expect((await get('/api/v1/tenant/usage?from=yesterday', adminB)).status).toBe(400);
    expect((await get('/api/v1/tenant/invoices/2026-13', adminB)).status).toBe(400);
    expect((await get('/api/v1/tenant/invoices/2026-01?format=xml', adminB)).status).toBe(400);
  });

  it('gives the same invoice as JSON and as CSV, from the usage counted', async () => {
    const period = new Date().toISOString().slice(0, 7);
    const usage = await usageOf('label-b');
    const adminB = await sign('boss', 'label-b', { admin: true });
    const json = await get(`/api/v1/tenant/invoices/${period}`, adminB);
    expect(json.status).toBe(200);
    const invoice = JSON.parse(json.text) as Invoice;
    expect(invoice).toMatchObject({ tenantId: 'label-b', period, plan: 'unlimited', currency: 'EUR', final: false });
    for (const line of invoice.lines) expect(line.quantity).toBe(usage.totals[line.metric] ?? 0);
    expect(invoice.total).toBe(invoice.lines.reduce((sum, line) => sum + line.amount, 0));

    for (const csv of [await get(`/api/v1/tenant/invoices/${period}?format=csv`, adminB), await get(`/api/v1/tenant/invoices/${period}`, adminB, { accept: 'text/csv' })]) {
      expect(csv.status).toBe(200);
      expect(csv.type).toContain('text/csv');
      const [header, ...rows] = csv.text.trimEnd().split('\r\n').map((row) => row.split(','));
      expect(header).toEqual(['tenant', 'period', 'plan', 'currency', 'metric', 'unit', 'quantity', 'units', 'included', 'billable', 'unit_price', 'amount']);
      const lines = rows.slice(0, -1).map((r) => ({ metric: r[4], unit: r[5], quantity: Number(r[6]), units: Number(r[7]), included: Number(r[8]), billable: Number(r[9]), unitPrice: Number(r[10]), amount: Number(r[11]) }));
      expect(lines).toEqual(invoice.lines);
      expect(rows.at(-1)).toEqual(['label-b', period, 'unlimited', 'EUR', 'total', '', '', '', '', '', '', String(invoice.total)]);
    }
    const operatorCsv = await get(`/api/v1/platform/tenants/label-b/invoices/${period}?format=csv`, operator);
    expect(operatorCsv.status).toBe(200);
    expect(operatorCsv.text.split('\r\n')[0]).toContain('tenant,period');

    // The operator places the tenant on a plan: its invoice follows that plan's prices and inclusions.
    const placed = await fetch(`${server.url}/api/v1/platform/tenants/label-b/quotas`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ plan: 'studio' }),
    });
    expect(placed.status).toBe(200);
    const studio = JSON.parse((await get(`/api/v1/tenant/invoices/${period}`, adminB)).text) as Invoice;
    expect(studio.plan).toBe('studio');
    expect(studio.lines.find((line) => line.metric === 'api_calls')).toMatchObject({ included: PLAN_PRICES.studio.metrics.api_calls.included, unitPrice: PLAN_PRICES.studio.metrics.api_calls.unitPrice });
  });
});

describe('invoices at the end of a period', () => {
  it('publishes usage.invoice once for each tenant with usage in the month that ended, and the CLI prints the invoice', { timeout: 120_000 }, async () => {
    const data = tempDir('meter-invoice');
    const first = await startTestServer({ 'data-dir': data.dir });
    const now = new Date();
    const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 3, 10, 0));
    const period = lastMonth.toISOString().slice(0, 7);
    await first.veza.storage.withTenant('default', (trx) =>
      trx.insertInto('tenant_usage').values({ tenant_id: 'default', metric: 'api_calls', minute: lastMonth, node: 'aaaaaaaaaaaa', quantity: '150500' }).execute(),
    );
    await first.stop();
    // The node has not invoiced the month before that one yet (it had no usage) nor the last one.
    writeFileSync(path.join(data.dir, 'usage', 'invoiced-period'), `${new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 2, 1)).toISOString().slice(0, 7)}\n`);
    const second = await startTestServer({ 'data-dir': data.dir });
    try {
      const invoices: VezaEvent[] = [];
      await second.veza.bus.subscribe('invoice-test', (event) => void invoices.push(event), { types: ['usage.invoice'] });
      const metering = second.veza.modules.api(tenantsModule).metering;
      await metering.settle();
      expect(readFileSync(path.join(data.dir, 'usage', 'invoiced-period'), 'utf8').trim()).toBe(now.toISOString().slice(0, 7));
      await metering.settle();
      await waitFor(() => invoices.length > 0, 'the invoice event');
      await new Promise((resolve) => setTimeout(resolve, 200));
      // One invoice: the month before last had no usage, and the second settle sends nothing again.
      expect(invoices).toHaveLength(1);
      // 150,500 API calls on the default tenant's plan (unlimited: nothing included): 151 units of 1000 × 2.
      expect(invoices[0]).toMatchObject({ id: `ui:${period}:default`, tenantId: 'default', payload: { period, plan: 'unlimited', currency: 'EUR', total: 302 } });
    } finally {
      await second.stop();
    }
    try {
      const csv = await runVeza(['tenant', 'invoice', 'default', '--period', period, '--format', 'csv', '--data-dir', data.dir]);
      expect(csv.code).toBe(0);
      expect(csv.stdout).toContain(`default,${period},unlimited,EUR,api_calls,1000 API calls,150500,151,0,151,2,302\r\n`);
      const json = await runVeza(['tenant', 'invoice', 'default', '--period', period, '--data-dir', data.dir]);
      expect(JSON.parse(json.stdout)).toMatchObject({ tenantId: 'default', period, total: 302, final: true });
      const bad = await runVeza(['tenant', 'invoice', 'default', '--period', 'May', '--data-dir', data.dir]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('a period is a month, YYYY-MM; got "May"');
      expect((await runVeza(['tenant', 'invoice', 'nobody', '--period', period, '--data-dir', data.dir])).code).toBe(2);
    } finally {
      data.remove();
    }
  });
});

describe.skipIf(!hasPostgres)('metering across kill -9', () => {
  it('reports the API calls a killed server answered, and counts nothing twice after replaying its journal', { timeout: 120_000 }, async () => {
    const db = await createTestDatabase();
    const data = tempDir('meter-kill9');
    const port = String(await freePort());
    const env = { DATABASE_URL: db.url, VEZA_JWT_SECRET: 'metering-kill-nine-secret-metering-kill-nine' };
    const args = ['--port', port, '--data-dir', data.dir, '--rate-limit-requests-per-minute', '0'];
    const token = (await runVeza(['token', '--sub', 'caller'], env)).stdout.trim();
    const storage = await Storage.open({ dataDir: data.dir, databaseUrl: db.url });
    const counted = async () => {
      const rows = await storage.withTenant('default', (trx) => trx.selectFrom('tenant_usage').select(['quantity']).where('metric', '=', 'api_calls').execute());
      return rows.reduce((sum, row) => sum + Number(row.quantity), 0);
    };
    let server = await spawnServer(args, env);
    try {
      // Four callers until the kill: every 2xx they got is an answered call; a call cut off by the kill may or may not have been answered.
      let answered = 0;
      let cutOff = 0;
      let stop = false;
      const caller = async () => {
        while (!stop) {
          try {
            const response = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
            await response.arrayBuffer();
            if (response.status === 200) answered++;
          } catch {
            cutOff++;
            return;
          }
        }
      };
      const callers = [caller(), caller(), caller(), caller()];
      await waitFor(() => answered >= 400, 'some calls answered');
      server.child.kill('SIGKILL');
      await server.exited;
      stop = true;
      await Promise.all(callers);
      expect(cutOff).toBeLessThanOrEqual(4);

      server = await spawnServer(args, env);
      await waitFor(async () => (await counted()) >= answered, 'the replayed journal to reach the database', 30_000);
      const afterFirst = await counted();
      expect(afterFirst - answered).toBeGreaterThanOrEqual(0);
      expect(afterFirst - answered).toBeLessThanOrEqual(cutOff);

      // Killed again with no call in flight: the replayed minute is written again as a replace, not an addition.
      for (let i = 0; i < 25; i++) expect((await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      server.child.kill('SIGKILL');
      await server.exited;
      server = await spawnServer(args, env);
      await waitFor(async () => (await counted()) >= afterFirst + 25, 'the second replay to reach the database', 30_000);
      // Two more settle rounds, to see that nothing is added on top.
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      expect(await counted()).toBe(afterFirst + 25);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await storage.close();
      await db.drop();
      data.remove();
    }
  });
});
