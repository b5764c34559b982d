// Offline replay of recorded events against the recommender (src/recommendations/replay.ts): every
// moment in time order, the model (ALS as the product trains it, retrained daily, fold-in for new
// users) and the popularity baseline each suggest 10 samples and 10 collaborators from the past
// only, and a hit is a suggestion the user took up next. Prints hit-rate@10 with 95% Wilson
// intervals and the model − popularity difference with Newcombe's interval.
// Inputs:
// - the session files (default sessions/*.veza.json): every update is a co-edit by its author;
// - --events FILE (repeatable): NDJSON of recorded bus events (`track.played`, `track.liked`, ...,
//   `session.updated`, as `veza` records them) or of the history rows POST /api/v1/interactions
//   takes (`item` rows say which items are samples);
// - --database-url URL or --data-dir DIR (the embedded database), with --tenant T (default
//   `default`): what a server recorded (src/recommendations/replay-sources.ts): each author's first
//   edit of each session, each listener's first play, like, share and purchase of each track (the
//   insights rollups), and which items are samples;
// - without --events or a database, a generated world (--demo, deterministic, SYNTHETIC: it says
//   nothing about real users; it shows the harness working): listeners in three scenes, each playing
//   tracks and taking up samples mostly from their scene, and creators who co-edit sessions mostly
//   within it.
// Usage: node --import tsx bench/recs-replay.ts [--events FILE]... [--database-url URL | --data-dir DIR] [--tenant T] [--sessions DIR] [--no-demo] [--k 10]
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseEvent } from '../src/events/catalog.js';
import { differenceInterval, wilsonInterval, type Interval } from '../src/recommendations/experiments.js';
import { alsRecommender } from '../src/recommendations/replay-model.js';
import { popularityRecommender, replay, type ItemKind, type ReplayEvent } from '../src/recommendations/replay.js';
import { recordedReplayInput } from '../src/recommendations/replay-sources.js';
import { historyRow, rowWeight, signalFromEvent } from '../src/recommendations/signals.js';
import { seededRandom } from '../src/shared/random.js';
import { Storage } from '../src/storage/database.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', multiple: true, default: [] },
    sessions: { type: 'string', default: fileURLToPath(new URL('../sessions', import.meta.url)) },
    'no-demo': { type: 'boolean', default: false },
    'database-url': { type: 'string' },
    'data-dir': { type: 'string' },
    tenant: { type: 'string', default: 'default' },
    k: { type: 'string', default: '10' },
  },
});

interface Input {
  events: ReplayEvent[];
  kinds: Map<string, ItemKind>;
}

/** Co-edits from exported sessions: one per update, by its author at its time. */
function sessionEvents(dir: string): ReplayEvent[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.veza.json'));
  return files.flatMap((file) => {
    const bundle = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { session: { id: string }; updates: { at: number; author: string }[] };
    return bundle.updates.map((u): ReplayEvent => ({ at: u.at, type: 'coedit', userId: u.author, sessionId: bundle.session.id }));
  });
}

/** One NDJSON file of bus events or history rows; a bad line stops the run with its number. */
function eventFile(file: string, into: Input): void {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, n) => {
      if (!line.trim()) return;
      const value: unknown = JSON.parse(line);
      const row = historyRow.safeParse(value);
      if (row.success) {
        const r = row.data;
        if (r.type === 'item') into.kinds.set(r.itemId, r.kind);
        else if (r.type === 'coedit') into.events.push({ at: Date.parse(r.at), type: 'coedit', userId: r.userId, sessionId: r.sessionId });
        else if (r.type !== 'follow') into.events.push({ at: Date.parse(r.at), type: 'interaction', userId: r.userId, itemId: r.itemId, weight: rowWeight(r) });
        return;
      }
      const parsed = parseEvent(value);
      if (!parsed.ok) throw new Error(`${file}:${n + 1}: neither a history row nor an event: ${parsed.error}`);
      const signal = signalFromEvent(parsed.event);
      if (signal?.kind === 'interaction') {
        const { userId, itemId, weight, at } = signal.interaction;
        into.events.push({ at: at.getTime(), type: 'interaction', userId, itemId, weight });
      } else if (signal?.kind === 'coedit') into.events.push({ at: signal.at.getTime(), type: 'coedit', userId: signal.userId, sessionId: signal.sessionId });
    });
}

/**
 * The generated world: 3 scenes of 20 tracks and 30 samples; 150 listeners over 28 days, 45 of
 * them creators; each listener plays tracks (85 % in their scene) on active days and takes up a
 * sample now and then (early ones of a scene more often); from day 7, three sessions a day, each
 * started by a creator and joined by 1–2 others, from the same scene 75 % of the time.
 */
function demo(into: Input, start: number): void {
  const random = seededRandom(2026);
  const scenes = ['house', 'jazz', 'metal'];
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const tracks = (scene: string) => Array.from({ length: 20 }, (_, i) => `${scene}-t${i}`);
  const samples = (scene: string) => Array.from({ length: 30 }, (_, i) => `${scene}-s${i}`);
  for (const scene of scenes) for (const s of samples(scene)) into.kinds.set(s, 'sample');
  const users = Array.from({ length: 150 }, (_, u) => ({ id: `listener-${u}`, scene: scenes[u % 3]!, creator: u < 45 }));
  const sceneOf = (scene: string) => (random() < 0.85 ? scene : pick(scenes));
  const hour = 3_600_000;
  for (let day = 0; day < 28; day++) {
    for (const user of users) {
      if (random() < 0.4) continue;
      const at = start + day * 24 * hour + Math.floor(random() * 24) * hour;
      for (let p = 0; p < 3; p++) into.events.push({ at: at + p * 60_000, type: 'interaction', userId: user.id, itemId: pick(tracks(sceneOf(user.scene))), weight: 1 });
      // Earlier samples of a scene are its staples: taken up more often (skewed by index).
      if (random() < 0.25) into.events.push({ at: at + 5 * 60_000, type: 'interaction', userId: user.id, itemId: samples(sceneOf(user.scene))[Math.floor(random() ** 2 * 30)]!, weight: 1 });
    }
    if (day < 7) continue;
    const creators = users.filter((u) => u.creator);
    for (let s = 0; s < 3; s++) {
      const owner = pick(creators);
      const session = `demo-session-${day}-${s}`;
      const at = start + day * 24 * hour + 20 * hour + s * hour;
      into.events.push({ at, type: 'coedit', userId: owner.id, sessionId: session });
      const joiners = 1 + Math.floor(random() * 2);
      for (let j = 1; j <= joiners; j++) {
        const sameScene = random() < 0.75;
        const pool = creators.filter((c) => c !== owner && (!sameScene || c.scene === owner.scene));
        into.events.push({ at: at + j * 10 * 60_000, type: 'coedit', userId: pick(pool).id, sessionId: session });
      }
    }
  }
}

const percent = (x: number) => `${(100 * x).toFixed(1)} %`;
const interval = (i: Interval | null) => (i ? `[${percent(i.lower)}, ${percent(i.upper)}]` : '—');

/** The recorded input of one tenant of a server's database (PostgreSQL, or the embedded one in a data directory). */
async function databaseInput(into: Input): Promise<string> {
  const databaseUrl = values['database-url'];
  const storage = await Storage.open({ dataDir: values['data-dir'] ?? '.', ...(databaseUrl ? { databaseUrl } : {}), thread: false });
  try {
    const recorded = await recordedReplayInput(storage, values.tenant);
    into.events.push(...recorded.events);
    for (const [item, kind] of recorded.kinds) into.kinds.set(item, kind);
    const { sessions, coedits, interactions, samples } = recorded.counts;
    return `tenant ${values.tenant}'s recorded data: ${coedits} first edits of ${sessions} sessions, ${interactions} first interactions, ${samples} sample items`;
  } finally {
    await storage.close();
  }
}

async function main(): Promise<void> {
  const k = Number(values.k);
  const input: Input = { events: sessionEvents(values.sessions), kinds: new Map() };
  const sessionCount = input.events.length;
  for (const file of values.events) eventFile(file, input);
  const recorded = values['database-url'] || values['data-dir'] ? await databaseInput(input) : null;
  const synthetic = values.events.length === 0 && !recorded && !values['no-demo'];
  if (synthetic) demo(input, Date.UTC(2026, 9, 25));
  const sources = [`${sessionCount} session updates from ${values.sessions}`, ...values.events, ...(recorded ? [recorded] : []), ...(synthetic ? ['the rest a GENERATED demo world: synthetic, not a measurement of real users'] : [])];
  console.log(`${input.events.length} events (${sources.join(', ')})`);
  const model = alsRecommender();
  const started = performance.now();
  const result = replay(input.events, input.kinds, [model, popularityRecommender], k);
  console.log(`replayed in ${((performance.now() - started) / 1000).toFixed(1)} s, ${model.trainings} trainings of the model\n`);
  console.log(`| question | trials | model hit-rate@${k} [95 % Wilson] | popularity hit-rate@${k} [95 % Wilson] | model − popularity [95 % Newcombe] |`);
  console.log('|---|---|---|---|---|');
  for (const question of ['samples', 'collaboration'] as const) {
    const m = result.summary[question]['model']!;
    const p = result.summary[question]['popularity']!;
    const rate = (t: { hits: number; trials: number }) => (t.trials ? `${t.hits}/${t.trials} = ${percent(t.hits / t.trials)} ${interval(wilsonInterval(t.hits, t.trials))}` : '—');
    const diff = m.trials ? `${percent(m.hits / m.trials - p.hits / p.trials)} ${interval(differenceInterval(m.hits, m.trials, p.hits, p.trials))}` : '—';
    console.log(`| ${question} | ${m.trials} | ${rate(m)} | ${rate(p)} | ${diff} |`);
  }
  console.log('\nThe two answer the same trials, so the unpaired Newcombe interval is conservative (wider than a paired one).');
}

await main().catch((error: unknown) => {
  // A database without the server's tables, a bad URL or an unreadable file: say so in one line.
  console.error(`recs-replay: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
