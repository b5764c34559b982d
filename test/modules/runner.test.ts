import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startNode, type VezaNode } from '../../src/main.js';
import { defineModule } from '../../src/modules/contract.js';
import { tempDir } from '../helpers/services.js';

// Modules written for this test, run on the real core (embedded database, in-process bus, uWS).
function recorder() {
  const events: string[] = [];
  let ready = true;
  const first = defineModule({
    name: 'first',
    settings: 'insights',
    async start(ctx) {
      events.push(`start first with alerts every ${ctx.settings.alertIntervalS} s`);
      const counter = { hits: 0 };
      return {
        api: counter,
        routes: () => ctx.http.route('GET', '/api/v1/first', () => ({ json: { hits: ++counter.hits } })),
        health: [{ name: 'first', status: () => ({ hits: counter.hits }), ready: async () => (ready ? undefined : Promise.reject(new Error('first is warming up'))) }],
        report: () => [{ name: 'first', state: { on: true, detail: 'counting' } }],
        close: async () => void events.push('close first'),
      };
    },
  });
  const second = defineModule({
    name: 'second',
    settings: null,
    async start(ctx) {
      const counter = ctx.use(first);
      events.push('start second');
      return {
        api: null,
        routes: () => ctx.http.route('GET', '/api/v1/second', () => ({ json: { firstHits: counter.hits } })),
        ready: new Promise<void>((resolve) => setTimeout(resolve, 50)).then(() => void events.push('second ready')),
        close: async () => void events.push('close second'),
      };
    },
  });
  const usesLater = defineModule({
    name: 'uses-later',
    settings: null,
    async start(ctx) {
      ctx.use(second);
      return { api: null };
    },
  });
  // Prepares before any module starts (a thread that loads meanwhile); start receives what it prepared.
  const preparing = defineModule({
    name: 'preparing',
    settings: null,
    prepare() {
      events.push('prepare preparing');
      return { loaded: 'its thread', close: async () => void events.push('close what preparing prepared') };
    },
    async start(_ctx, prepared) {
      events.push(`start preparing with ${prepared.loaded}`);
      return { api: null, close: () => prepared.close() };
    },
  });
  const failing = defineModule({
    name: 'failing',
    settings: null,
    async start() {
      events.push('start failing');
      throw new Error('cannot open its files');
    },
  });
  return { events, first, second, usesLater, preparing, failing, setReady: (value: boolean) => (ready = value) };
}

const nodes: VezaNode[] = [];
const dirs: { remove(): void }[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.shutdown();
  for (const dir of dirs.splice(0)) dir.remove();
});

function config(flags: Record<string, string> = {}) {
  const data = tempDir('modules');
  dirs.push(data);
  return loadConfig({}, { host: '127.0.0.1', port: '0', 'log-level': 'silent', 'data-dir': data.dir, 'insights-alert-interval-s': '42', ...flags });
}
const logger = pino({ level: 'silent' });

describe('modules on the core', () => {
  it('start in order with their own settings, serve their routes and checks, and close in the reverse order', async () => {
    const r = recorder();
    const node = await startNode(config(), [r.first, r.second], { logger });
    const url = `http://127.0.0.1:${node.port}`;
    expect(r.events).toEqual(['start first with alerts every 42 s', 'start second', 'second ready']);
    expect(await (await fetch(`${url}/api/v1/first`)).json()).toEqual({ hits: 1 });
    expect(await (await fetch(`${url}/api/v1/second`)).json()).toEqual({ firstHits: 1 });
    expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok', storage: 'pglite', bus: 'memory', first: { hits: 1 } });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, draining: false, checks: { storage: { ok: true }, bus: { ok: true }, first: { ok: true } } });
    r.setReady(false);
    const warming = await fetch(`${url}/readyz`);
    expect(warming.status).toBe(503);
    expect(((await warming.json()) as { checks: Record<string, unknown> }).checks.first).toEqual({ ok: false, error: 'first is warming up' });
    expect(node.report.modules.map((m) => m.name)).toEqual(['web client', 'sign-in', 'first', 'tracing']);
    expect(node.modules.api(r.first)).toEqual({ hits: 1 });
    expect(await node.shutdown()).toBe(true);
    expect(r.events.slice(3)).toEqual(['close second', 'close first']);
  });

  it('refuses a module that uses one listed after it, closing those started', async () => {
    const r = recorder();
    await expect(startNode(config(), [r.first, r.usesLater, r.second], { logger })).rejects.toThrow('module uses-later uses second, which is not listed before it');
    expect(r.events).toEqual(['start first with alerts every 42 s', 'close first']);
  });

  it('closes what started, in the reverse order, when a module fails to start, and rejects with its error', async () => {
    const r = recorder();
    await expect(startNode(config(), [r.first, r.second, r.failing], { logger })).rejects.toThrow('cannot open its files');
    // The second module's background work ends on its own timer, whenever that is.
    expect(r.events.filter((e) => e !== 'second ready')).toEqual(['start first with alerts every 42 s', 'start second', 'start failing', 'close second', 'close first']);
  });

  it('runs every prepare before the first start, hands start what was prepared, and closes it', async () => {
    const r = recorder();
    const node = await startNode(config(), [r.first, r.preparing], { logger });
    expect(r.events).toEqual(['prepare preparing', 'start first with alerts every 42 s', 'start preparing with its thread']);
    await node.shutdown();
    expect(r.events.slice(3)).toEqual(['close what preparing prepared', 'close first']);
  });

  it('closes what was prepared for a module that never started', async () => {
    const r = recorder();
    await expect(startNode(config(), [r.first, r.failing, r.preparing], { logger })).rejects.toThrow('cannot open its files');
    expect(r.events).toEqual(['prepare preparing', 'start first with alerts every 42 s', 'start failing', 'close first', 'close what preparing prepared']);
  });

  it('refuses two modules of one name', async () => {
    const r = recorder();
    await expect(startNode(config(), [r.first, { ...r.second, name: 'first' }], { logger })).rejects.toThrow('two modules are named first');
  });
});
