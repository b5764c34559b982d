// The meter's exactness on a clock the test moves: a journal replayed after a crash gives the same
// amounts (a torn last line ignored, open connections ending at the last tick), media events counted
// once even when redelivered after a restart, `usage.minute` published once per bucket while writes
// and marks fail and are retried, and invoice lines computed from known usage.
import { appendFileSync, cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { MemoryBus } from '../../src/events/memory-bus.js';
import { MemoryParkingLot } from '../../src/events/parking.js';
import { Storage } from '../../src/storage/database.js';
import { buildInvoice } from '../../src/tenants/invoices.js';
import { UsageMeter, USAGE_METRICS } from '../../src/tenants/metering.js';
import { countOnce } from '../../src/tenants/metering-module.js';
import { UsageSettler, UsageStore } from '../../src/tenants/metering-store.js';
import { PLAN_PRICES, pricesFor } from '../../src/tenants/prices.js';
import { tempDir } from '../helpers/services.js';
import { silentLogger } from '../events/support.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 4, 10, 12, 0, 0);
const dirs: { remove(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.remove()));

function journalDir(): string {
  const dir = tempDir('meter');
  dirs.push(dir);
  return path.join(dir.dir, 'journal');
}

/** The meter's amounts per `minute|tenant`, as plain objects. */
function amounts(meter: UsageMeter): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [key, bucket] of meter.buckets) {
    out[key] = Object.fromEntries(USAGE_METRICS.map((m, i) => [m, bucket.values[i] ?? 0]).filter(([, v]) => v !== 0));
  }
  return out;
}

describe('the usage journal', () => {
  it('gives the same amounts after a crash, ignores a torn line, and ends open connections at the last tick', () => {
    const dir = journalDir();
    let now = T0 + 10_000;
    const meter = new UsageMeter(dir, () => now);
    for (let i = 0; i < 3; i++) meter.answered('label-a', 200, 100);
    meter.answered('label-a', 503, 40);
    meter.answered('label-b', 404, 7);
    meter.egress('label-a', 1000);
    meter.socketOpened('label-a');
    meter.socketOpened('label-a');
    now += 1500;
    meter.tick();
    now += 58_000; // into the next minute: the sockets' time after the tick is never journaled
    const before = amounts(meter);
    expect(before[`${T0 / MINUTE}|label-a`]).toEqual({ api_calls: 3, egress_bytes: 1340, connection_ms: 3000 });
    expect(before[`${T0 / MINUTE}|label-b`]).toEqual({ api_calls: 1, egress_bytes: 7 });

    const segment = readdirSync(dir).find((name) => name.endsWith('.usage')) ?? '';
    appendFileSync(path.join(dir, segment), `U ${T0 / MINUTE} label-a api_calls 5`);
    const replayed = new UsageMeter(dir, () => now);
    expect(amounts(replayed)).toEqual(before);
    expect(replayed.replayed.skipped).toBe(1);
    // And once more: the replay's new segment holds the same, once.
    expect(amounts(new UsageMeter(dir, () => now))).toEqual(before);
  });

  it('counts a media event once, also when the bus delivers it again after a restart', () => {
    const dir = journalDir();
    const now = T0 + 5000;
    const meter = new UsageMeter(dir, () => now);
    const joined = createEvent('stream.viewer.joined', { tenantId: 'label-a', at: new Date(T0), payload: { roomId: 'room 1', viewerId: 'v' } });
    const left = createEvent('stream.viewer.left', { tenantId: 'label-a', at: new Date(T0 + 90_000), payload: { roomId: 'room 1', viewerId: 'v' } });
    const recording = createEvent('recording.ended', { tenantId: 'label-a', payload: { roomId: 'r', outputId: 'o', kind: 'recording', status: 'finished', durationMs: 61_000, bytes: 5000 } });
    const stream = createEvent('stream.ended', { tenantId: 'label-a', payload: { roomId: 'r', durationMs: 30_000 } });
    meter.countEvent(joined);
    const restarted = new UsageMeter(dir, () => now);
    for (const event of [joined, left, recording, stream] as VezaEvent[]) restarted.countEvent(event);
    const again = new UsageMeter(dir, () => now);
    for (const event of [joined, left, recording, stream] as VezaEvent[]) again.countEvent(event);
    expect(amounts(again)).toEqual({ [`${T0 / MINUTE}|label-a`]: { participant_ms: 90_000, recording_ms: 61_000, stream_ms: 30_000, storage_bytes: 5000 } });
  });
});

describe('settling usage in the database', () => {
  let storage: Storage;
  beforeAll(async () => {
    const data = tempDir('meter-db');
    dirs.push(data);
    storage = await Storage.open({ dataDir: data.dir });
    await storage.migrate();
  });
  afterAll(async () => {
    await storage?.close();
  });

  it('publishes usage.minute once per bucket while writes and marks fail and are retried, and a replay adds nothing', { timeout: 60_000 }, async () => {
    const dir = journalDir();
    let now = T0 + 1000;
    const meter = new UsageMeter(dir, () => now);
    const bus = new MemoryBus({ logger: silentLogger, parking: new MemoryParkingLot(), retryDelayMs: () => 5 });
    const seen: VezaEvent[] = [];
    await bus.subscribe('usage-test', (event) => void seen.push(event), { types: ['usage.minute'] });
    const failures = { write: 1, mark: 1 };
    class FlakyStore extends UsageStore {
      override async write(...args: Parameters<UsageStore['write']>) {
        if (failures.write-- > 0) throw new Error('database away');
        return super.write(...args);
      }
      override async markPublished(...args: Parameters<UsageStore['markPublished']>) {
        if (failures.mark-- > 0) throw new Error('database away');
        return super.markPublished(...args);
      }
    }
    const store = new FlakyStore(storage, 'abcdef012345');
    const dropped: string[] = [];
    const settler = new UsageSettler(meter, store, bus, (bucket) => dropped.push(bucket.tenant));
    for (let i = 0; i < 4; i++) meter.answered('default', 200, 10);
    // A tenant the database does not know holds back no other: its usage is dropped.
    meter.answered('ghost-label', 200, 10);
    now += MINUTE; // the minute has ended
    await expect(settler.settle()).rejects.toThrow('database away');
    await expect(settler.settle()).rejects.toThrow('database away');
    const beforeSettled = journalDir();
    cpSync(dir, beforeSettled, { recursive: true });
    await settler.settle();
    expect(meter.buckets.size).toBe(0);
    expect(dropped).toEqual(['ghost-label']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen.map((e) => [e.id, e.payload])).toEqual([[`um:abcdef012345:${T0 / MINUTE}:default`, { minute: new Date(T0).toISOString(), node: 'abcdef012345', usage: { api_calls: 4, egress_bytes: 40 } }]]);

    // A node restarted from a journal that still held the minute: written again as the same total, no second event.
    const otherBus = new MemoryBus({ logger: silentLogger, parking: new MemoryParkingLot(), retryDelayMs: () => 5 });
    const later: VezaEvent[] = [];
    await otherBus.subscribe('usage-test', (event) => void later.push(event), { types: ['usage.minute'] });
    const replayed = new UsageMeter(beforeSettled, () => now);
    await new UsageSettler(replayed, new UsageStore(storage, 'abcdef012345'), otherBus).settle();
    expect(replayed.buckets.size).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(later).toEqual([]);
    const totals = await new UsageStore(storage, 'abcdef012345').totals('default', new Date(T0), new Date(T0 + MINUTE));
    expect(totals).toEqual({ api_calls: 4, egress_bytes: 40 });
    await bus.close();
    await otherBus.close();
  });

  it('counts a bus event on one node only when it reaches several, and a viewer whose join another node saw', async () => {
    const now = T0 + 5000;
    const nodes = ['aaaaaaaaaaa1', 'aaaaaaaaaaa2'].map((name) => ({ meter: new UsageMeter(journalDir(), () => now), store: new UsageStore(storage, name) }));
    const [one, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const stream = createEvent('stream.ended', { tenantId: 'default', payload: { roomId: 'r', durationMs: 30_000 } });
    // Redelivered to the other node (the first died before acknowledging it): counted once.
    expect(await countOnce(one.meter, one.store, stream)).toBe(true);
    expect(await countOnce(two.meter, two.store, stream)).toBe(false);
    expect(await countOnce(one.meter, one.store, stream)).toBe(false);
    // The join went to one node, the leave to the other: the leave says how long the viewer watched.
    const joined = createEvent('stream.viewer.joined', { tenantId: 'default', at: new Date(T0), payload: { roomId: 'r', viewerId: 'v' } });
    const left = createEvent('stream.viewer.left', { tenantId: 'default', at: new Date(T0 + 90_000), payload: { roomId: 'r', viewerId: 'v', watchedMs: 90_000 } });
    expect(await countOnce(one.meter, one.store, joined)).toBe(true);
    expect(await countOnce(two.meter, two.store, left)).toBe(true);
    expect(amounts(one.meter)).toEqual({ [`${T0 / MINUTE}|default`]: { stream_ms: 30_000 } });
    expect(amounts(two.meter)).toEqual({ [`${T0 / MINUTE}|default`]: { participant_ms: 90_000 } });
    // Claims older than the days kept are forgotten; recent ones stay.
    await one.store.pruneClaims(7);
    expect(await countOnce(two.meter, two.store, stream)).toBe(false);
    await one.store.pruneClaims(-1);
    expect(await storage.db.selectFrom('usage_event_claims').select('event_id').execute()).toEqual([]);
  });
});

describe('invoices', () => {
  it('bills whole units past what the plan includes, in minor units', () => {
    expect(pricesFor('no-such-plan').plan).toBe('unlimited');
    const { plan, prices } = pricesFor('free');
    expect(plan).toBe('free');
    const invoice = buildInvoice({
      tenantId: 'label-a',
      period: '2026-05',
      plan,
      prices,
      usage: { api_calls: 250_500, egress_bytes: 12_500_000_000, connection_ms: 90 * MINUTE },
      now: Date.UTC(2026, 5, 1),
    });
    const line = (metric: string) => invoice.lines.find((l) => l.metric === metric);
    // 250 500 calls: 251 blocks of 1000, 100 included, 151 × 2.
    expect(line('api_calls')).toMatchObject({ quantity: 250_500, units: 251, included: 100, billable: 151, unitPrice: 2, amount: 302 });
    // 12.5 GB: 13 GB, 10 included, 3 × 8.
    expect(line('egress_bytes')).toMatchObject({ units: 13, billable: 3, amount: 24 });
    expect(line('connection_ms')).toMatchObject({ units: 1, billable: 0, amount: 0 });
    expect(invoice).toMatchObject({ from: '2026-05-01T00:00:00.000Z', to: '2026-06-01T00:00:00.000Z', currency: 'EUR', final: true, total: 326 });
    expect(invoice.lines).toHaveLength(USAGE_METRICS.length);
    expect(pricesFor('studio').prices).toBe(PLAN_PRICES.studio);
    expect(() => buildInvoice({ tenantId: 'a', period: '2026-5', plan, prices, usage: {}, now: 0 })).toThrow('invalid period');
  });
});
