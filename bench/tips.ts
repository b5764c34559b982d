// Tip throughput: `POST /api/v1/live/:room/tips` on a `veza serve` child process over PostgreSQL
// (and the Redis bus when Redis answers), closed loop at each concurrency for a fixed time.
//
// Side by side in the same run and on the same database server:
//   - new tips (a fresh idempotency key each: charge, tip row, two ledger lines, outbox, publish);
//   - retries (keys already used: one read, the stored answer back);
//   - the floor: the same rows written by plain SQL over a pool of as many connections (a tip row
//     and two ledger lines in one transaction, no idempotency check, no HTTP, no events), which is
//     what a server without idempotency would at least have to do.
// Usage: node --import tsx bench/tips.ts [--seconds 10] [--concurrency 1,8,32]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { Authenticator } from '../src/server/auth.js';
import { Storage } from '../src/storage/database.js';
import { freePort, gitDescribe, waitReady } from './lib/servers.js';
import { percentile } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '1,8,32' },
  },
});
const POSTGRES = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = (line: string) => process.stderr.write(`${line}\n`);
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);

async function redisAnswers(): Promise<boolean> {
  const redis = new Redis(REDIS, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function closedLoop(concurrency: number, seconds: number, request: () => Promise<void>): Promise<{ rate: number; p50: number; p95: number; p99: number }> {
  const samples: number[] = [];
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await request();
        samples.push(performance.now() - t);
      }
    }),
  );
  const sorted = Float64Array.from(samples).sort();
  return { rate: samples.length / ((performance.now() - started) / 1000), p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99) };
}

async function main(): Promise<void> {
  const redis = await redisAnswers();
  log(`tips bench on ${gitDescribe()}, node ${process.version}; bus: ${redis ? 'Redis' : 'in-process'}`);
  const name = `veza_bench_tips_${Date.now()}`;
  const admin = new pg.Client({ connectionString: POSTGRES });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES);
  url.pathname = `/${name}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-bench-tips-'));
  const storage = await Storage.open({ dataDir, databaseUrl: url.toString() });
  await storage.migrate();
  await storage.close();
  const port = await freePort();
  const args = ['bin/veza.js', 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--database-url', url.toString(), '--rate-limit-requests-per-minute', '0', '--recs-train-interval-s', '0', '--log-level', 'error'];
  if (redis) args.push('--redis-url', REDIS, '--events-stream', `veza:bench:tips:${Date.now()}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const pool = new pg.Pool({ connectionString: url.toString(), max: 32 });
  // Dropping the database at the end ends idle connections: not an error worth a crash.
  pool.on('error', () => undefined);
  try {
    await waitReady(port);
    const config = loadConfig({}, { 'data-dir': dataDir });
    const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => auth.sign({ sub: `fan-${i}` })));
    const used: { token: string; key: string; amount: number }[] = [];
    let n = 0;
    const send = async (token: string, key: string, amount: number, expect: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/live/stage-${amount % 4}/tips`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ toUserId: 'artist', amount, currency: 'EUR', message: 'gg' }),
      });
      if (res.status !== expect) throw new Error(`tip answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer().catch(() => undefined);
    };
    const fresh = async () => {
      const i = n++;
      const entry = { token: tokens[i % tokens.length]!, key: `bench-${i}`, amount: 100 + (i % 900) };
      await send(entry.token, entry.key, entry.amount, 201);
      used.push(entry);
    };
    const retry = async () => {
      const entry = used[Math.floor(Math.random() * used.length)]!;
      await send(entry.token, entry.key, entry.amount, 200);
    };
    const floor = async () => {
      const client = await pool.connect();
      try {
        const id = randomUUID();
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO tips (tenant_id, tip_id, from_user, idempotency_key, request_hash, room_id, to_user, amount_minor, currency, status, provider, provider_ref, created_at)
           VALUES ('default', $1, 'fan', $1, '', 'stage', 'artist', 500, 'EUR', 'sent', 'floor', '', now())`,
          [id],
        );
        await client.query(`INSERT INTO ledger_entries VALUES ('default', $1, 0, 'external:floor', 'EUR', -500, now()), ('default', $1, 1, 'payable:artist', 'EUR', 500, now())`, [`floor:${id}`]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    for (let i = 0; i < 100; i++) await fresh();
    const rows = ['| what | concurrency | per second | p50 ms | p95 ms | p99 ms |', '|---|---|---|---|---|---|'];
    for (const concurrency of values.concurrency.split(',').map(Number)) {
      for (const [label, run] of [
        ['new tips (HTTP, idempotent, ledger, events)', fresh],
        ['retries of sent tips (HTTP)', retry],
        ['floor: tip + 2 ledger lines by plain SQL', floor],
      ] as const) {
        const r = await closedLoop(concurrency, Number(values.seconds), run);
        rows.push(`| ${label} | ${concurrency} | ${Math.round(r.rate)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} |`);
        log(rows.at(-1)!);
      }
    }
    const ledger = await pool.query<{ lines: string; total: string }>('SELECT count(*) AS lines, sum(amount_minor) AS total FROM ledger_entries');
    const tips = await pool.query<{ n: string }>("SELECT count(*) AS n FROM tips WHERE provider = 'test'");
    console.log(`\nTips on PostgreSQL (${redis ? 'Redis' : 'in-process'} bus), ${values.seconds} s per row:\n${rows.join('\n')}`);
    console.log(`\nAfterwards: ${tips.rows[0]!.n} tips through the API for ${used.length} accepted answers; ledger ${ledger.rows[0]!.lines} lines summing to ${ledger.rows[0]!.total}.`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
