// A child process of bench/abuse-soak.ts that opens WebSockets from given loopback addresses, so the
// soak's own event loop (the bystander's clock) never waits on them. Told by IPC what to do:
// "idle" opens synced connections and keeps them silent; "flood" opens sockets as fast as it can for
// a while, holding up to a number of the admitted ones; "close" closes everything. Each answer
// counts outcomes by reason: `http 429: <the problem's detail>`, `close 4429: <reason>`,
// `error ECONNRESET`, `timeout`.
import * as decoding from 'lib0/decoding';
import WebSocket from 'ws';
import * as syncProtocol from 'y-protocols/sync';
import { Framing } from './protocol-clients.js';

/** Where one socket goes: from `address`, as the user of `token`, to `doc` (a fresh one per attempt when absent). */
export interface Target {
  address: string;
  token: string;
  doc?: string;
}

export type WorkerCommand =
  | { type: 'idle'; base: string; targets: Target[]; concurrency: number; timeoutMs: number; retries: number }
  | { type: 'flood'; base: string; targets: Target[]; freshPrefix: string; seconds: number; concurrency: number; hold: number; timeoutMs: number }
  | { type: 'close' };

export interface Outcomes {
  attempts: number;
  admitted: number;
  /** Admitted connections whose sync step 2 arrived (the document was loaded for them). */
  synced: number;
  /** Refusals and failures before the connection was admitted, by reason. */
  refused: Record<string, number>;
  /** Milliseconds from the request to its refusal (HTTP answers and closes before sync), unsorted. */
  refusalMs: number[];
  /** Milliseconds from the request to the sync step 2 of admitted connections, unsorted. */
  admitMs: number[];
  /** Admitted connections the server closed afterwards, by close code. */
  closedAfter: Record<string, number>;
  /** Idle: refusals that were retried after their Retry-After (as a client reconnecting would), by reason. */
  retried: Record<string, number>;
}

export type WorkerReply = { type: 'done'; outcomes: Outcomes } | { type: 'closed'; closedAfter: Record<string, number> };

const emptyOutcomes = (): Outcomes => ({ attempts: 0, admitted: 0, synced: 0, refused: {}, refusalMs: [], admitMs: [], closedAfter: {}, retried: {} });
/** Refusals a reconnecting client retries: over a rate or a cap that frees up, or a server busy for now. */
const retryable = /^(http (429|503)|close (1013|4429))/;
const bump = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1);

/** Sockets this process keeps open; and closes after admission not asked for, by code. */
const held = new Set<WebSocket>();
let closedAfter: Record<string, number> = {};

/**
 * Opens one socket from `target.address` and resolves once it is synced (true) or refused (false),
 * counting the outcome. With `settleOnUpgrade`, a 101 already counts as admitted (the flood does not
 * wait for the document to load before opening the next one) and the sync is left to run.
 */
function open(base: string, target: Target, doc: string, outcomes: Outcomes, timeoutMs: number, settleOnUpgrade: boolean, refusal?: { reason?: string | undefined; retryAfterS?: number }): Promise<WebSocket | null> {
  outcomes.attempts++;
  const started = performance.now();
  const framing = new Framing('plain', doc);
  const url = `${base}${encodeURIComponent(doc)}?token=${encodeURIComponent(target.token)}`;
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: target.address, handshakeTimeout: timeoutMs });
  return new Promise((resolve) => {
    let settled = false;
    let admitted = false;
    let synced = false;
    const settle = (result: WebSocket | null, reason?: string, at = performance.now()) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (result) {
        admitted = true;
        outcomes.admitted++;
        outcomes.admitMs.push(at - started);
      } else {
        if (refusal) refusal.reason = reason;
        bump(outcomes.refused, reason!);
        outcomes.refusalMs.push(at - started);
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
      }
      resolve(result);
    };
    const timer = setTimeout(() => settle(null, 'timeout'), timeoutMs);
    ws.on('unexpected-response', (_request, response) => {
      // Timed at the status line; the problem's detail (read after) tells which limit refused it.
      const at = performance.now();
      if (refusal) refusal.retryAfterS = Number(response.headers['retry-after']) || 1;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body = (body + chunk).slice(0, 4096)));
      response.on('error', () => settle(null, `http ${response.statusCode}`, at));
      response.on('end', () => settle(null, `http ${response.statusCode}${detailOf(body)}`, at));
    });
    ws.on('upgrade', () => {
      if (settleOnUpgrade) settle(ws);
    });
    ws.on('error', (error: NodeJS.ErrnoException) => settle(null, `error ${error.code ?? error.message}`));
    ws.on('close', (code, reason) => {
      const why = `close ${code}${reason.length ? `: ${reason.toString().slice(0, 80)}` : ''}`;
      if (!settled) settle(null, why);
      else if (admitted) bump(closedAfter, why);
      held.delete(ws);
    });
    ws.on('open', () => {
      for (const message of framing.hello()) ws.send(message);
    });
    ws.on('message', (data: Buffer) => {
      const decoder = decoding.createDecoder(data);
      if (decoding.readVarUint(decoder) !== 0) return;
      const step = decoding.readVarUint(decoder);
      if (step === syncProtocol.messageYjsSyncStep1) ws.send(framing.emptyStep2());
      else if (step === syncProtocol.messageYjsSyncStep2 && !synced) {
        synced = true;
        outcomes.synced++;
        settle(ws);
      }
    });
  });
}

/** `: <detail>` of a problem JSON body (numbers kept: a limit's value is the same for every refusal). */
function detailOf(body: string): string {
  try {
    const detail = (JSON.parse(body) as { detail?: unknown }).detail;
    return typeof detail === 'string' ? `: ${detail.slice(0, 80)}` : '';
  } catch {
    return body.trim() ? `: ${body.trim().slice(0, 80)}` : '';
  }
}

async function idle(command: Extract<WorkerCommand, { type: 'idle' }>): Promise<Outcomes> {
  const outcomes = emptyOutcomes();
  let next = 0;
  const lane = async () => {
    while (next < command.targets.length) {
      const target = command.targets[next++]!;
      for (let attempt = 0; ; attempt++) {
        // A retried refusal counts once, as retried; only the last attempt's outcome goes in `refused`.
        const refusal: { reason?: string | undefined; retryAfterS?: number } = {};
        const ws = await open(command.base, target, target.doc!, outcomes, command.timeoutMs, false, refusal);
        if (ws) {
          held.add(ws);
          break;
        }
        if (attempt >= command.retries || !retryable.test(refusal.reason ?? '')) break;
        outcomes.refused[refusal.reason!]! -= 1;
        if (outcomes.refused[refusal.reason!] === 0) delete outcomes.refused[refusal.reason!];
        outcomes.refusalMs.pop();
        bump(outcomes.retried, refusal.reason!);
        await new Promise((resolve) => setTimeout(resolve, (refusal.retryAfterS ?? 1) * 1000 * (1 + Math.random() / 2)));
      }
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, lane));
  return outcomes;
}

/** Round-robin over the targets, `concurrency` attempts in flight, until `seconds` have passed. */
async function flood(command: Extract<WorkerCommand, { type: 'flood' }>): Promise<Outcomes> {
  const outcomes = emptyOutcomes();
  const until = performance.now() + command.seconds * 1000;
  const floodHeld: WebSocket[] = [];
  let next = 0;
  const lane = async () => {
    while (performance.now() < until) {
      const n = next++;
      const target = command.targets[n % command.targets.length]!;
      const ws = await open(command.base, target, target.doc ?? `${command.freshPrefix}-${n}`, outcomes, command.timeoutMs, true);
      if (!ws) continue;
      held.add(ws);
      floodHeld.push(ws);
      // Past the hold, the oldest goes: the flood churns instead of growing without bound.
      while (floodHeld.length > command.hold) closeOne(floodHeld.shift()!);
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, lane));
  return outcomes;
}

function closeOne(ws: WebSocket): void {
  ws.removeAllListeners();
  ws.on('error', () => {});
  ws.terminate();
  held.delete(ws);
}

process.on('message', (command: WorkerCommand) => {
  const reply = (message: WorkerReply) => process.send!(message);
  if (command.type === 'close') {
    for (const ws of [...held]) closeOne(ws);
    reply({ type: 'closed', closedAfter });
    closedAfter = {};
    return;
  }
  void (command.type === 'idle' ? idle(command) : flood(command)).then((outcomes) => {
    outcomes.closedAfter = closedAfter;
    closedAfter = {};
    reply({ type: 'done', outcomes });
  });
});
process.on('disconnect', () => process.exit(0));
