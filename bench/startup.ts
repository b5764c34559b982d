// Start-up time as `npm start` runs it: the web client's and the server's compile checks (or
// compiles), the media check, then
// `veza serve --dev` until its start-up report; first on a fresh data directory (migrations, the
// example sessions' import) with the web client unbuilt, then restarts on the same directory.
//   node --import tsx bench/startup.ts [--runs N] [--database-url URL]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gitDescribe } from './lib/servers.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'database-url': { type: 'string' } } });
const runs = Number(values.runs);
const root = path.resolve(import.meta.dirname, '..');

function step(args: string[]): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`${args.join(' ')} failed: ${run.stderr.toString()}`);
  return performance.now() - started;
}

/** `veza serve --dev` until the report; returns the wall time and the phases it reported. */
async function serve(dataDir: string): Promise<{ wallMs: number; readyLine: string; rss: string }> {
  const started = performance.now();
  const extra = values['database-url'] ? ['--database-url', values['database-url']] : [];
  const child = spawn(process.execPath, ['bin/veza.js', 'serve', '--dev', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...extra], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const text = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/MiB resident/.test(stderr)) resolve(stderr);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const wallMs = performance.now() - started;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { wallMs, readyLine: /ready in [^:]+/.exec(text)?.[0] ?? '?', rss: /(\d+) MiB resident/.exec(text)?.[1] ?? '?' };
}

const rows: string[] = [];
for (let i = 0; i < runs; i++) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-startup-'));
  try {
    rmSync(path.join(root, 'web', 'dist'), { recursive: true, force: true });
    rmSync(path.join(root, 'build'), { recursive: true, force: true });
    const web = step(['scripts/build-web-if-changed.mjs']) + step(['scripts/build-server-if-changed.mjs']);
    const media = step(['native/resolve-media.mjs', '--install']);
    const first = await serve(dataDir);
    rows.push(`| first | ${(web / 1000).toFixed(1)} | ${(media / 1000).toFixed(2)} | ${(first.wallMs / 1000).toFixed(1)} | ${((web + media + first.wallMs) / 1000).toFixed(1)} | ${first.readyLine} | ${first.rss} |`);
    const web2 = step(['scripts/build-web-if-changed.mjs']) + step(['scripts/build-server-if-changed.mjs']);
    const media2 = step(['native/resolve-media.mjs', '--install']);
    const again = await serve(dataDir);
    rows.push(`| restart | ${(web2 / 1000).toFixed(1)} | ${(media2 / 1000).toFixed(2)} | ${(again.wallMs / 1000).toFixed(1)} | ${((web2 + media2 + again.wallMs) / 1000).toFixed(1)} | ${again.readyLine} | ${again.rss} |`);
    process.stderr.write(`run ${i + 1}/${runs} done\n`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
console.log(`start-up, ${values['database-url'] ? 'PostgreSQL' : 'embedded PGlite'}, commit ${gitDescribe()}, ${new Date().toISOString()}`);
console.log('| start | web client and server compile s | media check s | serve until report s | total s | server\'s own account | RSS MiB |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
