// Creator insights at scale: N listening, engagement and commerce events (10 million by default)
// go through the same writer the `insights` consumer group uses, in batches, into PostgreSQL; then
// each insights query runs for random creators and tracks, and its latency is reported.
//
// Side by side in the same run: the same totals computed from a raw events table (what a server
// without rollups would scan), for the same creators and periods.
// Usage: node --import tsx bench/insights.ts [--events 10000000] [--queries 200] [--raw-queries 20]
//        [--keep] keeps the database and prints its name; [--reuse NAME] skips ingestion and measures
//        the queries again on a kept database (for a quiet machine after a long load).
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createEvent, type VezaEvent } from '../src/events/catalog.js';
import { parsePeriod } from '../src/insights/routes.js';
import { InsightsQueries } from '../src/insights/queries.js';
import { InsightsWriter } from '../src/insights/writer.js';
import { seededRandom } from '../src/shared/random.js';
import { RecommendationStore } from '../src/recommendations/store.js';
import { Storage } from '../src/storage/database.js';
import { gitDescribe } from './lib/servers.js';
import { percentile } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    queries: { type: 'string', default: '200' },
    'raw-queries': { type: 'string', default: '20' },
    batch: { type: 'string', default: '20000' },
    keep: { type: 'boolean', default: false },
    reuse: { type: 'string' },
  },
});
const EVENTS = Number(values.events);
const CREATORS = 2000;
const TRACKS_PER_CREATOR = 5;
const USERS = 200_000;
const DAYS = 90;
const START = Date.UTC(2026, 6, 1);
const POSTGRES = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const log = (line: string) => process.stderr.write(`${line}\n`);
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));

function bar(done: number, total: number, started: number, label: string): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const rate = done / ((performance.now() - started) / 1000);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((100 * done) / total).toFixed(0).padStart(3)}% ${label} ${done.toLocaleString('en')} (${Math.round(rate).toLocaleString('en')}/s)   `);
}

/**
 * Popularity is skewed (creator k gets weight 1/(k+1)^0.8), listeners have favourite creators, and
 * plays end anywhere (a third complete). 12 % of plays bring a like, 4 % a share, 1 % a purchase.
 * Events come in time order, as the bus delivers them, spread evenly over the 90 days.
 */
function* generate(seed: number): Generator<VezaEvent> {
  const random = seededRandom(seed);
  const weights = Array.from({ length: CREATORS }, (_, k) => 1 / (k + 1) ** 0.8);
  const cumulative: number[] = [];
  weights.reduce((sum, w, k) => (cumulative[k] = sum + w), 0);
  const total = cumulative.at(-1)!;
  const pickCreator = () => {
    const x = random() * total;
    let lo = 0;
    let hi = CREATORS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const make = (type: VezaEvent['type'], actor: string, at: number, payload: object) =>
    createEvent(type as 'track.played', { tenantId: 'default', actor, at: new Date(at), payload: payload as never }) as VezaEvent;
  // Time moves forward, as it does on the bus: each play lands in the next slice of the 90 days.
  const step = (DAYS * 86_400_000) / EVENTS;
  for (let n = 0; n < EVENTS; ) {
    const user = `u${Math.floor(random() ** 1.5 * USERS)}`;
    const track = `c${pickCreator()}-t${Math.floor(random() * TRACKS_PER_CREATOR)}`;
    const at = START + Math.floor((n + random()) * step);
    const duration = 180_000;
    const end = random() < 0.33 ? duration : Math.floor(random() * duration);
    yield make('track.played', user, at, { trackId: track, startMs: 0, endMs: end, durationMs: duration });
    n++;
    const r = random();
    if (r < 0.12 && n < EVENTS) {
      yield make('track.liked', user, at + 30_000, { trackId: track });
      n++;
    }
    if (r < 0.04 && n < EVENTS) {
      yield make('track.shared', user, at + 60_000, { trackId: track });
      n++;
    }
    if (r < 0.01 && n < EVENTS) {
      yield make('track.purchased', user, at + 90_000, { trackId: track, amount: 99, currency: 'EUR' });
      n++;
    }
  }
}

function summary(samples: number[]) {
  const sorted = Float64Array.from(samples).sort();
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99) };
}

async function ingest(storage: Storage, raw: pg.Client): Promise<void> {
  await storage.migrate();
  await raw.query('CREATE TABLE raw_events (track_id text NOT NULL, user_id text NOT NULL, type text NOT NULL, at timestamptz NOT NULL, end_ms integer, amount integer)');
  const items = Array.from({ length: CREATORS * TRACKS_PER_CREATOR }, (_, i) => {
    const creator = Math.floor(i / TRACKS_PER_CREATOR);
    return { type: 'item' as const, itemId: `c${creator}-t${i % TRACKS_PER_CREATOR}`, kind: 'track' as const, artistId: `c${creator}`, title: null as unknown as undefined, tags: [] };
  });
  await new RecommendationStore(storage).upsertItems('default', items.map(({ title: _title, ...rest }) => rest));

  const writer = new InsightsWriter(storage);
  const started = performance.now();
  let batch: VezaEvent[] = [];
  let done = 0;
  const flush = async () => {
    await writer.write(batch);
    // The raw table, for the side-by-side scan (COPY-like multi-row insert).
    const rows = batch.map((e) => [
      (e.payload as { trackId: string }).trackId,
      e.actor!,
      e.type,
      e.at,
      e.type === 'track.played' ? (e.payload as { endMs: number }).endMs : null,
      e.type === 'track.purchased' ? (e.payload as { amount: number }).amount : null,
    ]);
    for (let k = 0; k < rows.length; k += 5000) {
      const some = rows.slice(k, k + 5000);
      const params = some.flat();
      const placeholders = some.map((_, i) => `($${i * 6 + 1},$${i * 6 + 2},$${i * 6 + 3},$${i * 6 + 4},$${i * 6 + 5},$${i * 6 + 6})`).join(',');
      await raw.query(`INSERT INTO raw_events VALUES ${placeholders}`, params);
    }
    done += batch.length;
    batch = [];
    bar(done, EVENTS, started, 'events');
  };
  for (const event of generate(1)) {
    batch.push(event);
    if (batch.length >= Number(values.batch)) await flush();
  }
  if (batch.length) await flush();
  const ingestSeconds = (performance.now() - started) / 1000;
  process.stderr.write('\n');
  await raw.query('CREATE INDEX raw_events_at ON raw_events (at)');
  await raw.query('ANALYZE');
  console.log(`\nIngestion: ${EVENTS.toLocaleString('en')} events through InsightsWriter (batches of ${values.batch}) in ${ingestSeconds.toFixed(0)} s, ${Math.round(EVENTS / ingestSeconds).toLocaleString('en')} events/s (this includes writing the raw table for the comparison).`);
}

async function main(): Promise<void> {
  log(`insights bench on ${gitDescribe()}, node ${process.version}: ${EVENTS.toLocaleString('en')} events, ${CREATORS} creators × ${TRACKS_PER_CREATOR} tracks, ${USERS} listeners, ${DAYS} days`);
  const name = values.reuse ?? `veza_bench_insights_${Date.now()}`;
  if (!/^veza_bench_insights_\d+$/.test(name)) throw new Error(`--reuse takes a database this bench kept, not ${name}`);
  const admin = new pg.Client({ connectionString: POSTGRES });
  await admin.connect();
  if (!values.reuse) await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES);
  url.pathname = `/${name}`;
  const storage = await Storage.open({ dataDir: '/tmp', databaseUrl: url.toString() });
  const raw = new pg.Client({ connectionString: url.toString() });
  try {
    await raw.connect();
    if (!values.reuse) await ingest(storage, raw);
    const sizes = await raw.query<{ relname: string; rows: string; size: string }>(
      `SELECT relname, n_live_tup AS rows, pg_size_pretty(pg_total_relation_size(relid)) AS size FROM pg_stat_user_tables WHERE relname LIKE 'ins_%' OR relname = 'raw_events' ORDER BY relname`,
    );
    console.log('\n| table | rows (estimated) | size |\n|---|---|---|');
    for (const s of sizes.rows) console.log(`| ${s.relname} | ${Number(s.rows).toLocaleString('en')} | ${s.size} |`);

    const queries = new InsightsQueries(storage);
    const random = seededRandom(99);
    // Creators drawn from the popular head and the long tail alike.
    const creator = () => `c${Math.floor(random() ** 2 * CREATORS)}`;
    const period = parsePeriod('2026-08-01', '2026-08-29');
    const measures: [string, () => Promise<unknown>][] = [
      ['summary totals (listening)', async () => queries.listening('default', (await queries.tracksOf('default', creator())).map((t) => t.trackId), period)],
      ['funnel', async () => queries.funnel('default', (await queries.tracksOf('default', creator())).map((t) => t.trackId), period)],
      [
        'heat-map (one track vs the creator\'s others)',
        async () => {
          const tracks = (await queries.tracksOf('default', creator())).map((t) => t.trackId);
          return queries.heatmap('default', tracks[0]!, tracks.slice(1), period, 'all');
        },
      ],
      [
        'cohorts (8 weeks)',
        async () => {
          const c = creator();
          return queries.cohorts('default', c, (await queries.tracksOf('default', c)).map((t) => t.trackId), 'listeners', parsePeriod('2026-07-06', '2026-08-31'), 8);
        },
      ],
    ];
    const rows = ['| query | p50 ms | p95 ms | p99 ms |', '|---|---|---|---|'];
    for (const [label, run] of measures) {
      for (let i = 0; i < 10; i++) await run();
      const samples: number[] = [];
      for (let i = 0; i < Number(values.queries); i++) {
        const t = performance.now();
        await run();
        samples.push(performance.now() - t);
      }
      const s = summary(samples);
      rows.push(`| ${label} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} |`);
      log(rows.at(-1)!);
    }
    // The same totals from raw events: plays, listeners, likes for a creator's tracks in the period.
    const rawSamples: number[] = [];
    for (let i = 0; i < Number(values['raw-queries']); i++) {
      const c = creator();
      const t = performance.now();
      await raw.query(
        `SELECT count(*) FILTER (WHERE type = 'track.played') AS plays, count(DISTINCT user_id) FILTER (WHERE type = 'track.played') AS listeners,
                count(*) FILTER (WHERE type = 'track.liked') AS likes
           FROM raw_events WHERE track_id LIKE $1 AND at >= $2 AND at < $3`,
        [`${c}-%`, period.from, period.to],
      );
      rawSamples.push(performance.now() - t);
    }
    const r = summary(rawSamples);
    rows.push(`| raw events table, same totals (index on time only) | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} |`);
    console.log(`\nQueries (${values.queries} each, random creators, a 4-week period; raw: ${values['raw-queries']}):\n${rows.join('\n')}`);
  } finally {
    await raw.end().catch(() => undefined);
    await storage.close();
    if (values.keep || values.reuse) log(`kept database ${name}`);
    else await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
