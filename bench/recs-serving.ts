// Serving speed of recommendations at the scale the issue names: 100 000 items × 64 factors.
//
// 1. Scoring core, side by side in one run: the ONNX graph (Gemm + mask + TopK in onnxruntime-node)
//    on 1 and 2 threads, against the TypeScript reference topK, for one user (ANCHORS: 0.5–1 ms for
//    one user on 2 threads) and for the batch of 4 rows one API answer scores.
// 2. The API end to end, `GET /api/v1/recommendations` on a `veza serve` child process over
//    PostgreSQL (or PGlite with --pglite), closed loop at each concurrency for a fixed time, with
//    p50/p95/p99 and throughput. Users have 30 items each in the database (read once, then kept by
//    the history cache).
// 3. With --base DIR (another checkout, e.g. `git worktree add /tmp/wt-recs-base main --detach` with
//    a node_modules link), the same requests against that checkout's server too, in the same run:
//    both servers run side by side over the same database and take turns at each step.
// 4. CPU per answer, per step: the server process's (every thread, from /proc/<pid>/stat) and the load
//    generator's own (process.cpuUsage), so that a shared machine's load shows in neither.
// Before measuring, the bench waits until every server's CPU has gone quiet (a server may prepare its
// users in the background when the model loads: VEZA_RECS_PRECOMPUTE_USERS).
// Each step runs its load for --warmup seconds (default 1) before the measured --seconds.
// Usage: node --import tsx bench/recs-serving.ts [--seconds 15] [--warmup 1] [--concurrency 1,4,16] [--pglite]
//        [--base DIR] [--contexts discovery,collaboration,production] [--no-core]
//        [--precompute-users N (default: every user)] [--server-node-args='--cpu-prof --cpu-prof-dir=DIR']
//        [--client lean|fetch|lean,fetch] [--server-profile FILE]
// --server-profile writes a CPU profile of this checkout's server (over its inspector) taken only
// during the measured steps: where a served answer's time goes on the main thread.
// The load generator's client (--client): `lean` (default), one keep-alive connection per simulated
// client parsed by hand (bench/lib/lean-http.ts), or Node's `fetch`, which costs several times more
// CPU per request on the cores the server shares; `lean,fetch` measures each step with both.
// Both ask for compressed answers as `fetch` does (br, gzip, deflate) and check every answer.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { writeModel } from '../src/recommendations/model-files.js';
import { syntheticCatalogue } from './lib/synthetic-catalogue.js';
import { buildScoringModel, EXCLUDED, OnnxScorer } from '../src/recommendations/onnx-model.js';
import { seededRandom } from '../src/shared/random.js';
import { RecommendationStore } from '../src/recommendations/store.js';
import { topK } from '../src/recommendations/topk.js';
import { Authenticator } from '../src/server/auth.js';
import { Storage } from '../src/storage/database.js';
import { profileWhile } from './lib/inspector-profile.js';
import { LeanHttpConnection } from './lib/lean-http.js';
import { freePort, gitDescribe, waitReady } from './lib/servers.js';
import { percentile } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    /** Seconds of the same load before each step's measured seconds. */
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '1,4,16' },
    pglite: { type: 'boolean', default: false },
    items: { type: 'string', default: '100000' },
    users: { type: 'string', default: '20000' },
    base: { type: 'string' },
    contexts: { type: 'string', default: 'discovery,collaboration,production' },
    'no-core': { type: 'boolean', default: false },
    /** Node options for this checkout's server only, e.g. `--cpu-prof --cpu-prof-dir=DIR` for a profile. */
    'server-node-args': { type: 'string', default: '' },
    /** Users each server prepares when the model loads (VEZA_RECS_PRECOMPUTE_USERS; a base without the setting ignores it). */
    'precompute-users': { type: 'string' },
    client: { type: 'string', default: 'lean' },
    'server-profile': { type: 'string' },
  },
});
const ITEMS = Number(values.items);
const USERS = Number(values.users);
const FACTORS = 64;
const HISTORY = 30;
const POSTGRES = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const log = (line: string) => process.stderr.write(`${line}\n`);
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;
/** A process's CPU time so far, ms (user + system, every thread). */
const processCpuMs = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
};
const ownCpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
/**
 * Waits until the process used under 5 % of a core over 2 s (what it does after start-up is done), 15
 * minutes at most (a server under a CPU profiler never gets that quiet: the sampling costs more).
 */
async function quiet(pid: number): Promise<number> {
  const began = performance.now();
  while (performance.now() - began < 900_000) {
    const before = processCpuMs(pid);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    if (processCpuMs(pid) - before < 100) break;
  }
  return (performance.now() - began) / 1000;
}
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);

function summary(samples: number[]): { p50: number; p95: number; p99: number; mean: number } {
  const sorted = Float64Array.from(samples).sort();
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99), mean: samples.reduce((s, v) => s + v, 0) / samples.length };
}

/** Normal-ish factors (sum of uniforms), like a trained model's: a few large, most small. */
function factors(rows: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: rows * FACTORS }, () => (random() + random() + random() - 1.5) * 0.2);
}

async function scoringCore(itemFactors: Float32Array, userFactors: Float32Array): Promise<void> {
  log(`\n## Scoring core: ${ITEMS} items × ${FACTORS} factors, 300 calls each after 30 warm-up calls`);
  const exclude = Array.from({ length: HISTORY }, (_, i) => i * 97);
  const mask = new Float32Array(ITEMS);
  for (const i of exclude) mask[i] = EXCLUDED;
  const user = (u: number) => userFactors.subarray(u * FACTORS, (u + 1) * FACTORS);
  const onnx = buildScoringModel(itemFactors, ITEMS, FACTORS, { version: 'bench' });
  const rows: string[] = ['| scorer | rows per call | p50 ms | p95 ms | p99 ms |', '|---|---|---|---|---|'];
  const measure = async (name: string, batch: number, call: (u: number) => Promise<unknown> | unknown) => {
    for (let u = 0; u < 30; u++) await call(u);
    const samples: number[] = [];
    for (let u = 0; u < 300; u++) {
      const started = performance.now();
      await call(u);
      samples.push(performance.now() - started);
    }
    const s = summary(samples);
    rows.push(`| ${name} | ${batch} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} |`);
    log(rows.at(-1)!);
  };
  for (const threads of [1, 2]) {
    const scorer = await OnnxScorer.load(onnx, { intraOpThreads: threads });
    await measure(`ONNX, ${threads} thread${threads > 1 ? 's' : ''}`, 1, (u) => scorer.score(user(u).slice(), mask, 200));
    const batchMasks = new Float32Array(4 * ITEMS);
    for (let b = 0; b < 4; b++) batchMasks.set(mask, b * ITEMS);
    await measure(`ONNX, ${threads} thread${threads > 1 ? 's' : ''}`, 4, (u) => {
      const users = new Float32Array(4 * FACTORS);
      for (let b = 0; b < 4; b++) users.set(user((u + b) % USERS), b * FACTORS);
      return scorer.score(users, batchMasks, 200);
    });
    await scorer.release();
  }
  await measure('TypeScript topK (reference)', 1, (u) => topK(user(u), itemFactors, exclude, 200));
  console.log(rows.join('\n'));
}

async function prepare(dataDir: string, databaseUrl: string | undefined, itemFactors: Float32Array, userFactors: Float32Array): Promise<void> {
  const storage = await Storage.open({ dataDir, databaseUrl });
  await storage.migrate();
  const store = new RecommendationStore(storage);
  const random = seededRandom(5);
  const meta = syntheticCatalogue({ version: 'bench-1', factors: FACTORS, items: ITEMS, artists: 10_000, users: Array.from({ length: USERS }, (_, u) => `user-${u}`), random });
  const relative = await writeModel(dataDir, { meta, userFactors, itemFactors });
  await store.addModel('default', { version: meta.version, createdAt: new Date(), path: relative, summary: meta.summary });
  const at = new Date();
  const interactions = [];
  for (let u = 0; u < USERS; u++) {
    for (let k = 0; k < HISTORY; k++) interactions.push({ userId: `user-${u}`, itemId: `item-${Math.floor(random() * ITEMS)}`, weight: 1 + Math.floor(random() * 10), at });
  }
  for (let k = 0; k < interactions.length; k += 50_000) await store.addInteractions('default', interactions.slice(k, k + 50_000));
  await storage.close();
}

async function api(itemFactors: Float32Array, userFactors: Float32Array): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-recs-bench-'));
  let databaseUrl: string | undefined;
  let dropDatabase = async () => {};
  if (!values.pglite) {
    const name = `veza_bench_${Date.now()}`;
    const admin = new pg.Client({ connectionString: POSTGRES });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(POSTGRES);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      const client = new pg.Client({ connectionString: POSTGRES });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    };
  }
  const storageName = databaseUrl ? 'PostgreSQL' : 'PGlite';
  log(`\n## API: GET /api/v1/recommendations on ${storageName}; preparing ${USERS} users × ${HISTORY} items`);
  await prepare(dataDir, databaseUrl, itemFactors, userFactors);
  const servers = [{ name: `this ${gitDescribe()}`, dir: process.cwd() }, ...(values.base ? [{ name: `base ${execFileSync('git', ['-C', values.base, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).trim()}`, dir: path.resolve(values.base) }] : [])];
  const started = await Promise.all(
    servers.map(async (server) => {
      const port = await freePort();
      const args = ['bin/veza.js', 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--rate-limit-requests-per-minute', '0', '--recs-train-interval-s', '0', '--log-level', 'warn'];
      if (databaseUrl) args.push('--database-url', databaseUrl);
      const own = server.dir === process.cwd();
      const nodeArgs = own ? values['server-node-args'].split(' ').filter(Boolean) : [];
      const inspectPort = own && values['server-profile'] ? await freePort() : undefined;
      if (inspectPort) nodeArgs.push(`--inspect=127.0.0.1:${inspectPort}`);
      const env = { ...process.env, VEZA_RECS_PRECOMPUTE_USERS: values['precompute-users'] ?? String(USERS) };
      const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: server.dir, stdio: ['ignore', 'ignore', 'inherit'], env });
      return { ...server, port, child, inspectPort };
    }),
  );
  try {
    // A loaded machine may take longer to start two servers than waitReady allows one: keep waiting
    // while the child lives.
    for (const server of started) {
      for (let attempt = 1; ; attempt++) {
        try {
          await waitReady(server.port);
          break;
        } catch (error) {
          if (attempt === 5 || server.child.exitCode !== null) throw error;
        }
      }
    }
    const config = loadConfig({}, { 'data-dir': dataDir });
    const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
    const token = await auth.sign({ sub: 'bench', admin: true });
    const random = seededRandom(9);
    const clients = values.client.split(',');
    for (const client of clients) if (client !== 'lean' && client !== 'fetch') throw new Error(`--client takes lean, fetch or both, not ${client}`);
    type Answer = { source?: string; tracks?: unknown[]; samples?: unknown[] };
    const check = (status: number, body: Answer, context: string) => {
      const lead = context === 'production' ? body.samples : body.tracks;
      if (status !== 200 || body.source !== 'model' || lead?.length !== 20) throw new Error(`unexpected answer ${status}: ${JSON.stringify(body).slice(0, 300)}`);
    };
    const pathFor = (context: string) => `/api/v1/recommendations?user_id=user-${Math.floor(random() * USERS)}&context=${context}&limit=20`;
    /** One answer through `fetch`; its latency, ms. */
    const request = async (port: number, context: string) => {
      const began = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}${pathFor(context)}`, { headers: { authorization: `Bearer ${token}` } });
      check(res.status, (await res.json()) as Answer, context);
      return performance.now() - began;
    };
    const leanHeaders = { authorization: `Bearer ${token}`, 'accept-encoding': 'br, gzip, deflate' };
    /** One answer on a lean keep-alive connection; its latency, ms. */
    const leanRequest = async (connection: LeanHttpConnection, context: string) => {
      const began = performance.now();
      const res = await connection.get(pathFor(context), leanHeaders);
      check(res.status, JSON.parse(res.body.toString('utf8')) as Answer, context);
      return performance.now() - began;
    };
    // One server at a time: the first requests load the model (24 MiB ONNX + factors), then its users
    // are prepared, with the machine to itself, so that the CPU reported is that server's own.
    for (const server of started) {
      const cpuBefore = processCpuMs(server.child.pid!);
      for (let i = 0; i < 50; i++) await request(server.port, 'discovery');
      const waited = await quiet(server.child.pid!);
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1];
      log(`${server.name}: model loaded and users prepared in ${waited.toFixed(0)} s (${((processCpuMs(server.child.pid!) - cpuBefore) / 1000).toFixed(1)} s of CPU), RSS ${Math.round(Number(rss) / 1024)} MiB`);
    }
    const rows = [
      '| server | context | concurrency | client | requests/s | p50 ms | p95 ms | p99 ms | server CPU ms per answer | load generator CPU ms per answer | load average (1 min) |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    ];
    const steps = async () => {
      for (const context of values.contexts.split(',')) {
        for (const concurrency of values.concurrency.split(',').map(Number)) {
          for (const client of clients) for (const server of started) {
            const samples: number[] = [];
            // Connections are opened before the clock starts, as fetch's pool has them from the warm-up.
            const connections = client === 'lean' ? await Promise.all(Array.from({ length: concurrency }, () => LeanHttpConnection.connect(server.port))) : [];
            const load = (seconds: number, latencies: number[]) => {
              const until = performance.now() + seconds * 1000;
              return Promise.all(
                Array.from({ length: concurrency }, async (_, n) => {
                  const connection = connections[n];
                  while (performance.now() < until) latencies.push(await (connection ? leanRequest(connection, context) : request(server.port, context)));
                }),
              );
            };
            // The same load, not measured, first: the step starts with the code of this path compiled and the heap settled.
            await load(Number(values.warmup), []);
            const serverCpu = processCpuMs(server.child.pid!);
            const clientCpu = ownCpuMs();
            const began = performance.now();
            await load(Number(values.seconds), samples);
            for (const connection of connections) connection.close();
            const elapsed = (performance.now() - began) / 1000;
            const perAnswer = (cpu: number) => (cpu / samples.length).toFixed(2);
            const serverMs = perAnswer(processCpuMs(server.child.pid!) - serverCpu);
            const clientMs = perAnswer(ownCpuMs() - clientCpu);
            const s = summary(samples);
            rows.push(`| ${server.name} | ${context} | ${concurrency} | ${client} | ${Math.round(samples.length / elapsed)} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} | ${serverMs} | ${clientMs} | ${loadavg()[0]!.toFixed(1)} |`);
            log(rows.at(-1)!);
          }
        }
      }
    };
    const profiled = started.find((server) => server.inspectPort);
    if (profiled) await profileWhile(profiled.inspectPort!, values['server-profile']!, steps);
    else await steps();
    console.log(`\nAPI on ${storageName}:\n${rows.join('\n')}`);
  } finally {
    for (const server of started) server.child.kill('SIGTERM');
    await Promise.all(started.map((server) => new Promise((resolve) => (server.child.exitCode !== null ? resolve(null) : server.child.once('exit', resolve)))));
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

log(`recs-serving on ${gitDescribe()}, node ${process.version}`);
const itemFactors = factors(ITEMS, 1);
const userFactors = factors(USERS, 2);
if (!values['no-core']) await scoringCore(itemFactors, userFactors);
await api(itemFactors, userFactors);
