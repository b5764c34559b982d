// Where the embedded default's resident memory is, by part: the server started in this process from
// the compiled copy (build/, as `npm start` runs it) on a fresh data directory, every module on, then
// read `--settle` seconds after it listens, with no client connected. Prints the process's figures
// (process.memoryUsage(), the main isolate's heap spaces, /proc/self/smaps_rollup), each thread's
// JavaScript heap as the server reports it on /metrics, and /proc/self/smaps grouped by what maps it:
// the embedded database's WASM memory (one reservation of several GiB, resident as far as touched),
// glibc's heaps (the main one and the 64 MiB arenas of other threads), thread stacks, the files mapped
// (node itself, native modules such as uWS, onnxruntime when loaded), and the rest (V8's heap pages
// of every isolate, its code space, other anonymous memory). Child processes (mediasoup workers) are
// processes of their own and are not in these figures.
// Plain JavaScript, run with node alone: a loader such as tsx would add a thread of its own.
//   node bench/footprint-parts.mjs [--root DIR] [--settle S] [--database-url URL] [--gc] [--json]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';

const { values } = parseArgs({ options: { root: { type: 'string' }, settle: { type: 'string' }, 'database-url': { type: 'string' }, json: { type: 'boolean' } } });
const root = path.resolve(values.root ?? fileURLToPath(new URL('..', import.meta.url)));
const settleSeconds = Number(values.settle ?? 8);
const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-parts-'));
const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** @returns {{ start: number, end: number, perms: string, name: string, sizeKb: number, rssKb: number }[]} */
function mappings() {
  const out = [];
  let current = null;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = { start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], name: head[4], sizeKb: 0, rssKb: 0 };
      out.push(current);
      continue;
    }
    const field = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (field && current) current[field[1] === 'Size' ? 'sizeKb' : 'rssKb'] = Number(field[2]);
  }
  return out;
}

/** The size of the run of adjacent anonymous mappings that `i` is in (a WASM memory: its used front and the reserved rest). */
function regionOf(maps, i) {
  let first = i;
  let last = i;
  while (first > 0 && maps[first - 1].name === '' && maps[first - 1].end === maps[first].start) first--;
  while (last < maps.length - 1 && maps[last + 1].name === '' && maps[last + 1].start === maps[last].end) last++;
  return maps[last].end - maps[first].start;
}

/** Resident KiB by part (see the file's opening). */
function partsOf(maps, wasmBytes) {
  const parts = new Map();
  const add = (part, kb) => parts.set(part, (parts.get(part) ?? 0) + kb);
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    const next = maps[i + 1];
    if (m.name === '[heap]') add('malloc: main heap', m.rssKb);
    else if (m.name === '[stack]') add('stacks', m.rssKb);
    else if (m.name.startsWith('/')) add(`file: ${path.basename(m.name)}`, m.rssKb);
    else if (m.name.startsWith('[')) add(m.name, m.rssKb);
    // A glibc arena: 64 MiB reserved, aligned to it, the used front read-write and the rest ---p.
    else if (m.start % (64 * 2 ** 20) === 0 && m.perms.startsWith('rw') && next?.perms === '---p' && next.start === m.end && next.end - m.start === 64 * 2 ** 20) add('malloc: thread arenas', m.rssKb);
    // The embedded database's WASM memory: its read-write front is the memory's size, in a reservation of several GiB.
    else if (wasmBytes && m.sizeKb * 1024 === wasmBytes && m.perms.startsWith('rw') && regionOf(maps, i) >= 4 * 2 ** 30) add('WASM memory (embedded database)', m.rssKb);
    // A thread stack: read-write above a 4 KiB guard page.
    else if (m.perms.startsWith('rw') && maps[i - 1]?.perms === '---p' && maps[i - 1].end === m.start && maps[i - 1].end - maps[i - 1].start === 4096 && m.sizeKb >= 1024 && m.sizeKb <= 8 * 1024 + 4) add('stacks', m.rssKb);
    else add('other anonymous (V8 heaps and code of every isolate, native allocations by mmap)', m.rssKb);
  }
  return [...parts.entries()].sort((a, b) => b[1] - a[1]);
}

function statusKb(field) {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

const { loadConfig } = await import(pathToFileURL(path.join(root, 'build/config.js')).href);
const { startVeza } = await import(pathToFileURL(path.join(root, 'build/main.js')).href);
const flags = { 'data-dir': dataDir, port: '0', host: '127.0.0.1', 'log-level': 'warn', dev: 'true', ...(values['database-url'] ? { 'database-url': values['database-url'] } : {}) };
const config = loadConfig(process.env, flags);
const veza = await startVeza(config);
await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));

const usage = process.memoryUsage();
const metrics = await (await fetch(`http://127.0.0.1:${veza.port}/metrics`)).text();
const threadHeaps = [...metrics.matchAll(/^veza_thread_heap_used_bytes\{thread="(\w+)"\} (\S+)$/gm)].map((m) => [m[1], mib(Number(m[2]))]);
const wasm = /^veza_storage_wasm_memory_bytes (\S+)$/m.exec(metrics)?.[1];
const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
const rollupKb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1]);
const report = {
  root,
  storage: veza.storage.kind,
  settleSeconds,
  rssMiB: mib(usage.rss),
  peakMiB: mib(statusKb('VmHWM') * 1024),
  threads: statusKb('Threads') || Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]),
  smapsRollupMiB: { rss: mib(rollupKb('Rss') * 1024), anonymous: mib(rollupKb('Anonymous') * 1024), file: mib((rollupKb('Rss') - rollupKb('Anonymous')) * 1024) },
  mainIsolateMiB: { heapTotal: mib(usage.heapTotal), heapUsed: mib(usage.heapUsed), external: mib(usage.external), arrayBuffers: mib(usage.arrayBuffers) },
  mainHeapSpacesMiB: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: mib(s.space_size), used: mib(s.space_used_size), physical: mib(s.physical_space_size) }])),
  threadHeapUsedMiB: Object.fromEntries(threadHeaps),
  databaseWasmMiB: wasm ? mib(Number(wasm)) : null,
  residentByPartMiB: Object.fromEntries(partsOf(mappings(), wasm ? Number(wasm) : null).filter(([, kb]) => kb >= 512).map(([part, kb]) => [part, mib(kb * 1024)])),
};
await veza.shutdown();
rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(report, null, values.json ? 0 : 2)}\n`);
process.exit(0);
