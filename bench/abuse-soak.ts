// Abuse soak: how one veza server holds while it is abused, seen by a bystander (two clients on one
// document, one editing 20 times a second, the other timing each edit's arrival; and a third opening a
// fresh document once a second, timing its load). Phases against one
// server process: baseline; 10,000 idle connections over 1,000 documents from 40 loopback addresses;
// a flood of sockets from 100 addresses, on existing documents and then on a fresh document each;
// after everything closed. Sockets are opened by child processes (bench/lib/soak-worker.ts). Prints a
// markdown table and writes JSON to bench/results/.
// Usage: node --import tsx bench/abuse-soak.ts [--quick] [--server-flag name=value ...] (see --help)
import { fork, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as Y from 'yjs';
import { Framing, WireClient, clockRange } from './lib/protocol-clients.js';
import { cpuSeconds, gitDescribe, machineBusySeconds, rssBytes, sleep, startServer, type RunningServer } from './lib/servers.js';
import type { Outcomes, Target, WorkerCommand, WorkerReply } from './lib/soak-worker.js';
import { summarize, type LatencySummary } from './lib/stats.js';

const USAGE = `bench/abuse-soak.ts: a bystander's edit latency while one veza server is abused

  --server-flag name=value  a flag for the server (repeatable), after the soak's own:
                   --max-connections-per-ip 1000 --rate-limit-connections-per-minute 2400
  --idle N         idle connections (10000)        --idle-docs N       over N documents (1000)
  --idle-addresses N  from N loopback addresses 127.0.0.2… (40)
  --sockets-per-user N  idle sockets per user token, each on another document (4)
  --flood-addresses N  flood from 127.0.1.1… (100)  --flood-users N  users per variant, new ones each (10)
  --flood-seconds S   each flood variant (20)        --flood-hold N   admitted flood sockets kept open (2000)
  --flood-concurrency N  attempts in flight per flood process (64)
  --baseline-seconds S (15)  --idle-seconds S (15)  --after-seconds S (10)
  --quick          1000 idle over 100 docs, floods of 5 s, phases of 5 s: a smoke test
`;

interface Options {
  serverFlags: string[];
  idle: number;
  idleDocs: number;
  idleAddresses: number;
  socketsPerUser: number;
  floodAddresses: number;
  floodUsers: number;
  floodSeconds: number;
  floodHold: number;
  floodConcurrency: number;
  baselineSeconds: number;
  idleSeconds: number;
  afterSeconds: number;
  quick: boolean;
}

const IDLE_WORKERS = 4;
const IDLE_STEPS = 10;
/** An idle client refused with 429, 503 or 1013 reconnects after Retry-After (1 s without), this many times. */
const IDLE_RETRIES = 10;
const FLOOD_WORKERS = 2;
const JWT_SECRET = 'abuse-soak-secret-abuse-soak-secret-abuse-soak';
const BYSTANDER_HZ = 20;

function parseOptions(argv: string[]): Options {
  const numeric = ['idle', 'idle-docs', 'idle-addresses', 'sockets-per-user', 'flood-addresses', 'flood-users', 'flood-seconds', 'flood-hold', 'flood-concurrency', 'baseline-seconds', 'idle-seconds', 'after-seconds'];
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(numeric.map((k) => [k, { type: 'string' as const }])),
      'server-flag': { type: 'string', multiple: true },
      quick: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick === true;
  const preset = quick
    ? { idle: 1000, 'idle-docs': 100, 'flood-seconds': 5, 'baseline-seconds': 5, 'idle-seconds': 5, 'after-seconds': 5, 'flood-hold': 500 }
    : { idle: 10_000, 'idle-docs': 1000, 'flood-seconds': 20, 'baseline-seconds': 15, 'idle-seconds': 15, 'after-seconds': 10, 'flood-hold': 2000 };
  const defaults: Record<string, number> = { ...preset, 'idle-addresses': 40, 'sockets-per-user': 4, 'flood-addresses': 100, 'flood-users': 10, 'flood-concurrency': 64 };
  const num = (key: string, min: number, max = Infinity) => {
    const raw = (values as Record<string, unknown>)[key];
    const n = raw === undefined ? defaults[key]! : Number(raw);
    if (!(Number.isFinite(n) && n >= min && n <= max)) throw new Error(`--${key} must be a number from ${min} to ${max}`);
    return n;
  };
  const serverFlags: string[] = [];
  for (const flag of (values['server-flag'] as string[] | undefined) ?? []) {
    const match = /^([a-z0-9-]+)=(\S*)$/.exec(flag);
    if (!match) throw new Error(`--server-flag takes name=value (e.g. max-connections=5000), not ${flag}`);
    serverFlags.push(`--${match[1]}`, match[2]!);
  }
  return {
    serverFlags,
    idle: Math.floor(num('idle', 0)),
    idleDocs: Math.floor(num('idle-docs', 1)),
    idleAddresses: Math.floor(num('idle-addresses', 1, 250)),
    socketsPerUser: Math.floor(num('sockets-per-user', 1)),
    floodAddresses: Math.floor(num('flood-addresses', 1, 250)),
    floodUsers: Math.floor(num('flood-users', 1)),
    floodSeconds: num('flood-seconds', 0),
    floodHold: Math.floor(num('flood-hold', 0)),
    floodConcurrency: Math.floor(num('flood-concurrency', 1)),
    baselineSeconds: num('baseline-seconds', 1),
    idleSeconds: num('idle-seconds', 1),
    afterSeconds: num('after-seconds', 1),
    quick,
  };
}

/** An HS256 token the server (started with JWT_SECRET) accepts: editor of every document, for an hour. */
function sign(sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, docs: { '*': 'editor' }, iat: now, exp: now + 3600 })}`;
  return `${input}.${createHmac('sha256', JWT_SECRET).update(input).digest('base64url')}`;
}

interface BystanderResult {
  latencyMs: LatencySummary;
  sent: number;
  received: number;
  /** Why a bystander client lost its socket during the phase, if it did. */
  lost?: string;
  /** Once a second a third client opens a document nobody opened before: ms until its sync step 2. */
  joinMs: LatencySummary;
  /** Joins that failed (by reason) or had not completed when the phase ended (`pending`). */
  joinFailed: Record<string, number>;
}

/**
 * Two clients on one document from 127.0.0.1: the writer appends a character BYSTANDER_HZ times a
 * second, the observer times each arrival by the update's clock (one clock tick per edit). Once a
 * second a joiner opens a fresh document: what loading a document costs a legitimate user meanwhile.
 */
class Bystander {
  private source = new Y.Doc();
  private messages: Uint8Array[] = [];
  private sendTimes: number[] = [];
  private window: number[] | null = null;
  private received = 0;
  private lost: string | undefined;
  private writer!: WireClient;
  private observer!: WireClient;

  private joins = 0;

  private constructor(
    private readonly framing: Framing,
    private readonly joinUrl: (doc: string) => string,
  ) {
    this.source.on('update', (update: Uint8Array) => this.messages.push(framing.update(update)));
  }

  static async start(url: string, joinUrl: (doc: string) => string): Promise<Bystander> {
    const bystander = new Bystander(new Framing('plain', 'soak-bystander'), joinUrl);
    const onLost = (reason: string) => (bystander.lost ??= reason);
    bystander.observer = await WireClient.connect(url, bystander.framing, { onLost, onUpdate: (update) => bystander.arrived(update), timeoutMs: 30_000 });
    bystander.writer = await WireClient.connect(url, bystander.framing, { onLost, timeoutMs: 30_000 });
    return bystander;
  }

  private arrived(update: Uint8Array): void {
    const at = performance.now();
    const range = clockRange(update);
    if (!range) return;
    for (let seq = range.from; seq < range.to; seq++) {
      const sentAt = this.sendTimes[seq];
      if (sentAt === undefined || !this.window) continue;
      this.received++;
      this.window.push(at - sentAt);
    }
  }

  /** Edits for `seconds` (or until `until` settles, at least one second) and summarizes the arrivals. */
  async measure(seconds: number, until?: Promise<unknown>): Promise<BystanderResult> {
    this.window = [];
    this.received = 0;
    this.lost = undefined;
    const started = performance.now();
    let sent = 0;
    let done = false;
    void until?.finally(() => (done = true));
    const text = this.source.getText('t');
    const joinMs: number[] = [];
    const joinFailed: Record<string, number> = {};
    let pending = 0;
    let lastJoin = -Infinity;
    let measuring = true;
    while (until ? !done || performance.now() - started < 1000 : performance.now() - started < seconds * 1000) {
      const seq = this.messages.length;
      text.insert(text.length, 'x');
      this.sendTimes[seq] = performance.now();
      this.writer.send(this.messages[seq]!);
      sent++;
      if (performance.now() - lastJoin >= 1000) {
        lastJoin = performance.now();
        pending++;
        void this.join().then((result) => {
          if (!measuring) return;
          pending--;
          if (typeof result === 'number') joinMs.push(result);
          else joinFailed[result] = (joinFailed[result] ?? 0) + 1;
        });
      }
      await sleep(1000 / BYSTANDER_HZ);
    }
    await sleep(1000);
    measuring = false;
    if (pending) joinFailed.pending = pending;
    const result: BystanderResult = { latencyMs: summarize(this.window), sent, received: this.received, ...(this.lost ? { lost: this.lost } : {}), joinMs: summarize(joinMs), joinFailed };
    this.window = null;
    return result;
  }

  /** Opens a fresh document and closes it once synced: ms taken, or why it failed. */
  async join(): Promise<number | string> {
    const doc = `soak-join-${process.pid}-${this.joins++}`;
    const started = performance.now();
    try {
      const client = await WireClient.connect(this.joinUrl(doc), new Framing('plain', doc), { timeoutMs: 30_000 });
      client.close();
      return performance.now() - started;
    } catch (error) {
      return (error as Error).message.slice(0, 80);
    }
  }

  close(): void {
    this.writer.close();
    this.observer.close();
  }
}

/** The soak's socket-opening processes. */
class Workers {
  private constructor(private readonly children: ChildProcess[]) {}

  static start(count: number): Workers {
    const file = fileURLToPath(new URL('./lib/soak-worker.ts', import.meta.url));
    return new Workers(Array.from({ length: count }, () => fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  }

  private ask<T extends WorkerReply['type']>(child: ChildProcess, command: WorkerCommand, type: T): Promise<Extract<WorkerReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: WorkerReply) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as Extract<WorkerReply, { type: T }>);
      };
      const onExit = (code: number | null) => reject(new Error(`a soak worker exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(command);
    });
  }

  /** Splits `targets` over the processes (round-robin), runs `build` on each share and merges the outcomes. */
  async run(targets: Target[], build: (share: Target[]) => WorkerCommand): Promise<Outcomes> {
    const shares = this.children.map((_, i) => targets.filter((__, t) => t % this.children.length === i));
    const replies = await Promise.all(this.children.map((child, i) => (shares[i]!.length ? this.ask(child, build(shares[i]!), 'done') : null)));
    return merge(replies.filter((r) => r !== null).map((r) => r.outcomes));
  }

  /** Closes every socket; resolves with the server's closes of admitted sockets since the last answer. */
  async closeAll(): Promise<Record<string, number>> {
    const replies = await Promise.all(this.children.map((child) => this.ask(child, { type: 'close' }, 'closed')));
    const out: Record<string, number> = {};
    for (const r of replies) addCounts(out, r.closedAfter);
    return out;
  }

  /** CPU seconds the processes used so far. */
  cpu(): number {
    let total = 0;
    for (const child of this.children) {
      try {
        const { user, system } = cpuSeconds(child.pid!);
        total += user + system;
      } catch {
        // exited
      }
    }
    return total;
  }

  stop(): void {
    for (const child of this.children) child.kill();
  }
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

function merge(all: Outcomes[]): Outcomes {
  const out: Outcomes = { attempts: 0, admitted: 0, synced: 0, refused: {}, refusalMs: [], admitMs: [], closedAfter: {}, retried: {} };
  for (const o of all) {
    out.attempts += o.attempts;
    out.admitted += o.admitted;
    out.synced += o.synced;
    addCounts(out.refused, o.refused);
    addCounts(out.closedAfter, o.closedAfter);
    addCounts(out.retried, o.retried);
    for (const v of o.refusalMs) out.refusalMs.push(v);
    for (const v of o.admitMs) out.admitMs.push(v);
  }
  return out;
}

interface PhaseReport {
  phase: string;
  seconds: number;
  bystander: BystanderResult;
  /** Server CPU over the phase, % of one core. */
  serverCpuPercent: number;
  /** The soak's own CPU (this process and its socket workers), % of one core. */
  soakCpuPercent: number;
  /** Everything else on the machine (other processes, steal), % of one core: noise when high. */
  otherCpuPercent: number;
  attempts?: number;
  admitted?: number;
  synced?: number;
  refused?: Record<string, number>;
  /** Idle: refusals retried after their Retry-After, by reason (not in `refused` unless the last try failed too). */
  retried?: Record<string, number>;
  /** Read at the end of the phase (for a flood, before its sockets closed). */
  rssBytes: number;
  /** Closes by the server of sockets it had admitted (idle or flood), by code, seen during the phase. */
  closedAfter?: Record<string, number>;
  refusalMs?: LatencySummary;
  admitMs?: LatencySummary;
  /** After: seconds from closing everything until the server's CPU fell under QUIET_PERCENT (null: not within the limit). */
  recoverySeconds?: number | null;
  /** After: seconds from closing everything until a fresh document's join took under JOIN_OK_MS (null: not within the limit). */
  joinRecoverySeconds?: number | null;
  note?: string;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const ownFlags = ['--jwt-secret', JWT_SECRET, '--max-connections-per-ip', '1000', '--rate-limit-connections-per-minute', '2400'];
  process.env.BENCH_VEZA_ARGS = [process.env.BENCH_VEZA_ARGS ?? '', ...ownFlags, ...options.serverFlags].join(' ');
  const log = (line: string) => process.stdout.write(`[soak ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
  log(`server flags: ${[...ownFlags.slice(2), ...options.serverFlags].join(' ')}`);

  const server = await startServer('veza', { clientLimits: 'server' });
  const idleWorkers = Workers.start(IDLE_WORKERS);
  const floodWorkers = Workers.start(FLOOD_WORKERS);
  const phases: PhaseReport[] = [];
  let bystander: Bystander | undefined;
  try {
    const base = `${server.httpUrl.replace(/^http/, 'ws')}/collab/`;
    const invocation = Date.now().toString(36);
    const joinerToken = encodeURIComponent(sign('soak-joiner'));
    bystander = await Bystander.start(`${base}soak-bystander?token=${encodeURIComponent(sign('soak-bystander'))}`, (doc) => `${base}${encodeURIComponent(doc)}?token=${joinerToken}`);

    /** Runs `work` (or nothing) while the bystander edits; reads the server's CPU and RSS at the end. */
    const soakCpu = () => {
      const own = process.cpuUsage();
      return (own.user + own.system) / 1e6 + idleWorkers.cpu() + floodWorkers.cpu();
    };
    type Measured = 'phase' | 'seconds' | 'bystander' | 'serverCpuPercent' | 'soakCpuPercent' | 'otherCpuPercent' | 'rssBytes';
    /** `work` may give the RSS to report (the flood's, read before its sockets close). */
    const phase = async (name: string, seconds: number, work?: () => Promise<Omit<PhaseReport, Measured> & { rssBytes?: number }>) => {
      log(`${name}…`);
      const cpuBefore = cpuSeconds(server.pid);
      const soakBefore = soakCpu();
      const machineBefore = machineBusySeconds();
      const t0 = performance.now();
      const running = work?.();
      const bystanderResult = await bystander!.measure(seconds, running);
      const extra = (await running) ?? {};
      const cpuAfter = cpuSeconds(server.pid);
      const soak = soakCpu() - soakBefore;
      const machine = machineBusySeconds() - machineBefore;
      const wall = (performance.now() - t0) / 1000;
      const serverSeconds = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
      const report: PhaseReport = {
        phase: name,
        seconds: Number(wall.toFixed(1)),
        bystander: bystanderResult,
        serverCpuPercent: (100 * serverSeconds) / wall,
        soakCpuPercent: (100 * soak) / wall,
        otherCpuPercent: Math.max(0, (100 * (machine - serverSeconds - soak)) / wall),
        ...extra,
        rssBytes: extra.rssBytes ?? rssBytes(server.pid),
      };
      phases.push(report);
      log(`${name}: bystander p50 ${fmt(report.bystander.latencyMs.p50)} ms, p99 ${fmt(report.bystander.latencyMs.p99)} ms; ${describe(report)}`);
      return report;
    };

    // The server's memory grows for some seconds after it starts: wait for the plateau.
    await rssPlateau(server.pid, log);
    const rssStart = rssBytes(server.pid);
    await phase('baseline', options.baselineSeconds);

    const idleTargets: Target[] = Array.from({ length: options.idle }, (_, i) => ({
      address: `127.0.0.${2 + (i % options.idleAddresses)}`,
      token: sign(`soak-idle-${Math.floor(i / options.socketsPerUser)}`),
      doc: `soak-${invocation}-idle-${i % options.idleDocs}`,
    }));
    // In IDLE_STEPS steps, RSS read after each: the server's threads give back part of their startup
    // memory (a few hundred MiB, once) at some busy moment, which swamps one step's growth. The
    // first step loads every document; the median of the other steps' growth is the sockets' own.
    const rssBeforeIdle = rssBytes(server.pid);
    const steps: { admitted: number; rssBytes: number }[] = [];
    const opening = await phase('idle: opening', 0, async () => {
      const outcomes: Outcomes[] = [];
      const size = Math.ceil(idleTargets.length / IDLE_STEPS);
      for (let from = 0; from < idleTargets.length; from += size) {
        const o = await idleWorkers.run(idleTargets.slice(from, from + size), (share) => ({ type: 'idle', base, targets: share, concurrency: 16, timeoutMs: 30_000, retries: IDLE_RETRIES }));
        outcomes.push(o);
        await sleep(1000);
        steps.push({ admitted: o.admitted, rssBytes: rssBytes(server.pid) });
      }
      return outcomeFields(merge(outcomes));
    });
    const open = await phase('idle: open', options.idleSeconds);
    const growth = steps.map((step, i) => ({ admitted: step.admitted, bytes: step.rssBytes - (i ? steps[i - 1]!.rssBytes : rssBeforeIdle) }));
    const perSocket = growth
      .slice(1)
      .filter((g) => g.admitted > 0)
      .map((g) => g.bytes / g.admitted)
      .sort((a, b) => a - b);
    const rssPerIdleSocket = perSocket.length ? perSocket[Math.floor(perSocket.length / 2)]! : Number.NaN;
    const rssPerIdle = opening.admitted ? (open.rssBytes - rssBeforeIdle) / opening.admitted : Number.NaN;
    const firstStep = growth[0] ? (growth[0].bytes - rssPerIdleSocket * growth[0].admitted) / Math.min(options.idleDocs, growth[0].admitted || 1) : Number.NaN;
    open.note =
      `RSS ${mib(rssBeforeIdle)} → ${mib(open.rssBytes)} MiB (${fmt(rssPerIdle / 1024, 2)} KiB per connection over all ${opening.admitted}); ` +
      `per step of ${Math.ceil(idleTargets.length / IDLE_STEPS)}: ${growth.map((g) => `${g.bytes >= 0 ? '+' : ''}${mib(g.bytes)}`).join(', ')} MiB; ` +
      `median of steps 2–${growth.length}: ${fmt(rssPerIdleSocket / 1024, 2)} KiB per idle connection; first step beyond that (its documents' loads): ${fmt(firstStep / 1024, 1)} KiB per document`;
    log(open.note);

    // Other users for each variant, so that the second does not start with the first's spent allowances.
    const floodTargets = (docs: boolean): Target[] =>
      Array.from({ length: options.floodAddresses }, (_, a) => ({
        address: `127.0.1.${1 + a}`,
        token: sign(`soak-flood-${docs ? 'existing' : 'new'}-${a % options.floodUsers}`),
        ...(docs ? { doc: `soak-${invocation}-idle-${a % options.idleDocs}` } : {}),
      }));
    for (const fresh of [false, true]) {
      await phase(fresh ? 'flood: new documents' : 'flood: existing documents', 0, async () => {
        const o = await floodWorkers.run(floodTargets(!fresh), (targets) => ({
          type: 'flood',
          base,
          targets,
          freshPrefix: `soak-${invocation}-fresh-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
          seconds: options.floodSeconds,
          concurrency: options.floodConcurrency,
          hold: Math.ceil(options.floodHold / FLOOD_WORKERS),
          timeoutMs: 10_000,
        }));
        // The flood's held sockets close before the next phase; what they cost shows in this phase's RSS.
        const rss = rssBytes(server.pid);
        addCounts(o.closedAfter, await floodWorkers.closeAll());
        return { ...outcomeFields(o), rssBytes: rss, note: `RSS read at the flood's end, before its sockets closed` };
      });
    }

    const closedIdle = await idleWorkers.closeAll();
    await floodWorkers.closeAll();
    const limit = options.quick ? 30 : 60;
    const recovery = Promise.all([quietAfter(server.pid, limit), joinsAgain(bystander, limit)]);
    const after = await phase('after', options.afterSeconds);
    const [quiet, joins] = await recovery;
    after.closedAfter = closedIdle;
    after.recoverySeconds = quiet;
    after.joinRecoverySeconds = joins;
    const within = (seconds: number | null) => (seconds === null ? `not within ${limit} s` : `${fmt(seconds)} s`);
    after.note =
      `after everything closed, a fresh document opened within ${JOIN_OK_MS} ms again ${within(joins)} later, and the server's CPU fell under ${QUIET_PERCENT}% of a core ${within(quiet)} later; ` +
      `RSS before the baseline ${mib(rssStart)} MiB; idle sockets the server closed before the end: ${refusedText(closedIdle)}`;

    printReport(phases, options, server);
    writeResults(phases, options, startedAt, { rssPerIdleBytes: rssPerIdle, rssPerIdleSocketBytes: rssPerIdleSocket, rssPerLoadedDocBytes: firstStep, idleSteps: steps });
  } finally {
    bystander?.close();
    idleWorkers.stop();
    floodWorkers.stop();
    await server.stop();
  }
}

/** Waits (at most 30 s) until the server's RSS moved less than 1% over the last 3 s. */
async function rssPlateau(pid: number, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  const readings = [rssBytes(pid)];
  while (performance.now() - started < 30_000) {
    await sleep(1000);
    readings.push(rssBytes(pid));
    const last = readings.slice(-4);
    if (last.length === 4 && Math.max(...last) - Math.min(...last) < 0.01 * Math.max(...last)) return;
  }
  log(`server RSS still moving after 30 s (${mib(readings.at(-1)!)} MiB); going on`);
}

const QUIET_PERCENT = 10;
const JOIN_OK_MS = 1000;

/** Seconds from now until a fresh document's join takes under JOIN_OK_MS (one join at a time), or null after `limitSeconds`. */
async function joinsAgain(bystander: Bystander, limitSeconds: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < limitSeconds * 1000) {
    const result = await bystander.join();
    if (typeof result === 'number' && result < JOIN_OK_MS) return (performance.now() - started) / 1000;
    if (typeof result !== 'number') await sleep(500);
  }
  return null;
}

/**
 * Seconds from now until the server's CPU over a 500 ms window falls under QUIET_PERCENT of a core
 * (the end of that window), or null when it has not within `limitSeconds`.
 */
async function quietAfter(pid: number, limitSeconds: number): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < limitSeconds * 1000) {
    const before = cpuSeconds(pid);
    const t0 = performance.now();
    await sleep(500);
    const after = cpuSeconds(pid);
    const percent = (100 * (after.user + after.system - before.user - before.system)) / ((performance.now() - t0) / 1000);
    if (percent < QUIET_PERCENT) return (performance.now() - started) / 1000;
  }
  return null;
}

function outcomeFields(o: Outcomes): Pick<PhaseReport, 'attempts' | 'admitted' | 'synced' | 'refused' | 'retried' | 'closedAfter' | 'refusalMs' | 'admitMs'> {
  return { attempts: o.attempts, admitted: o.admitted, synced: o.synced, refused: o.refused, retried: o.retried, closedAfter: o.closedAfter, refusalMs: summarize(o.refusalMs), admitMs: summarize(o.admitMs) };
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

function describe(p: PhaseReport): string {
  const parts = [`server ${fmt(p.serverCpuPercent, 0)}% CPU (soak ${fmt(p.soakCpuPercent, 0)}%, others ${fmt(p.otherCpuPercent, 0)}%), RSS ${mib(p.rssBytes)} MiB`];
  if (p.attempts !== undefined) parts.push(`${p.attempts} attempts, ${p.admitted} admitted, refused ${refusedText(p.refused)}`);
  if (p.refusalMs?.count) parts.push(`refusals p50 ${fmt(p.refusalMs.p50)} / p99 ${fmt(p.refusalMs.p99)} ms`);
  parts.push(`joins ${joinText(p.bystander)} ms`);
  if (p.bystander.lost) parts.push(`bystander lost: ${p.bystander.lost}`);
  return parts.join('; ');
}

function joinText(b: BystanderResult): string {
  const failed = Object.keys(b.joinFailed).length ? ` (${refusedText(b.joinFailed)})` : '';
  return `${fmt(b.joinMs.p50, 0)} / ${fmt(b.joinMs.max, 0)}${failed}`;
}

function refusedText(refused: Record<string, number> | undefined): string {
  const entries = Object.entries(refused ?? {}).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([k, n]) => `${n} ${k}`).join(', ') : 'none';
}

function printReport(phases: PhaseReport[], options: Options, server: RunningServer): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const baseline = phases[0]!.bystander.latencyMs.p99;
  out();
  out(`## Abuse soak (${options.quick ? 'quick' : 'full'}), server pid ${server.pid}`);
  out();
  out(`Bystander: two clients on one document from 127.0.0.1, ${BYSTANDER_HZ} edits/s. Idle: ${options.idle} over ${options.idleDocs} documents from ${options.idleAddresses} addresses, ${options.socketsPerUser} per user.`);
  out('CPU in % of one core (the machine has ' + cpus().length + '); "others" is every other process on it: a bystander figure taken while others were busy is noisy.');
  out(`Flood: ${options.floodAddresses} addresses, ${options.floodUsers} users, ${options.floodSeconds} s per variant, ${options.floodConcurrency * FLOOD_WORKERS} attempts in flight, up to ${options.floodHold} admitted sockets held (oldest closed past that).`);
  out();
  out('| phase | s | bystander p50 ms | p99 ms | p99/baseline | edits recv/sent | fresh-doc join p50 / max ms | admitted (synced) | refused by reason | refusal p50/p99 ms | CPU server / soak / others | server RSS MiB |');
  out('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const p of phases) {
    const b = p.bystander;
    out(
      `| ${p.phase} | ${p.seconds} | ${fmt(b.latencyMs.p50, 2)} | ${fmt(b.latencyMs.p99, 2)} | ${fmt(b.latencyMs.p99 / baseline, 2)}× | ${b.received}/${b.sent}${b.lost ? ` (lost: ${b.lost})` : ''} | ${joinText(b)} | ` +
        `${p.attempts === undefined ? '' : `${p.admitted} of ${p.attempts} (${p.synced})`} | ${p.attempts === undefined ? '' : refusedText(p.refused)} | ` +
        `${p.refusalMs?.count ? `${fmt(p.refusalMs.p50)} / ${fmt(p.refusalMs.p99)}` : ''} | ${[p.serverCpuPercent, p.soakCpuPercent, p.otherCpuPercent].map((v) => `${fmt(v, 0)}%`).join(' / ')} | ${mib(p.rssBytes)} |`,
    );
  }
  out();
  for (const p of phases) {
    const closed = p.closedAfter && Object.keys(p.closedAfter).length && p.phase !== 'after' ? `closed by the server after admission: ${refusedText(p.closedAfter)}` : '';
    const admit = p.admitMs?.count ? `admitted in p50 ${fmt(p.admitMs.p50)} / p99 ${fmt(p.admitMs.p99)} ms` : '';
    const retried = p.retried && Object.keys(p.retried).length ? `retried after Retry-After: ${refusedText(p.retried)}` : '';
    const line = [p.note, admit, retried, closed].filter(Boolean).join('; ');
    if (line) out(`- ${p.phase}: ${line}`);
  }
}

function writeResults(phases: PhaseReport[], options: Options, startedAt: Date, idleMemory: Record<string, unknown>): void {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}abuse-soak-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)), node: process.version };
  writeFileSync(file, `${JSON.stringify({ startedAt, commit: gitDescribe(), machine, options, ...idleMemory, phases }, null, 2)}\n`);
  process.stdout.write(`\nresults: ${file}\n`);
}

await main();
