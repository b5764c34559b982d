// What metering costs on the realtime path: ns per metered event with the meter installed and
// without it (the seam's `usage?.…` finds no sink), for bytes fanned out to one tenant's sockets
// (the tenant at hand) and to 100 tenants in turn, an answered API call (journaled with one write
// before the answer), and a socket opened and closed; then µs per HTTP request end to end on an
// in-process server with the meter and with a sink that does nothing.
// Usage: node --import tsx bench/metering.ts [rounds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { UsageSink } from '../src/server/usage.js';
import { UsageMeter } from '../src/tenants/metering.js';
import { startTestServer } from '../test/helpers/server.js';

const rounds = Number(process.argv[2] ?? 5);
const dir = mkdtempSync(path.join(tmpdir(), 'veza-metering-'));
const tenants = Array.from({ length: 100 }, (_, i) => `label-${i}`);

/** ns per call of `fn` over `n` calls. */
function time(n: number, fn: (i: number) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / n;
}

/** The seam as the routers hold it: an optional sink. */
class Seam {
  constructor(readonly usage: UsageSink | null) {}
}

const results: Record<string, number[]> = {};
const record = (label: string, value: number) => (results[label] ??= []).push(value);
for (let round = 0; round < rounds; round++) {
  const meter = new UsageMeter(path.join(dir, `journal-${round}`));
  for (const [label, seam] of [
    ['off', new Seam(null)],
    ['on', new Seam(meter)],
  ] as const) {
    record(`egress, one tenant (${label})`, time(5_000_000, (i) => seam.usage?.egress('label-1', 100 + (i & 7))));
    record(`egress, 100 tenants in turn (${label})`, time(2_000_000, (i) => seam.usage?.egress(tenants[i % 100]!, 100)));
    record(`answered API call (${label})`, time(200_000, (i) => seam.usage?.answered(tenants[i % 100]!, 200, 300)));
    record(`socket opened and closed (${label})`, time(1_000_000, (i) => {
      seam.usage?.socketOpened(tenants[i % 100]!);
      seam.usage?.socketClosed(tenants[i % 100]!);
    }));
    meter.tick();
  }
  meter.close();
}

// End to end: sequential requests (fetch keeps the connection alive).
const server = await startTestServer({ 'rate-limit-requests-per-minute': '0' });
const token = await server.veza.auth.sign({ sub: 'bench', docs: {} });
const call = async () => {
  const response = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
};
const noop: UsageSink = { answered: () => undefined, socketOpened: () => undefined, socketClosed: () => undefined, egress: () => undefined };
const { tenantsModule } = await import('../src/tenants/module.js');
const installed = server.veza.modules.api(tenantsModule).metering.meter;
for (let i = 0; i < 2000; i++) await call();
for (let round = 0; round < rounds; round++) {
  for (const [label, sink] of [
    ['off', noop],
    ['on', installed],
  ] as const) {
    server.veza.server.http.meterWith(sink);
    const n = 5000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await call();
    record(`HTTP request end to end, µs (${label})`, Number(process.hrtime.bigint() - started) / n / 1000);
  }
}
server.veza.server.http.meterWith(installed);
await server.stop();

console.log(`metering, ${rounds} rounds (median; ns per event unless µs):`);
for (const [label, values] of Object.entries(results)) {
  const sorted = values.toSorted((a, b) => a - b);
  console.log(`  ${label.padEnd(42)} ${sorted[Math.floor(sorted.length / 2)]!.toFixed(label.includes('µs') ? 1 : 0).padStart(8)}  (rounds: ${values.map((v) => v.toFixed(label.includes('µs') ? 1 : 0)).join(', ')})`);
}
rmSync(dir, { recursive: true, force: true });
