// Starts each server under test as its own child process and reads its CPU time and memory from /proc.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ProtocolName } from './protocol-clients.js';

export const serverNames = ['y-websocket', 'hocuspocus', 'veza', 'uws-floor', 'uws-yjs', 'uws-yjs-file', 'uws-yjs-pglite'] as const;
/**
 * Not anchors: references that show a floor (not counted as "the better anchor"). uws-yjs is the
 * floor with each update applied to a Y.Doc and Yjs' re-encoding forwarded: the least a safe Yjs
 * server on uWS does. uws-yjs-file and uws-yjs-pglite add a durable log to it (a batch every 100 ms
 * off the main thread: appended to a file and fdatasynced, or one PGlite row per update as veza's
 * log is): what durability costs the leanest Yjs server.
 */
export const referenceNames: readonly ServerName[] = ['uws-floor', 'uws-yjs', 'uws-yjs-file', 'uws-yjs-pglite'];
export type ServerName = (typeof serverNames)[number];

export interface RunningServer {
  readonly name: ServerName;
  readonly pid: number;
  readonly protocol: ProtocolName;
  url(docName: string): string;
  /** http://host:port of the server. */
  readonly httpUrl: string;
  /** veza only: a token the server accepts, for `veza token` arguments such as ['--sub', 'ann']. */
  token?(args: string[]): Promise<string>;
  /** The last lines the process wrote, for error reports. */
  outputTail(): string;
  stop(): Promise<void>;
}

const ownRoot = fileURLToPath(new URL('../..', import.meta.url));
const host = '127.0.0.1';
const startTimeoutMs = 30_000;

/** Environment for the children: no persistence, callbacks, external database or Redis leaks in. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('VEZA_') || ['YPERSISTENCE', 'CALLBACK_URL', 'DATABASE_URL', 'REDIS_URL', 'NODE_OPTIONS'].includes(key)) delete env[key];
  }
  return env;
}

/** Servers still running, so that an interrupted benchmark leaves none behind. */
const live = new Set<() => void>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const kill of live) kill();
    process.exit(130);
  });
}

/**
 * `clientLimits: 'off'` (the default): the load comes from one address and one user, so veza's limits
 * per address and per user (connections, open documents, document loads) are off, as the anchors have
 * none. `'server'`: veza runs with its own limits (the abuse soak).
 */
export interface StartServerOptions {
  clientLimits?: 'off' | 'server';
  /** veza only: more `veza serve` flags (e.g. --dev, --database-url). */
  vezaArgs?: string[];
  /** The checkout whose server runs (default: this one), e.g. another branch's worktree to compare against. */
  root?: string;
  /** How long it may take to listen (default 30 s; creating an embedded database on a busy machine takes longer). */
  startTimeoutMs?: number;
}

export async function startServer(name: ServerName, options: StartServerOptions = {}): Promise<RunningServer> {
  const root = options.root ?? ownRoot;
  const port = await freePort();
  const dataDir = name === 'veza' ? mkdtempSync(join(tmpdir(), 'veza-bench-')) : undefined;
  const args: Record<ServerName, string[]> = {
    'y-websocket': ['bench/anchors/y-websocket-server.cjs', String(port)],
    hocuspocus: ['bench/anchors/hocuspocus-server.mjs', String(port)],
    'uws-floor': ['bench/anchors/uws-floor.mjs', String(port)],
    'uws-yjs': ['bench/anchors/uws-floor.mjs', String(port)],
    'uws-yjs-file': ['bench/anchors/uws-floor.mjs', String(port)],
    'uws-yjs-pglite': ['bench/anchors/uws-floor.mjs', String(port)],
    veza: [
      'bin/veza.js', 'serve', '--host', host, '--port', String(port), '--data-dir', dataDir ?? '', '--log-level', 'warn',
      ...(options.clientLimits === 'server'
        ? []
        : [
            '--rate-limit-connections-per-minute', '0', '--max-connections-per-ip', '0', '--ws-messages-per-second', '0', '--rate-limit-requests-per-minute', '0',
            '--max-connections-per-user', '0', '--collab-max-documents-per-user', '0', '--collab-max-loads-per-user-per-second', '0', '--collab-max-loads-per-second', '0',
          ]),
      // Extra flags for what-if runs, e.g. BENCH_VEZA_ARGS="--collab-flush-ms 100 --database-url postgres://…".
      ...(process.env.BENCH_VEZA_ARGS?.split(' ').filter(Boolean) ?? []),
      ...(options.vezaArgs ?? []),
    ],
  };
  // Node flags for the server under test, e.g. BENCH_NODE_ARGS="--prof" (V8's tick profiler works with uWS; --cpu-prof does not).
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const floorEnv: Partial<Record<ServerName, Record<string, string>>> = {
    'uws-yjs': { FLOOR_YJS: '1' },
    'uws-yjs-file': { FLOOR_YJS: '1', FLOOR_LOG: 'file' },
    'uws-yjs-pglite': { FLOOR_YJS: '1', FLOOR_LOG: 'pglite' },
  };
  const env = { ...childEnv(), ...floorEnv[name] };
  const child = spawn(process.execPath, [...nodeArgs, ...args[name]], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = captureTail(child);
  // BENCH_SERVER_LOG=path keeps everything the server writes (e.g. with BENCH_NODE_ARGS="--trace-deopt").
  if (process.env.BENCH_SERVER_LOG) {
    const log = createWriteStream(process.env.BENCH_SERVER_LOG, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  }
  const kill = () => {
    child.kill('SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  live.add(kill);
  const cleanup = async () => {
    live.delete(kill);
    await stopChild(child);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  let token = '';
  try {
    await waitForPort(port, child, options.startTimeoutMs ?? startTimeoutMs);
    if (dataDir) token = await vezaToken(root, dataDir, ['--sub', 'bench', '--doc', '*', '--role', 'editor']);
  } catch (error) {
    await cleanup();
    throw new Error(`${(error as Error).message}${tail() ? `\n${tail()}` : ''}`);
  }
  const base = `ws://${host}:${port}`;
  const urls: Record<ServerName, (doc: string) => string> = {
    'y-websocket': (doc) => `${base}/${encodeURIComponent(doc)}`,
    hocuspocus: () => base,
    'uws-floor': (doc) => `${base}/${encodeURIComponent(doc)}`,
    'uws-yjs': (doc) => `${base}/${encodeURIComponent(doc)}`,
    'uws-yjs-file': (doc) => `${base}/${encodeURIComponent(doc)}`,
    'uws-yjs-pglite': (doc) => `${base}/${encodeURIComponent(doc)}`,
    veza: (doc) => `${base}/collab/${encodeURIComponent(doc)}?token=${encodeURIComponent(token)}`,
  };
  return {
    name,
    pid: child.pid!,
    protocol: name === 'hocuspocus' ? 'hocuspocus' : 'plain',
    url: urls[name],
    httpUrl: `http://${host}:${port}`,
    ...(dataDir ? { token: (args: string[]) => vezaToken(root, dataDir, args) } : {}),
    outputTail: tail,
    stop: cleanup,
  };
}

async function vezaToken(root: string, dataDir: string, tokenArgs: string[]): Promise<string> {
  const args = ['bin/veza.js', 'token', ...tokenArgs, '--data-dir', dataDir];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: root, env: childEnv(), timeout: 20_000 });
  return stdout.trim();
}

function captureTail(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim();
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited during start (${child.exitCode ?? child.signalCode})`);
    if (Date.now() > deadline) throw new Error(`not listening on ${port} after ${timeoutMs / 1000} s`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
}

/** SIGTERM, then SIGKILL if it is still there after its shutdown deadline. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
  await exited;
  clearTimeout(timer);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Side-module load for veza (`--side-events`): a gamification rule that counts plays, then plays and
 * likes from four listeners POSTed at `rate` per second by bench/lib/side-events.ts in its own process.
 * Resolves with a function that stops it and tells what was sent.
 */
export async function startSideEvents(server: RunningServer, rate: number): Promise<() => Promise<string>> {
  if (!server.token) throw new Error('--side-events needs veza');
  const admin = await server.token(['--sub', 'bench-admin', '--admin']);
  const rule = { title: 'Bench listener', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 1_000_000 }, points: 10 };
  const put = await fetch(`${server.httpUrl}/api/v1/gamification/rules/bench-listener`, { method: 'PUT', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(rule) });
  if (put.status !== 201 && put.status !== 200) throw new Error(`could not define the bench rule: ${put.status} ${await put.text()}`);
  const listeners = await Promise.all(['ann', 'bo', 'cy', 'di'].map((sub) => server.token!(['--sub', `bench-${sub}`])));
  return sendSideEvents(server.httpUrl, rate, listeners, []);
}

/**
 * The control for `--side-events` (`--side-events-sink`): the same process sending the same load to
 * bench/lib/side-events-sink.ts, a process that answers 202 and does nothing else, while any server
 * runs the steps.
 */
export async function startSideEventsSink(rate: number): Promise<() => Promise<string>> {
  const sink = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/side-events-sink.ts'], { cwd: ownRoot, env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  const killSink = () => sink.kill('SIGKILL');
  live.add(killSink);
  const port = await new Promise<string>((resolve, reject) => {
    sink.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    sink.once('exit', () => reject(new Error('the side-events sink did not start')));
  });
  return sendSideEvents(`http://127.0.0.1:${port}`, rate, ['sink-a', 'sink-b'], [killSink]);
}

async function sendSideEvents(baseUrl: string, rate: number, tokens: string[], alsoStop: (() => void)[]): Promise<() => Promise<string>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/side-events.ts', baseUrl, String(rate), ...tokens], { cwd: ownRoot, env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const kill = () => child.kill('SIGKILL');
  live.add(kill);
  return async () => {
    live.delete(kill);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    for (const stop of alsoStop) {
      live.delete(stop);
      stop();
    }
    return out.trim();
  };
}

/** Waits until a Veza server on 127.0.0.1:`port` answers /readyz (up to 30 s). */
export async function waitReady(port: number): Promise<void> {
  for (let tries = 0; ; tries++) {
    if (tries > 300) throw new Error('the server did not start');
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return;
    } catch {
      // not yet listening
    }
    await sleep(100);
  }
}

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * User and system CPU seconds of the process, all its threads included (/proc/<pid>/stat fields 14,
 * 15); with `thread`, of that thread only (the main thread's id is the process id).
 */
export function cpuSeconds(pid: number, thread?: number): { user: number; system: number } {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / clockTicks, system: Number(fields[12]) / clockTicks };
}

/**
 * Where a server's CPU went, by thread, in core-seconds since each thread started. veza's worker
 * threads lower their own priority (src/server/thread-priority.mjs): nice 5 is the storage worker,
 * nice 10 the event consumers; the main thread's id is the process id; every other thread is a
 * helper of the runtime (V8's garbage-collection and compiler tasks, libuv's pool).
 */
export type ThreadGroup = 'main' | 'storage' | 'consumers' | 'helpers';
export function threadCpu(pid: number): Map<number, { group: ThreadGroup; seconds: number }> {
  const threads = new Map<number, { group: ThreadGroup; seconds: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const nice = Number(fields[16]);
      const group: ThreadGroup = Number(tid) === pid ? 'main' : nice === 5 ? 'storage' : nice === 10 ? 'consumers' : 'helpers';
      threads.set(Number(tid), { group, seconds: (Number(fields[11]) + Number(fields[12])) / clockTicks });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/** Core-seconds per thread group between two `threadCpu` readings (a thread born between them counts from zero). */
export function threadCpuBetween(a: ReturnType<typeof threadCpu>, b: ReturnType<typeof threadCpu>): Record<ThreadGroup, number> {
  const out: Record<ThreadGroup, number> = { main: 0, storage: 0, consumers: 0, helpers: 0 };
  for (const [tid, { group, seconds }] of b) out[group] += seconds - (a.get(tid)?.seconds ?? 0);
  return out;
}

/** Busy core-seconds of the whole machine (/proc/stat: user, nice, system, steal; not interrupts). */
export function machineBusySeconds(): number {
  const [user, nice, system, , , , , steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + steal!) / clockTicks;
}

/** CPU seen at one moment: the whole machine's, the server's and this generator's, in core-seconds. */
export interface CpuSample {
  at: number;
  machine: number;
  server: number;
  /** The kernel's share of `server` (system time: socket writes, and on loopback the peer's receive path). */
  serverSystem: number;
  /** The server's main thread alone (its event loop: sockets and whatever else runs there). */
  serverMain: number;
  generator: number;
  threads: ReturnType<typeof threadCpu>;
}

export function sampleCpu(pid: number): CpuSample {
  const own = process.cpuUsage();
  const server = cpuSeconds(pid);
  const main = cpuSeconds(pid, pid);
  return { at: performance.now(), machine: machineBusySeconds(), server: server.user + server.system, serverSystem: server.system, serverMain: main.user + main.system, generator: (own.user + own.system) / 1e6, threads: threadCpu(pid) };
}

/** Percent of one core used between two samples by the server, and by everything but server and generator. */
export function cpuBetween(a: CpuSample, b: CpuSample): { server: number; other: number } {
  const wall = (b.at - a.at) / 1000;
  const server = b.server - a.server;
  const other = b.machine - a.machine - server - (b.generator - a.generator);
  return { server: (100 * server) / wall, other: Math.max(0, (100 * other) / wall) };
}

/** Resident set size in bytes (/proc/<pid>/status VmRSS). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? Number.NaN) * 1024;
}

/** The commit the bench ran on (`git describe --always --dirty`), for its results. */
export function gitDescribe(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
