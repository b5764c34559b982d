// HTTP reply compression: which Brotli quality to use for replies made per request, and what the
// web client's screens save on the wire.
//
// 1. An in-process server (development mode, the two example sessions imported, plays reported so
//    the recommendations have something to say) answers the requests its screens make; each reply
//    is read as identity bytes.
// 2. Each reply is compressed at Brotli quality 0..11 and gzip 1/6/9, `--repeat` times, and the
//    CPU time per reply (process.cpuUsage, synchronous zlib, one thread) and the bytes are printed.
// 3. The same requests go over the wire through node:http with `Accept-Encoding: br, gzip` and
//    without, and the bytes received are compared (what the router actually sends).
// 4. Inline or on the pool: each reply compressed on the calling thread (zlib's sync API) against
//    handed to libuv's thread pool (its async API, one reply at a time as a request would), at the
//    live qualities: the main thread's CPU (its schedstat), the CPU of every thread, and the wall
//    time per reply. A recommendations answer of a trained model (20 per list) is among the replies.
// Usage: node --import tsx bench/compression.ts [--repeat 50]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, constants, gzipSync } from 'node:zlib';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startVeza } from '../src/main.js';
import { writeModel } from '../src/recommendations/model-files.js';
import { syntheticCatalogue } from './lib/synthetic-catalogue.js';
import { recommendWithModel } from '../src/recommendations/recommend.js';
import { ServingModel } from '../src/recommendations/serving.js';
import { seededRandom } from '../src/shared/random.js';
import { gitDescribe } from './lib/servers.js';

const { values } = parseArgs({ options: { repeat: { type: 'string', default: '50' } } });
const REPEAT = Number(values.repeat);

const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-bench-compression-'));
const config = loadConfig({}, { host: '127.0.0.1', port: '0', 'log-level': 'silent', dev: 'true', 'data-dir': dataDir });
const veza = await startVeza(config, { logger: pino({ level: 'silent' }) });
const base = `http://127.0.0.1:${veza.port}`;
const token = await veza.auth.sign({ sub: 'bench', tenant: 'default', docs: { '*': 'owner' }, admin: true });
const auth = { authorization: `Bearer ${token}` };

const sessions: string[] = [];
for (const file of ['example-city-blues.veza.json', 'example-chemistry-lab.veza.json']) {
  const body = readFileSync(path.join(import.meta.dirname, '../sessions', file));
  const res = await fetch(`${base}/api/v1/sessions/import?as=bench-${sessions.length}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
  if (res.status !== 201) throw new Error(`import of ${file}: ${res.status} ${await res.text()}`);
  sessions.push(`bench-${sessions.length}`);
}
for (let i = 0; i < 40; i++) {
  await fetch(`${base}/api/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'track.played', payload: { trackId: `t${i % 17}`, durationMs: 30000 } }) });
}

/** The screens' typical reads: name and path. */
const screens: [string, string][] = [
  ['session list (home)', '/api/v1/sessions'],
  ['session history (replay)', `/api/v1/sessions/${sessions[0]}/history`],
  ['authorship (versions panel)', `/api/v1/sessions/${sessions[0]}/authorship`],
  ['recommendations (discover)', '/api/v1/recommendations?limit=10'],
  ['standing (progress)', '/api/v1/gamification/me'],
  ['health', '/healthz'],
  ['OpenAPI document (static)', '/api/v1/openapi.json'],
];

function get(url: string, headers: Record<string, string>): Promise<{ status: number; encoding: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, encoding: String(res.headers['content-encoding'] ?? 'identity'), bytes: Buffer.concat(parts) }));
      })
      .on('error', reject);
  });
}

function cpuMicros(work: () => void): number {
  const before = process.cpuUsage();
  for (let i = 0; i < REPEAT; i++) work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / REPEAT;
}

const bodies: { name: string; body: Buffer }[] = [];
console.log(`## HTTP reply compression\n\ncommit ${gitDescribe()}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, repeat ${REPEAT}\n`);
console.log('### Bytes on the wire per screen read (node:http, `Accept-Encoding: br, gzip` vs none)\n');
console.log('| reply | status | identity bytes | sent bytes | coding | saved |');
console.log('|---|---|---|---|---|---|');
for (const [name, url] of screens) {
  const plain = await get(`${base}${url}`, auth);
  const encoded = await get(`${base}${url}`, { ...auth, 'accept-encoding': 'br, gzip' });
  bodies.push({ name, body: plain.bytes });
  const saved = 1 - encoded.bytes.length / plain.bytes.length;
  console.log(`| ${name} | ${plain.status} | ${plain.bytes.length} | ${encoded.bytes.length} | ${encoded.encoding} | ${(saved * 100).toFixed(0)} % |`);
}

console.log('\n### Brotli quality and gzip level: bytes and CPU µs per reply (synchronous zlib, one thread)\n');
const levels: [string, (b: Buffer) => Buffer][] = [
  ...Array.from({ length: 12 }, (_, q) => [`br ${q}`, (b: Buffer) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_SIZE_HINT]: b.length, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } })] as [string, (b: Buffer) => Buffer]),
  ['gzip 1', (b) => gzipSync(b, { level: 1 })],
  ['gzip 6', (b) => gzipSync(b, { level: 6 })],
  ['gzip 9', (b) => gzipSync(b, { level: 9 })],
];
bodies.push({ name: 'recommendations answer (trained model)', body: await trainedAnswer() });
const big = bodies.filter((b) => b.body.length >= 1024);
console.log(`| coding | ${big.map((b) => `${b.name} (${b.body.length} B)`).join(' | ')} |`);
console.log(`|---|${big.map(() => '---').join('|')}|`);
for (const [label, run] of levels) {
  const cells = big.map(({ body }) => {
    const size = run(body).length;
    const micros = cpuMicros(() => run(body));
    return `${size} B, ${micros.toFixed(0)} µs`;
  });
  console.log(`| ${label} | ${cells.join(' | ')} |`);
}

console.log('\n### Inline or on the pool: µs per reply at the live qualities (main thread CPU / every thread\'s CPU / wall)\n');
const brotliAsync = promisify(brotliCompress);
const brotliParams = (body: Buffer, quality: number) => ({ params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: body.length, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } });
/** The main thread's time on a CPU so far, µs (schedstat: nanoseconds). */
const mainThreadMicros = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
const perReply = async (work: () => unknown): Promise<string> => {
  const repeat = Math.max(REPEAT, 500);
  for (let i = 0; i < 20; i++) await work();
  const [cpu, main, wall] = [process.cpuUsage(), mainThreadMicros(), performance.now()];
  for (let i = 0; i < repeat; i++) await work();
  const used = process.cpuUsage(cpu);
  return `${((mainThreadMicros() - main) / repeat).toFixed(0)} / ${((used.user + used.system) / repeat).toFixed(0)} / ${(((performance.now() - wall) * 1000) / repeat).toFixed(0)}`;
};
console.log(`| Brotli | ${big.map((b) => `${b.name} (${b.body.length} B)`).join(' | ')} |`);
console.log(`|---|${big.map(() => '---').join('|')}|`);
for (const quality of [1, 4]) {
  for (const where of ['inline', 'pool'] as const) {
    const cells: string[] = [];
    for (const { body } of big) cells.push(await perReply(where === 'inline' ? () => brotliCompressSync(body, brotliParams(body, quality)) : () => brotliAsync(body, brotliParams(body, quality))));
    console.log(`| quality ${quality}, ${where} | ${cells.join(' | ')} |`);
  }
}

await veza.shutdown();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);

/** One discovery answer (limit 20) of a trained model of 5,000 items × 32 factors, as the API sends it. */
async function trainedAnswer(): Promise<Buffer> {
  const random = seededRandom(3);
  const items = 5000;
  const factors = 32;
  const meta = syntheticCatalogue({ version: 'compression-bench', factors, items, artists: 400, users: ['listener'], random, summary: {} });
  const vectors = (rows: number) => Float32Array.from({ length: rows * factors }, () => random() - 0.5);
  const relative = await writeModel(dataDir, { meta, userFactors: vectors(1), itemFactors: vectors(items) });
  const model = await ServingModel.load(dataDir, relative);
  const history = { items: Array.from({ length: 30 }, (_, j) => ({ itemId: `item-${(j * 163) % items}`, weight: 1 + (j % 5) })), follows: [], coeditors: [] };
  const answer = await recommendWithModel(model, history, { userId: 'listener', context: 'discovery', limit: 20, filters: { kinds: null, tags: null, artists: null }, strategy: 'model' });
  await model.retire();
  return Buffer.from(JSON.stringify({ ...answer, experiments: [] }));
}
