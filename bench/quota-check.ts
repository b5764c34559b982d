// What a tenant's quota check adds to each WebSocket message, measured side by side with quotas off
// in one run: the same loop over 1,000 sockets' data as `WebSocketRouter` holds it, reading the
// socket's meter and, when there is one, counting the message (`TenantQuotaState.take`), as the
// message handler does. Also the HTTP request check and the quarter-second tick over every tenant.
// Usage: node --import tsx bench/quota-check.ts [rounds]
import { PLANS } from '../src/tenants/quota-plans.js';
import { TenantQuotaState } from '../src/tenants/quota-state.js';
import type { SocketMeter } from '../src/server/quota.js';

const rounds = Number(process.argv[2] ?? 5);
const SOCKETS = 1_000;
const TENANTS = 100;
const MESSAGES = 20_000_000;
/** A median update of the collaboration benchmark is about this size. */
const BYTES = 27;

interface Data {
  messageTokens: number;
  quota: SocketMeter | null;
}

const unlimited = Array.from({ length: TENANTS }, (_, i) => new TenantQuotaState(`label-${i}`, PLANS.unlimited));
// Limits no run reaches (the count is never reset here): the check compares against finite numbers.
const huge = { ...PLANS.label, messagesPerSecond: 1e15, bytesPerSecond: 1e15, requestsPerSecond: 1e15 };
const limited = Array.from({ length: TENANTS }, (_, i) => new TenantQuotaState(`label-${i}`, huge));
const sockets = (states: TenantQuotaState[] | null): Data[] => Array.from({ length: SOCKETS }, (_, i) => ({ messageTokens: 500, quota: states ? states[i % TENANTS]! : null }));
const cases: [string, Data[]][] = [
  ['quotas off (no gate installed)', sockets(null)],
  ['quotas on, tenants without limits', sockets(unlimited)],
  ['quotas on, tenants with limits', sockets(limited)],
];

/** The message handler's part: read the meter, count the message, refuse over a limit. */
function perMessage(all: Data[]): number {
  let refused = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < MESSAGES; i++) {
    const data = all[i % SOCKETS]!;
    const quota = data.quota;
    if (quota !== null && !quota.take(BYTES)) refused++;
  }
  const ns = Number(process.hrtime.bigint() - started) / MESSAGES;
  if (refused > 0) throw new Error(`refused ${refused}: the limits were meant to be out of reach`);
  return ns;
}

const results = new Map<string, number[]>(cases.map(([label]) => [label, []]));
for (let round = 0; round < rounds; round++) {
  for (const [label, all] of cases) results.get(label)!.push(perMessage(all));
}
const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)]!;
const off = median(results.get(cases[0]![0])!);
console.log(`quota check per message: ${SOCKETS} sockets over ${TENANTS} tenants, ${MESSAGES / 1e6} M messages a round, ${rounds} rounds (median ns per message):`);
for (const [label, values] of results) {
  const m = median(values);
  console.log(`  ${label.padEnd(36)} ${m.toFixed(2).padStart(7)} ns  (+${(m - off).toFixed(2)} ns over off; rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`);
}

// The quarter-second tick: every tenant's window slides (four times a second, off the message path),
// with every tenant sending in every quarter, and with all of them idle.
const TICK_TENANTS = 10_000;
const states = Array.from({ length: TICK_TENANTS }, (_, i) => new TenantQuotaState(`label-${i}`, PLANS.studio));
for (const active of [true, false]) {
  const tickNs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let spent = 0n;
    for (let n = 0; n < 20; n++) {
      if (active) for (const state of states) state.take(BYTES);
      const started = process.hrtime.bigint();
      for (const state of states) state.roll();
      spent += process.hrtime.bigint() - started;
    }
    tickNs.push(Number(spent) / 20);
  }
  console.log(`quarter-second tick over ${TICK_TENANTS} tenants, ${active ? 'all sending' : 'all idle'}: ${(median(tickNs) / 1e6).toFixed(3)} ms (rounds: ${tickNs.map((v) => (v / 1e6).toFixed(3)).join(', ')})`);
}
