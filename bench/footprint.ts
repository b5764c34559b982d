// The embedded default's memory, measured as a person runs it: `veza serve --dev` as a child process
// on a fresh data directory, every module on. Its resident memory (and, apart, its child processes':
// tsx's esbuild service, mediasoup workers) 8 s after /healthz answers, its peak (VmHWM), and both
// again after a short collaboration load driven by bench/lib/load.ts; on PGlite, on PostgreSQL (a
// fresh database) and, beside them, y-websocket's server under the same load.
// Usage: node --import tsx bench/footprint.ts [--targets pglite,postgres,y-websocket] [--settle S]
//        [--docs N] [--clients M] [--rate R] [--seconds S] [--root DIR] [--compiled]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runStep } from './lib/load.js';
import { gitDescribe, sleep, startServer, type RunningServer, type ServerName } from './lib/servers.js';

const targets = ['pglite', 'postgres', 'y-websocket'] as const;
type Target = (typeof targets)[number];

const USAGE = `bench/footprint.ts: resident memory of a fresh server at rest and after a short collaboration load

  --targets LIST   ${targets.join(',')} (default: all)
  --settle S       seconds after /healthz answers before reading memory (8)
  --docs N --clients M --rate R --seconds S   the load: documents, clients per document, updates/s, seconds (10, 5, 500, 3)
  --root DIR       run the server of another checkout (e.g. a worktree of main, for a before/after)
  --compiled       compile the sources into build/ first, as npm start does (default: as they are)
  --database-url   PostgreSQL server for the postgres target (postgres://postgres@127.0.0.1:5432/test);
                   a fresh database is created on it for the run and dropped after
`;

interface Memory {
  rssMiB: number;
  peakMiB: number;
  anonMiB: number;
  fileMiB: number;
  threads: number;
  /** Child processes (name and resident MiB), counted apart from the server's own figure. */
  children: { name: string; rssMiB: number }[];
}

interface TargetReport {
  target: Target;
  startSeconds: number;
  idle: Memory;
  afterLoad?: Memory;
  load?: string;
  error?: string;
}

const { values } = parseArgs({
  options: Object.fromEntries([...['targets', 'settle', 'docs', 'clients', 'rate', 'seconds', 'root', 'database-url'].map((k) => [k, { type: 'string' }]), ['compiled', { type: 'boolean' }], ['help', { type: 'boolean' }]]) as Record<string, { type: 'string' | 'boolean' }>,
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const chosen = String(values.targets ?? targets.join(',')).split(',') as Target[];
for (const t of chosen) if (!targets.includes(t)) throw new Error(`unknown target ${t}; one of ${targets.join(', ')}`);
const settleSeconds = Number(values.settle ?? 8);
const load = { docs: Number(values.docs ?? 10), clients: Number(values.clients ?? 5), rate: Number(values.rate ?? 500), warmupSeconds: 1, seconds: Number(values.seconds ?? 3), drainSeconds: 2 };
const root = values.root ? path.resolve(String(values.root)) : fileURLToPath(new URL('..', import.meta.url));
const databaseUrl = String(values['database-url'] ?? 'postgres://postgres@127.0.0.1:5432/test');

const kib = (status: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
const mib = (kB: number) => Math.round(kB / 1024);

/** Every process under `pid` (children, grandchildren), from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const children = descendants(pid).flatMap((child) => {
    try {
      const s = readFileSync(`/proc/${child}/status`, 'utf8');
      return [{ name: /Name:\s+(\S+)/.exec(s)?.[1] ?? '?', rssMiB: mib(kib(s, 'VmRSS')) }];
    } catch {
      return [];
    }
  });
  return { rssMiB: mib(kib(status, 'VmRSS')), peakMiB: mib(kib(status, 'VmHWM')), anonMiB: mib(kib(status, 'RssAnon')), fileMiB: mib(kib(status, 'RssFile')), threads: Number(/Threads:\s+(\d+)/.exec(status)?.[1]), children };
}

async function waitHealthy(server: RunningServer): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    try {
      if ((await fetch(`${server.httpUrl}/healthz`)).ok) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error('/healthz did not answer within 60 s');
}

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const name = `veza_footprint_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

async function measure(target: Target, extraArgs: string[] = []): Promise<TargetReport> {
  const name: ServerName = target === 'y-websocket' ? 'y-websocket' : 'veza';
  const began = performance.now();
  const server = await startServer(name, { root, startTimeoutMs: 400_000, ...(name === 'veza' ? { vezaArgs: ['--dev', ...extraArgs] } : {}) });
  try {
    await waitHealthy(server);
    const startSeconds = (performance.now() - began) / 1000;
    await sleep(settleSeconds * 1000);
    const idle = memoryOf(server.pid);
    const step = await runStep(server, load, () => undefined);
    await sleep(2000);
    const afterLoad = memoryOf(server.pid);
    const loadLine = `${step.updates} updates, ${(step.deliveredFraction * 100).toFixed(1)} % delivered, p99 ${step.latencyMs.p99.toFixed(1)} ms`;
    return { target, startSeconds, idle, afterLoad, load: loadLine };
  } finally {
    await server.stop();
  }
}

function row(report: TargetReport): string {
  const children = (m: Memory) => (m.children.length ? m.children.map((c) => `${c.name} ${c.rssMiB}`).join(', ') : 'none');
  if (report.error) return `| ${report.target} | error: ${report.error} | | | | |`;
  const { idle, afterLoad } = report;
  return `| ${report.target} | ${idle.rssMiB} (anon ${idle.anonMiB}, file ${idle.fileMiB}) | ${idle.peakMiB} | ${afterLoad?.rssMiB ?? '–'} | ${afterLoad?.peakMiB ?? '–'} | ${children(idle)} |`;
}

if (values.compiled) execFileSync(process.execPath, ['scripts/build-server-if-changed.mjs'], { cwd: root, stdio: 'inherit' });
const startedAt = new Date();
process.stdout.write(`footprint bench: ${chosen.join(', ')} from ${root}; ${settleSeconds} s after /healthz; load ${load.docs} docs × ${load.clients} clients at ${load.rate}/s for ${load.seconds} s\n`);
const reports: TargetReport[] = [];
for (const target of chosen) {
  try {
    reports.push(target === 'postgres' ? await withDatabase((url) => measure(target, ['--database-url', url])) : await measure(target));
  } catch (error) {
    reports.push({ target, startSeconds: 0, idle: memoryOf(process.pid), error: (error as Error).message.split('\n')[0]! });
  }
  const last = reports.at(-1)!;
  process.stdout.write(`${last.target}: ${last.error ?? `idle ${last.idle.rssMiB} MiB (peak ${last.idle.peakMiB}), after load ${last.afterLoad?.rssMiB} MiB (peak ${last.afterLoad?.peakMiB}); ${last.load}; ready in ${last.startSeconds.toFixed(1)} s`}\n`);
}
process.stdout.write(
  ['', '| server | idle RSS MiB | idle peak MiB | RSS after load MiB | peak after load MiB | child processes at rest (MiB, apart) |', '|---|---|---|---|---|---|', ...reports.map(row), ''].join('\n'),
);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}footprint-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify({ startedAt, argv: process.argv.slice(2), root, commit: gitDescribe(), load, settleSeconds, reports }, null, 2)}\n`);
process.stdout.write(`\nresults: ${file}\n`);
