// Seeking in a recorded session: a one-hour session of 100,000 updates (notes added, moved, resized,
// deleted on 8 tracks), stored through the real update log, then random seeks through ReplayStore
// with checkpoints against the same store without them (merging the log from the start every time).
// With --bundle FILE, a real session instead: a session bundle (sessions/*.veza.json) imported as
// `veza session import` does, and seeks across its own span.
// Usage: node --import tsx bench/replay-seek.ts [--updates N | --bundle FILE] [--seeks N] [--database-url URL]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as Y from 'yjs';
import { DocumentStore, type LoggedUpdate } from '../src/collab/document-store.js';
import { decodeBundle } from '../src/sessions/bundle.js';
import { SessionBundles } from '../src/sessions/store.js';
import { Storage } from '../src/storage/database.js';
import { StudioDoc } from '../src/studio/model.js';
import { docFromParts, ReplayStore } from '../src/studio/replay-store.js';
import { summarize } from './lib/stats.js';

const { values } = parseArgs({ options: { updates: { type: 'string' }, bundle: { type: 'string' }, seeks: { type: 'string' }, 'database-url': { type: 'string' } } });
const bundle = values.bundle ? decodeBundle(readFileSync(values.bundle, 'utf8')) : null;
const total = bundle ? bundle.updates.length : Number(values.updates ?? 100_000);
const seeks = Number(values.seeks ?? 50);
const HOUR = 3_600_000;

function progress(label: string, done: number, all: number): void {
  const width = 30;
  const filled = Math.round((done / all) * width);
  process.stdout.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${all}${done === all ? '\n' : ''}`);
}

/** A session's updates as an editing hour produces them: one small change per update. */
function generate(count: number, start: number): LoggedUpdate[] {
  const studio = new StudioDoc(new Y.Doc());
  const updates: LoggedUpdate[] = [];
  let at = start;
  studio.doc.on('update', (update: Uint8Array) => updates.push({ update, author: `user${updates.length % 4}`, at: new Date((at += HOUR / count)) }));
  const tracks = Array.from({ length: 8 }, (_, i) => studio.addTrack({ name: `Track ${i}` }));
  const clips = tracks.map((t) => studio.addClip(t, { length: 480 * 64 }));
  const notes: [number, string][] = [];
  let seed = 7;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  while (updates.length < count) {
    const k = rand(8);
    const op = rand(10);
    if (op < 5 || notes.length < 50) {
      const [id] = studio.addNotes(tracks[k]!, clips[k]!, [{ pitch: 36 + rand(48), start: rand(480 * 64), duration: 60 + rand(900), velocity: 1 + rand(127) }]);
      notes.push([k, id!]);
    } else if (op < 9) {
      const [t, id] = notes[rand(notes.length)]!;
      studio.updateNote(tracks[t]!, clips[t]!, id, rand(2) ? { start: rand(480 * 64) } : { duration: 60 + rand(900) });
    } else {
      const [t, id] = notes.splice(rand(notes.length), 1)[0]!;
      studio.removeNote(tracks[t]!, clips[t]!, id);
    }
    if (updates.length % 5000 === 0) progress('generating', Math.min(updates.length, count), count);
  }
  progress('generating', count, count);
  return updates.slice(0, count);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'veza-replay-bench-'));
  const storage = await Storage.open({ dataDir: dir, databaseUrl: values['database-url'] });
  try {
    await storage.migrate();
    const docId = `replay-bench-${Date.now().toString(36)}`;
    let start: number;
    let span: number;
    let bytes: number;
    if (bundle) {
      start = bundle.updates[0]!.at;
      span = bundle.updates.at(-1)!.at - start;
      await new SessionBundles(storage).import('default', bundle, { as: docId });
      bytes = bundle.updates.reduce((n, u) => n + u.update.byteLength, 0);
    } else {
      start = Date.now() - HOUR;
      span = HOUR;
      const updates = generate(total, start);
      const store = new DocumentStore(storage);
      for (let i = 0; i < updates.length; i += 2000) {
        await store.append('default', [{ docId, updates: updates.slice(i, i + 2000) }]);
        progress('storing', Math.min(i + 2000, updates.length), updates.length);
      }
      bytes = updates.reduce((n, u) => n + u.update.byteLength, 0);
    }
    console.log(`${storage.kind}: ${total} updates, ${(bytes / 1e6).toFixed(2)} MB over ${(span / 60_000).toFixed(1)} minutes${bundle ? ` (${bundle.title})` : ''}`);

    const targets = Array.from({ length: seeks }, (_, i) => start + ((i * 7919) % seeks) * (span / seeks) + Math.min(1000, span / seeks / 2));
    /** Server time to read the state at t, and the time to turn it into a Y.Doc (what a viewer or an export does next). */
    const measure = async (label: string, replay: ReplayStore, at: number[]) => {
      const read: number[] = [];
      const apply: number[] = [];
      for (const [i, t] of at.entries()) {
        const began = performance.now();
        const found = await replay.stateAt('default', docId, t);
        const readAt = performance.now();
        docFromParts(found.parts);
        read.push(readAt - began);
        apply.push(performance.now() - readAt);
        progress(label, i + 1, at.length);
      }
      return { read: summarize(read), apply: summarize(apply) };
    };
    const checkpointed = new ReplayStore(storage, 1000);
    const first = await measure('first seek to the end, no checkpoints yet', checkpointed, [start + span]);
    const buildStarted = performance.now();
    const built = await checkpointed.buildCheckpoints('default', docId);
    const buildMs = performance.now() - buildStarted;
    console.log(`built ${built} checkpoints in ${(buildMs / 1000).toFixed(1)} s (in the background in the server)`);
    const warm = await measure('seeks with checkpoints', checkpointed, targets);
    const naive = await measure('seeks merging from the start', new ReplayStore(storage, Number.MAX_SAFE_INTEGER), targets.slice(0, Math.min(10, seeks)));
    // A viewer that already holds the document at t and seeks one minute ahead gets only what lies between.
    const forwardTimes: number[] = [];
    for (const [i, t] of targets.entries()) {
      const from = await checkpointed.lastUpdateAt('default', docId, t);
      const to = await checkpointed.lastUpdateAt('default', docId, t + 60_000);
      const began = performance.now();
      await checkpointed.updatesBetween('default', docId, from?.id ?? null, to!.id);
      forwardTimes.push(performance.now() - began);
      progress('forward seeks of one minute', i + 1, targets.length);
    }
    const forward = summarize(forwardTimes);
    const check = async (t: number) => {
      const a = await checkpointed.stateAt('default', docId, t);
      const b = await new ReplayStore(storage, Number.MAX_SAFE_INTEGER).stateAt('default', docId, t);
      const da = docFromParts(a.parts);
      const db = docFromParts(b.parts);
      return JSON.stringify(new StudioDoc(da).snapshot()) === JSON.stringify(new StudioDoc(db).snapshot());
    };
    const same = (await Promise.all(targets.slice(0, 5).map(check))).every(Boolean);
    const row = (label: string, m: Awaited<ReturnType<typeof measure>>) =>
      `| ${label} | ${m.read.count} | ${m.read.p50.toFixed(1)} | ${m.read.p99.toFixed(1)} | ${m.apply.p50.toFixed(1)} | ${m.apply.p99.toFixed(1)} |`;
    console.log(`\n| seek (${storage.kind}, ${total} updates) | n | read p50 ms | read p99 ms | apply p50 ms | apply p99 ms |\n|---|---|---|---|---|---|`);
    console.log(row('first seek to the end, before any checkpoint (reads the whole log)', first));
    console.log(row('random seeks with checkpoints every 1,000 updates', warm));
    console.log(row('random seeks without checkpoints (read the log from the start)', naive));
    console.log(`| forward seeks of one minute (≈${Math.round((total * 60_000) / span)} updates) from a held state | ${forward.count} | ${forward.p50.toFixed(1)} | ${forward.p99.toFixed(1)} | – | – |`);
    console.log(`states with and without checkpoints identical: ${same ? 'yes' : 'NO'}`);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
