// Where a recommendation answer's time goes, in process and without HTTP or the database: the same
// synthetic 100 000 × 64 model as bench/recs-serving.ts, answered by this checkout's code and, with
// --base DIR, by another checkout's, side by side. CPU time (process.cpuUsage) per answer is reported
// next to wall time because on a shared machine it is the steadier of the two. Rounds of C answers
// are started together (C = 1 and 16), as concurrent requests would be. Each answer is for a user
// not asked for before (cold: nothing kept from an earlier answer); with --warm, the answers cycle
// over 64 users whose history objects stay the same, as the history cache hands them out between bus
// events, so what the serving code keeps per user is used. With --prepared, every answer is a user's
// first, for a user prepared beforehand as a model version's load prepares them (`prepareUser`, not
// timed): what describing an answer costs when users are drawn at random from the prepared ones.
// (The server sends a prepared user's default answers from those kept encoded, and describes only
// the requests they do not cover: another limit, filters, an experiment.)
// With --prepared, each step also reports the preparation's CPU and, under `node --expose-gc`, the
// heap each prepared user's state, scored set and kept answers hold (their history is made before).
// Usage: node [--expose-gc] --import tsx bench/recs-breakdown.ts [--base DIR] [--rounds 40] [--warm | --prepared]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeModel } from '../src/recommendations/model-files.js';
import { syntheticCatalogue } from './lib/synthetic-catalogue.js';
import { keepBody } from '../src/server/compression.js';
import { seededRandom } from '../src/shared/random.js';

const { values } = parseArgs({ options: { base: { type: 'string' }, rounds: { type: 'string', default: '40' }, warm: { type: 'boolean', default: false }, prepared: { type: 'boolean', default: false } } });
const ITEMS = 100_000;
const USERS = 20_000;
const FACTORS = 64;
const random = seededRandom(1);
const factors = (rows: number) => Float32Array.from({ length: rows * FACTORS }, () => (random() + random() + random() - 1.5) * 0.2);
const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-recs-breakdown-'));
// Every 2nd artist is a user too (a creator), so collaboration has candidates.
const creators = Array.from({ length: 5_000 }, (_, a) => `artist-${2 * a}`);
const meta = syntheticCatalogue({ version: 'breakdown', factors: FACTORS, items: ITEMS, artists: 10_000, users: [...Array.from({ length: USERS }, (_, u) => `user-${u}`), ...creators], random });
const relative = await writeModel(dataDir, { meta, userFactors: factors(meta.users.length), itemFactors: factors(ITEMS) });
const histories = Array.from({ length: 200 }, () => ({
  items: Array.from({ length: 30 }, () => ({ itemId: `item-${Math.floor(random() * ITEMS)}`, weight: 1 + random() * 9 })),
  follows: [],
  coeditors: [],
}));

const WARM_USERS = 64;
const kept = new Map<number, (typeof histories)[number]>();
/** Cold: the shared history object (another user's state on it is not theirs). Warm and prepared: one object per user, kept. */
const historyOf = (user: number) => {
  if (!values.warm && !values.prepared) return histories[user % histories.length]!;
  return kept.get(user) ?? kept.set(user, structuredClone(histories[user % histories.length]!)).get(user)!;
};

interface Code {
  name: string;
  ServingModel: { load(dataDir: string, relative: string, threads?: number): Promise<{ retire(): Promise<void> }> };
  recommendWithModel: (model: never, history: never, params: never) => Promise<unknown>;
  prepareUser: (model: never, history: never, userId: string) => Promise<void>;
  /** Where the code keeps whole answers encoded, the part of a preparation that does it. */
  keepDefaultAnswers?: (model: never, history: never, userId: string, keep: (text: string) => Promise<unknown>) => Promise<void>;
}

async function codeAt(name: string, root: string): Promise<Code> {
  const serving = (await import(path.join(root, 'src/recommendations/serving.ts'))) as Pick<Code, 'ServingModel'>;
  const recommend = (await import(path.join(root, 'src/recommendations/recommend.ts'))) as Pick<Code, 'recommendWithModel' | 'prepareUser'>;
  const keptAnswers = path.join(root, 'src/recommendations/kept-answers.ts');
  const kept = existsSync(keptAnswers) ? ((await import(keptAnswers)) as Pick<Code, 'keepDefaultAnswers'>) : {};
  return { name, ...serving, ...recommend, ...kept };
}

const codes = [await codeAt('this', process.cwd()), ...(values.base ? [await codeAt('base', path.resolve(values.base))] : [])];
const mode = values.warm ? 'warm' : values.prepared ? 'prepared' : 'cold';
/** Prepared mode: the next user never answered before. */
let nextPrepared = 1000;
const rows = [
  '| code | users | context | answers at once | wall ms per round (p50) | CPU ms per answer | JSON ms per answer | preparing: CPU ms per user | preparing: heap KiB per user | load average |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
/** Heap and array buffers in use after a full collection (null without --expose-gc: the figure would be noise). */
const heapBytes = (): number | null => {
  if (!globalThis.gc) return null;
  globalThis.gc();
  globalThis.gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};
for (const code of codes) {
  const model = await code.ServingModel.load(dataDir, relative, 1);
  for (const context of ['discovery', 'collaboration', 'production']) {
    for (const together of [1, 16]) {
      const walls: number[] = [];
      let cpu = 0;
      let json = 0;
      let answers = 0;
      // Warm-up rounds; with --warm, enough to have asked for every user of the pool once.
      const warmUp = values.warm ? Math.ceil(WARM_USERS / together) + 1 : 5;
      const firstPrepared = nextPrepared;
      let preparation = '– | –';
      if (values.prepared) {
        nextPrepared += (warmUp + Number(values.rounds)) * together;
        const users = Array.from({ length: nextPrepared - firstPrepared }, (_, j) => firstPrepared + j);
        for (const user of users) historyOf(user); // the histories are not the preparation's: made first
        const heapBefore = heapBytes();
        const cpuBefore = process.cpuUsage();
        // Sixteen users a turn, sharing scoring calls, as a version's load prepares them.
        for (let at = 0; at < users.length; at += 16) {
          await Promise.all(users.slice(at, at + 16).map((user) => code.prepareUser(model as never, historyOf(user) as never, `user-${user}`)));
          // The answers kept encoded, at the live replies' default Brotli quality.
          if (code.keepDefaultAnswers) for (const user of users.slice(at, at + 16)) await code.keepDefaultAnswers(model as never, historyOf(user) as never, `user-${user}`, (text) => keepBody(text, 1));
        }
        const used = process.cpuUsage(cpuBefore);
        const heap = heapBytes();
        preparation = `${((used.user + used.system) / 1000 / users.length).toFixed(2)} | ${heap === null || heapBefore === null ? '–' : ((heap - heapBefore) / 1024 / users.length).toFixed(1)}`;
      }
      for (let round = -warmUp; round < Number(values.rounds); round++) {
        const startedCpu = process.cpuUsage();
        const started = performance.now();
        const results = await Promise.all(
          Array.from({ length: together }, (_, j) => {
            const user = values.warm
              ? 1000 + ((round * together + j + WARM_USERS) % WARM_USERS)
              : values.prepared
                ? firstPrepared + (round + warmUp) * together + j
                : (round * together + j + 1000) % USERS;
            const params = { userId: `user-${user}`, context, limit: 20, filters: { kinds: null, tags: null, artists: null }, strategy: 'model' };
            return code.recommendWithModel(model as never, historyOf(user) as never, params as never);
          }),
        );
        const jsonStarted = performance.now();
        for (const result of results) JSON.stringify(result);
        const jsonMs = performance.now() - jsonStarted;
        const used = process.cpuUsage(startedCpu);
        if (round < 0) continue;
        walls.push(performance.now() - started);
        cpu += (used.user + used.system) / 1000;
        json += jsonMs;
        answers += together;
      }
      walls.sort((a, b) => a - b);
      rows.push(`| ${code.name} | ${mode} | ${context} | ${together} | ${walls[walls.length >> 1]!.toFixed(1)} | ${(cpu / answers).toFixed(2)} | ${(json / answers).toFixed(2)} | ${preparation} | ${loadavg()[0]!.toFixed(1)} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
    }
  }
  await model.retire();
}
console.log(rows.join('\n'));
rmSync(dataDir, { recursive: true, force: true });
