// One benchmark step: N documents × M clients, one writer per document sending paced updates, every
// other client timing their arrival. Also the idle-connection memory probe and the forwarding probe.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as Y from 'yjs';
import { Framing, WireClient, clockRange, type ClientOptions } from './protocol-clients.js';
import { cpuBetween, rssBytes, sampleCpu, sleep, threadCpuBetween, type CpuSample, type RunningServer, type ThreadGroup } from './servers.js';
import { summarize, type LatencySummary } from './stats.js';

export const P99_LIMIT_MS = 50;
export const DELIVERED_MIN = 0.999;
/** Above this share of one core the generator, not the server, may be what limits a step. */
export const GENERATOR_BUSY = 0.85;
const SERVER_BUSY = 0.9;
/** Above this share of a core (%) used by other processes during a step, its figures are suspect. */
export const OTHER_BUSY = 15;
/** Each update appends these characters, so the k-th update a writer sends has clock k × length. */
const CHARS = 'abcd';

export interface StepOptions {
  docs: number;
  clients: number;
  rate: number;
  warmupSeconds: number;
  seconds: number;
  drainSeconds: number;
}

export interface StepResult {
  rate: number;
  sentPerSecond: number;
  /** Updates sent in the measured window, and their deliveries expected (× observers) and received. */
  updates: number;
  expected: number;
  delivered: number;
  deliveredFraction: number;
  latencyMs: LatencySummary;
  /** Receipts whose sequence number was not the next one for that observer (reordered, duplicated, gap). */
  outOfOrder: number;
  /** Updates that were not the writer's (should be 0). */
  foreign: number;
  lostConnections: number;
  lostReason?: string;
  serverCpuPercent: number;
  /** The server's CPU with every client of the step connected and nothing sent, just before it. */
  serverRestPercent: number;
  /** Other processes' CPU (and hypervisor steal) during the step, in % of a core: noise when high. */
  otherCpuPercent: number;
  cpuUsPerUpdatePerObserver: number;
  /** The part of it spent in the kernel (system time). */
  systemUsPerUpdatePerObserver: number;
  /** The part of it spent on the server's main thread (its event loop); the rest is other threads. */
  mainUsPerUpdatePerObserver: number;
  /** The same by thread: main, storage worker, event consumers, the runtime's helpers (see threadCpu). */
  threadUsPerUpdatePerObserver: Record<ThreadGroup, number>;
  generatorCpuPercent: number;
  /** The generator's own event-loop delay while sending: a stall here inflates the latencies it measures. */
  generatorLagMs: { p99: number; max: number };
  /** "ok" when an observer applying every update and a client joining after the step hold the writer's text. */
  stateCheck: string;
  sustained: boolean;
  /** What most likely held a failed step back; "other processes" when the machine was noisy. */
  limit: 'server' | 'generator' | 'both' | 'other processes' | null;
}

interface DocLoad {
  name: string;
  framing: Framing;
  clientId: number;
  source: Y.Doc;
  messages: Uint8Array[];
  sendTimes: Float64Array;
  measured: Uint8Array;
  sent: number;
  writer?: WireClient;
  clients: WireClient[];
  verifier?: Y.Doc;
}

class Tally {
  deliveredAll = 0;
  delivered = 0;
  latencies: number[] = [];
  outOfOrder = 0;
  foreign = 0;
  lost = 0;
  lostReason: string | undefined;

  readonly onLost = (reason: string) => {
    this.lost++;
    this.lostReason ??= reason;
  };
}

/** A writer's updates, generated before the step so that the generator's CPU goes to the wire. */
function prepareDoc(server: RunningServer, name: string, count: number): DocLoad {
  const framing = new Framing(server.protocol, name);
  const source = new Y.Doc();
  const text = source.getText('t');
  const messages: Uint8Array[] = [];
  source.on('update', (update: Uint8Array) => messages.push(framing.update(update)));
  for (let i = 0; i < count; i++) text.insert(text.length, CHARS);
  const sendTimes = new Float64Array(count);
  return { name, framing, clientId: source.clientID, source, messages, sendTimes, measured: new Uint8Array(count), sent: 0, clients: [] };
}

/**
 * Counts and times one observer's receipts. Every update's clock range is read (cheap), so each
 * delivery is matched to the send it came from, and a server that reorders, drops or merges updates
 * is still measured right; receipts that do not continue where the last one ended are counted.
 */
function observe(doc: DocLoad, tally: Tally, verifier?: Y.Doc): (update: Uint8Array) => void {
  let next = 0;
  return (update) => {
    const at = performance.now();
    const range = clockRange(update);
    const from = (range?.from ?? -1) / CHARS.length;
    const to = (range?.to ?? -1) / CHARS.length;
    if (range?.client !== doc.clientId || !Number.isInteger(from) || !Number.isInteger(to) || to > doc.sent) {
      tally.foreign++;
      return;
    }
    if (from !== next) tally.outOfOrder++;
    next = Math.max(next, to);
    for (let seq = from; seq < to; seq++) {
      tally.deliveredAll++;
      if (doc.measured[seq] === 1) {
        tally.delivered++;
        tally.latencies.push(at - doc.sendTimes[seq]!);
      }
    }
    if (verifier) Y.applyUpdate(verifier, update);
  };
}

/** Runs tasks at most `concurrency` at a time; on any failure closes what opened and rethrows. */
async function connectAll(tasks: (() => Promise<WireClient>)[], concurrency = 64): Promise<WireClient[]> {
  const clients: WireClient[] = [];
  let next = 0;
  let failure: Error | undefined;
  const worker = async () => {
    while (next < tasks.length && !failure) {
      const task = tasks[next++]!;
      try {
        clients.push(await task());
      } catch (error) {
        failure ??= error as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failure) {
    for (const client of clients) client.close();
    throw failure;
  }
  return clients;
}

/**
 * Waits until the server is idle (under 5% of a core; at most 10 s) and the rest of the machine is
 * quiet (other processes under OTHER_BUSY%; at most 60 s), over 500 ms windows. Returns the server's
 * CPU in the last window, % of a core: its cost at rest.
 */
export async function settle(pid: number, note: (line: string) => void = () => {}): Promise<number> {
  const started = Date.now();
  let noted = false;
  let server = Number.NaN;
  while (Date.now() - started < 60_000) {
    const before = sampleCpu(pid);
    await sleep(500);
    const window = cpuBetween(before, sampleCpu(pid));
    server = window.server;
    const serverDone = server < 5 || Date.now() - started > 10_000;
    if (serverDone && window.other < OTHER_BUSY) return server;
    if (serverDone && !noted && Date.now() - started > 2000) {
      note(`waiting for other processes to quiet down (${window.other.toFixed(0)}% of a core)`);
      noted = true;
    }
  }
  note('machine still busy after 60 s; going on');
  return server;
}

/**
 * Sends every document's updates round-robin at `rate` per second in total from one 1 ms timer
 * loop, catching up on whatever fell due since the last tick. Calls `onMeasure` as the first
 * measured update goes out; resolves with the time of the last send.
 */
function pace(docs: DocLoad[], rate: number, warmCount: number, total: number, onMeasure: () => void): Promise<number> {
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) {
        if (sent === warmCount) onMeasure();
        const doc = docs[sent % docs.length]!;
        const seq = doc.sent++;
        doc.measured[seq] = sent >= warmCount ? 1 : 0;
        doc.sendTimes[seq] = performance.now();
        doc.writer!.send(doc.messages[seq]!);
        sent++;
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve(performance.now());
    };
    tick();
  });
}

/** Waits until every delivery arrived, none arrived for 500 ms, or `maxSeconds` passed. */
async function drain(tally: Tally, expectedAll: number, maxSeconds: number): Promise<void> {
  const deadline = performance.now() + maxSeconds * 1000;
  let seen = tally.deliveredAll;
  let quietSince = performance.now();
  while (tally.deliveredAll < expectedAll && performance.now() < deadline) {
    await sleep(20);
    if (tally.deliveredAll !== seen) {
      seen = tally.deliveredAll;
      quietSince = performance.now();
    } else if (performance.now() - quietSince > 500) return;
  }
}

async function connectDocs(server: RunningServer, docs: DocLoad[], clients: number, tally: Tally): Promise<void> {
  const tasks: (() => Promise<WireClient>)[] = [];
  for (const [d, doc] of docs.entries()) {
    const url = server.url(doc.name);
    const join = async (options: ClientOptions) => {
      const client = await WireClient.connect(url, doc.framing, { ...options, onLost: tally.onLost });
      doc.clients.push(client);
      return client;
    };
    tasks.push(async () => (doc.writer = await join({})));
    for (let c = 1; c < clients; c++) {
      const verifier = d === 0 && c === 1 ? (doc.verifier = new Y.Doc()) : undefined;
      const onUpdate = observe(doc, tally, verifier);
      tasks.push(() => join({ onUpdate }));
    }
  }
  await connectAll(tasks);
}

/** Whether the verifier and a client joining now both hold what the writer wrote; else what differs. */
async function stateCheck(server: RunningServer, doc: DocLoad): Promise<string> {
  const expected = doc.source.getText('t').length;
  const verified = doc.verifier?.getText('t').length;
  let joined: number | string;
  try {
    const late = await WireClient.connect(server.url(doc.name), doc.framing);
    late.close();
    const copy = new Y.Doc();
    Y.applyUpdate(copy, late.initialState);
    joined = copy.getText('t').toString() === doc.source.getText('t').toString() ? expected : copy.getText('t').length;
  } catch (error) {
    joined = (error as Error).message;
  }
  const verifierOk = doc.verifier?.getText('t').toString() === doc.source.getText('t').toString();
  if (verifierOk && joined === expected) return 'ok';
  return `writer ${expected} chars, observer ${verifierOk ? 'same' : verified}, late joiner ${joined === expected ? 'same' : joined}`;
}

let stepRuns = 0;
/** Distinguishes this invocation's documents from those a server with a persistent database kept from an earlier one. */
const invocation = Date.now().toString(36);

export async function runStep(server: RunningServer, options: StepOptions, log: (line: string) => void): Promise<StepResult> {
  const { docs: docCount, clients, rate } = options;
  const perDoc = Math.ceil((rate * (options.warmupSeconds + options.seconds)) / docCount);
  const total = perDoc * docCount;
  const warmCount = Math.round(rate * options.warmupSeconds);
  const observers = clients - 1;
  const tally = new Tally();
  // Fresh documents for every run of a step: y-websocket keeps documents after their clients leave.
  const run = ++stepRuns;
  const docs = Array.from({ length: docCount }, (_, d) => prepareDoc(server, `bench-${invocation}-r${run}-d${d}`, perDoc));
  try {
    await connectDocs(server, docs, clients, tally);
    const serverRestPercent = await settle(server.pid, log);
    let start: CpuSample = sampleCpu(server.pid);
    const lag = monitorEventLoopDelay({ resolution: 5 });
    const sendEnd = await pace(docs, rate, warmCount, total, () => {
      start = sampleCpu(server.pid);
      lag.enable();
    });
    lag.disable();
    const generatorCpu = sampleCpu(server.pid).generator - start.generator;
    await drain(tally, total * observers, options.drainSeconds);
    const end = sampleCpu(server.pid);
    const measureStart = start.at;

    const updates = total - warmCount;
    const expected = updates * observers;
    const latencyMs = summarize(tally.latencies);
    const deliveredFraction = tally.delivered / expected;
    const { server: serverCpuPercent, other: otherCpuPercent } = cpuBetween(start, end);
    const generatorCpuPercent = (100 * generatorCpu) / ((sendEnd - measureStart) / 1000);
    const sustained = latencyMs.p99 < P99_LIMIT_MS && deliveredFraction >= DELIVERED_MIN;
    const generatorBusy = generatorCpuPercent > GENERATOR_BUSY * 100;
    const serverBusy = serverCpuPercent > SERVER_BUSY * 100;
    return {
      rate,
      sentPerSecond: (updates - 1) / ((sendEnd - measureStart) / 1000),
      updates,
      expected,
      delivered: tally.delivered,
      deliveredFraction,
      latencyMs,
      outOfOrder: tally.outOfOrder,
      foreign: tally.foreign,
      lostConnections: tally.lost,
      ...(tally.lostReason ? { lostReason: tally.lostReason } : {}),
      serverCpuPercent,
      serverRestPercent,
      otherCpuPercent,
      cpuUsPerUpdatePerObserver: ((end.server - start.server) * 1e6) / expected,
      systemUsPerUpdatePerObserver: ((end.serverSystem - start.serverSystem) * 1e6) / expected,
      mainUsPerUpdatePerObserver: ((end.serverMain - start.serverMain) * 1e6) / expected,
      threadUsPerUpdatePerObserver: perObserver(threadCpuBetween(start.threads, end.threads), expected),
      generatorCpuPercent,
      generatorLagMs: { p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
      stateCheck: await stateCheck(server, docs[0]!),
      sustained,
      limit: sustained ? null : limitOf(generatorBusy, serverBusy, otherCpuPercent > OTHER_BUSY),
    };
  } finally {
    for (const doc of docs) for (const client of doc.clients) client.close();
    await settle(server.pid);
  }
}

function perObserver(seconds: Record<ThreadGroup, number>, expected: number): Record<ThreadGroup, number> {
  const out = { ...seconds };
  for (const group of Object.keys(out) as ThreadGroup[]) out[group] = (out[group] * 1e6) / expected;
  return out;
}

function limitOf(generatorBusy: boolean, serverBusy: boolean, noisy: boolean): StepResult['limit'] {
  if (generatorBusy) return serverBusy ? 'both' : 'generator';
  return noisy && !serverBusy ? 'other processes' : 'server';
}

export interface IdleMemory {
  connections: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConnection: number;
}

/** Opens `connections` synced clients spread over `docs` documents and reads the server's RSS growth. */
export async function measureIdleMemory(server: RunningServer, connections: number, docs: number, log: (line: string) => void): Promise<IdleMemory> {
  await settle(server.pid, log);
  const rssBeforeBytes = rssBytes(server.pid);
  const tasks = Array.from({ length: connections }, (_, i) => {
    const name = `bench-${invocation}-idle-d${i % docs}`;
    return () => WireClient.connect(server.url(name), new Framing(server.protocol, name), { timeoutMs: 30_000 });
  });
  const clients = await connectAll(tasks);
  await sleep(1000);
  await settle(server.pid, log);
  const rssAfterBytes = rssBytes(server.pid);
  for (const client of clients) client.close();
  await settle(server.pid);
  return { connections, rssBeforeBytes, rssAfterBytes, bytesPerConnection: (rssAfterBytes - rssBeforeBytes) / connections };
}

/** One client's update must reach another client of the same document: the endpoint really forwards. */
export async function probe(server: RunningServer): Promise<void> {
  const doc = prepareDoc(server, `bench-${invocation}-probe`, 1);
  let received: () => void = () => {};
  const arrived = new Promise<void>((resolve) => (received = resolve));
  const observer = await WireClient.connect(server.url(doc.name), doc.framing, { onUpdate: () => received(), timeoutMs: 5000 });
  let timer: NodeJS.Timeout | undefined;
  try {
    const writer = await WireClient.connect(server.url(doc.name), doc.framing, { timeoutMs: 5000 });
    writer.send(doc.messages[0]!);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('an update from one client never reached another within 5 s')), 5000);
    });
    await Promise.race([arrived, timeout]).finally(() => writer.close());
  } finally {
    clearTimeout(timer);
    observer.close();
  }
}
