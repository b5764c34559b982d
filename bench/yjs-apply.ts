// What applying updates to a Y.Doc costs, one by one or batched in one transaction, and what
// Y.decodeUpdate (parsing without integrating) costs: the numbers behind the hot-path choice in
// bench/RESULTS.md. Usage: node --import tsx bench/yjs-apply.ts [updates]
import * as Y from 'yjs';

const count = Number(process.argv[2] ?? 20_000);
const source = new Y.Doc();
const updates: Uint8Array[] = [];
source.on('update', (u: Uint8Array) => updates.push(u));
for (let i = 0; i < count; i++) {
  if (i % 2) source.getMap('m').set(`k${i % 50}`, i);
  else source.getText('t').insert(source.getText('t').length, 'ab');
}

function time(label: string, run: () => void): void {
  const started = performance.now();
  run();
  const perUpdate = ((performance.now() - started) * 1000) / updates.length;
  console.log(`${label.padEnd(40)} ${perUpdate.toFixed(2)} µs per update`);
}

console.log(`${updates.length} small updates (map sets and text inserts), mean ${Math.round(updates.reduce((n, u) => n + u.length, 0) / updates.length)} bytes`);
time('Y.decodeUpdate (parse only)', () => updates.forEach((u) => Y.decodeUpdate(u)));
time('Y.applyUpdate, one at a time', () => {
  const doc = new Y.Doc();
  updates.forEach((u) => Y.applyUpdate(doc, u));
});
time('Y.applyUpdate, 50 per transaction', () => {
  const doc = new Y.Doc();
  for (let i = 0; i < updates.length; i += 50) Y.transact(doc, () => updates.slice(i, i + 50).forEach((u) => Y.applyUpdate(doc, u)));
});
time('one at a time, with an update listener', () => {
  const doc = new Y.Doc();
  doc.on('update', () => undefined);
  updates.forEach((u) => Y.applyUpdate(doc, u));
});
