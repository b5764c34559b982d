// The start-up report's memory figure and the metrics that say where the memory is: on the embedded
// database (its WASM memory on the storage thread, sized by a setting) and on PostgreSQL.
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startNode, type VezaNode } from '../../src/main.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(flags: Record<string, string>): Promise<VezaNode> {
  const data = tempDir('memory');
  const config = loadConfig({}, { host: '127.0.0.1', port: '0', 'log-level': 'silent', 'data-dir': data.dir, ...flags });
  const node = await startNode(config, [], { logger: pino({ level: 'silent' }) });
  cleanups.push(() => data.remove());
  cleanups.push(async () => void (await node.shutdown()));
  return node;
}

async function metrics(node: VezaNode): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
}

function gauge(text: string, name: string): number | null {
  const match = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm').exec(text);
  return match ? Number(match[1]) : null;
}

describe('memory figures', () => {
  it('on the embedded database: the report and /metrics carry resident, peak, heaps and the WASM memory; the page cache follows its setting', { timeout: 120_000 }, async () => {
    const node = await start({ 'pglite-shared-buffers-mb': '8' });
    const { report } = node;
    expect(report.rssMiB).toBeGreaterThan(0);
    expect(report.peakRssMiB).toBeGreaterThanOrEqual(report.rssMiB);
    expect(report.databaseWasmMiB).toBeGreaterThan(0);
    // The schema was created at this start, then the database reopened on a new storage thread: it still answers.
    expect((await sql<{ shared_buffers: string }>`SHOW shared_buffers`.execute(node.storage.db)).rows[0]?.shared_buffers).toBe('8MB');
    const text = await metrics(node);
    expect(gauge(text, 'veza_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(gauge(text, 'veza_process_peak_resident_memory_bytes')).toBeGreaterThanOrEqual(gauge(text, 'veza_process_resident_memory_bytes')!);
    expect(gauge(text, 'veza_thread_heap_used_bytes{thread="main"}')).toBeGreaterThan(0);
    expect(gauge(text, 'veza_thread_heap_used_bytes{thread="storage"}')).toBeGreaterThan(0);
    expect(gauge(text, 'veza_storage_wasm_memory_bytes')).toBeGreaterThan(2 ** 20);
  });

  it('on PostgreSQL: no WASM memory, the other figures as on the embedded database', { timeout: 60_000 }, async (ctx) => {
    if (!(await postgresAvailable())) return ctx.skip();
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const node = await start({ 'database-url': database.url });
    expect(node.report.databaseWasmMiB).toBeNull();
    expect(node.report.rssMiB).toBeGreaterThan(0);
    const text = await metrics(node);
    expect(text).not.toMatch(/^veza_storage_wasm_memory_bytes /m);
    expect(gauge(text, 'veza_thread_heap_used_bytes{thread="storage"}')).toBeGreaterThan(0);
  });

  it('refuses a page cache size that is not a whole number of MB from 1', () => {
    expect(() => loadConfig({ VEZA_PGLITE_SHARED_BUFFERS_MB: '0' }, {})).toThrow(ConfigError);
    expect(() => loadConfig({}, { 'pglite-shared-buffers-mb': 'lots' })).toThrow(/pglite-shared-buffers-mb|VEZA_PGLITE_SHARED_BUFFERS_MB/);
  });
});
