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
// Usage: node --import tsx bench/compression.ts [--repeat 50]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startVeza } from '../src/main.js';
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

await veza.shutdown();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
