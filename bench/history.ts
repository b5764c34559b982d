// Authorship and diffs of a long session: 100,000 updates (four users, each with their own client,
// adding, moving, resizing, re-velocitying and deleting notes across eight tracks, now and then a
// new clip, a renamed track or a tempo change; one update per edit), stored through the real update
// log; then the diff between 25 % and 90 % of the session and the authorship at its end, cold (a
// new engine replays the log from the start) and warm (the engine kept at the session's last id).
// Usage: node --expose-gc --import tsx bench/history.ts [--updates N] [--runs N] [--database-url URL]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as Y from 'yjs';
import { DocumentStore, type LoggedUpdate } from '../src/collab/document-store.js';
import { AuthorshipEngine } from '../src/history/authorship.js';
import { HistoryService } from '../src/history/service.js';
import { Storage } from '../src/storage/database.js';
import { StudioDoc } from '../src/studio/model.js';
import { ReplayStore, type LoggedUpdateRow } from '../src/studio/replay-store.js';
import { summarize } from './lib/stats.js';

const { values } = parseArgs({ options: { updates: { type: 'string' }, runs: { type: 'string' }, 'database-url': { type: 'string' } } });
const total = Number(values.updates ?? 100_000);
const runs = Number(values.runs ?? 5);
const HOUR = 3_600_000;
const USERS = ['ana', 'ben', 'chloe', 'dev'];

function progress(label: string, done: number, all: number): void {
  const width = 30;
  const filled = Math.round((done / all) * width);
  process.stdout.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${all}${done === all ? '\n' : ''}`);
}

/** Four clients editing one session; every edit's update reaches the others before the next edit. */
function generate(count: number, start: number): LoggedUpdate[] {
  const clients = USERS.map(() => new StudioDoc(new Y.Doc()));
  const updates: LoggedUpdate[] = [];
  let at = start;
  let author = 0;
  clients.forEach((client, i) =>
    client.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === 'sync') return;
      updates.push({ update, author: USERS[i]!, at: new Date((at += HOUR / count)) });
      for (const other of clients) if (other !== client) Y.applyUpdate(other.doc, update, 'sync');
    }),
  );
  let seed = 11;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const clips: [string, string][] = [];
  for (let t = 0; t < 8; t++) {
    const studio = clients[t % USERS.length]!;
    const track = studio.addTrack({ name: `Track ${t}` });
    clips.push([track, studio.addClip(track, { length: 480 * 64 })]);
  }
  const notes: [number, string][] = [];
  while (updates.length < count) {
    author = rand(USERS.length);
    const studio = clients[author]!;
    const op = rand(100);
    const c = rand(clips.length);
    const [trackId, clipId] = clips[c]!;
    if (op < 45 || notes.length < 50) {
      const [id] = studio.addNotes(trackId, clipId, [{ pitch: 36 + rand(48), start: rand(480 * 64), duration: 60 + rand(900), velocity: 1 + rand(127) }]);
      notes.push([c, id!]);
    } else if (op < 85) {
      const [k, id] = notes[rand(notes.length)]!;
      const [t, cl] = clips[k]!;
      const kind = rand(3);
      studio.updateNote(t, cl, id, kind === 0 ? { start: rand(480 * 64), pitch: 36 + rand(48) } : kind === 1 ? { duration: 60 + rand(900) } : { velocity: 1 + rand(127) });
    } else if (op < 95) {
      const [k, id] = notes.splice(rand(notes.length), 1)[0]!;
      const [t, cl] = clips[k]!;
      studio.removeNote(t, cl, id);
    } else if (op < 97) {
      studio.updateTrack(trackId, { name: `Track ${c} (${rand(100)})` });
    } else if (op < 98) {
      clips.push([trackId, studio.addClip(trackId, { start: 480 * 64 * (1 + rand(8)), length: 480 * 16 })]);
    } else {
      studio.setTempo([{ tick: 0, bpm: 120 }, { tick: 480 * 4 * (1 + rand(16)), bpm: 80 + rand(80) }]);
    }
    if (updates.length % 5000 === 0) progress('generating', Math.min(updates.length, count), count);
  }
  progress('generating', count, count);
  return updates.slice(0, count);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'veza-history-bench-'));
  const storage = await Storage.open({ dataDir: dir, databaseUrl: values['database-url'] });
  try {
    await storage.migrate();
    const docId = `history-bench-${Date.now().toString(36)}`;
    const start = Date.now() - HOUR;
    const updates = generate(total, start);
    const store = new DocumentStore(storage);
    for (let i = 0; i < updates.length; i += 2000) {
      await store.append('default', [{ docId, updates: updates.slice(i, i + 2000) }]);
      progress('storing', Math.min(i + 2000, updates.length), updates.length);
    }
    const bytes = updates.reduce((n, u) => n + u.update.byteLength, 0);
    console.log(`${storage.kind}: ${total} updates by ${USERS.length} users, ${(bytes / 1e6).toFixed(2)} MB over one hour`);

    const replay = new ReplayStore(storage);
    const at = (fraction: number) => start + fraction * HOUR;
    const time = async (label: string, fn: () => Promise<unknown>) => {
      const samples: number[] = [];
      let result: unknown;
      for (let i = 0; i < runs; i++) {
        const began = performance.now();
        result = await fn();
        samples.push(performance.now() - began);
        progress(label, i + 1, runs);
      }
      return { label, summary: summarize(samples), result };
    };

    const cold = new HistoryService(replay, storage, { cachedSessions: 0 });
    const from = await cold.momentAt('default', docId, at(0.25));
    const to = await cold.momentAt('default', docId, at(0.9));
    const end = await cold.momentAt('default', docId, at(1) + 1000);
    const diffCold = await time('diff 25 % → 90 %, cold', async () => JSON.stringify(await cold.diff('default', docId, from, to)));
    const authorshipCold = await time('authorship at the end, cold', async () => JSON.stringify(await cold.authorship('default', docId, end)));

    // Where a cold answer's time goes: reading the log, and applying it with the observers.
    const rows: LoggedUpdateRow[] = [];
    const read = await time('reading the whole log (pages of 5,000)', async () => {
      rows.length = 0;
      let after: string | null = null;
      for (;;) {
        const page = await replay.updatesAfter('default', docId, after, 5000);
        rows.push(...page);
        if (page.length < 5000) return;
        after = page.at(-1)!.id;
      }
    });
    const applied = await time('applying it to an authorship engine', async () => new AuthorshipEngine().apply(rows));
    const bare = await time('applying it to a bare Y.Doc (no observers)', async () => {
      const doc = new Y.Doc();
      for (const row of rows) Y.applyUpdate(doc, row.update);
    });
    globalThis.gc?.();
    const bareBefore = process.memoryUsage().heapUsed;
    const bareDoc = new Y.Doc();
    for (const row of rows) Y.applyUpdate(bareDoc, row.update);
    globalThis.gc?.();
    const bareBytes = process.memoryUsage().heapUsed - bareBefore;
    bareDoc.destroy();
    rows.length = 0;

    const cached = new HistoryService(replay, storage, { cachedSessions: 8 });
    globalThis.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    await cached.authorship('default', docId, end);
    globalThis.gc?.();
    const engineBytes = process.memoryUsage().heapUsed - heapBefore;
    const authorshipWarm = await time('authorship at the end, warm (engine kept at the last id)', async () => JSON.stringify(await cached.authorship('default', docId, end)));
    // With the engine kept at 25 % (an authorship asked there first, not timed), the diff replays only from there.
    const warmDiffs: number[] = [];
    for (let i = 0; i < runs; i++) {
      await cached.authorship('default', docId, from);
      const began = performance.now();
      JSON.stringify(await cached.diff('default', docId, from, to));
      warmDiffs.push(performance.now() - began);
      progress('diff 25 % → 90 %, engine kept at 25 %', i + 1, runs);
    }
    const diffWarm = { label: 'diff 25 % → 90 %, engine kept at 25 %', summary: summarize(warmDiffs) };

    const diff = JSON.parse(diffCold.result as string) as { summary: Record<string, number>; authors: unknown[] };
    const report = JSON.parse(authorshipCold.result as string) as { tracks: { clips: { notes: unknown[] }[] }[]; shares: unknown[] };
    const liveNotes = report.tracks.reduce((n, t) => n + t.clips.reduce((m, c) => m + c.notes.length, 0), 0);
    console.log(`diff summary: ${JSON.stringify(diff.summary)}`);
    console.log(`authorship: ${report.tracks.length} tracks, ${liveNotes} live notes, ${report.shares.length} users; ${((authorshipCold.result as string).length / 1e6).toFixed(2)} MB of JSON`);
    if (globalThis.gc) console.log(`an engine kept at the end holds about ${(engineBytes / 1e6).toFixed(0)} MB of heap (the bare Y.Doc alone: ${(bareBytes / 1e6).toFixed(0)} MB)`);
    console.log(`\n| ${storage.kind}, ${total} updates | runs | median ms | max ms |\n|---|---|---|---|`);
    for (const m of [diffCold, authorshipCold, authorshipWarm, diffWarm, read, applied, bare]) console.log(`| ${m.label} | ${m.summary.count} | ${m.summary.p50.toFixed(0)} | ${m.summary.max.toFixed(0)} |`);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
