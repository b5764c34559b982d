// Builds the web client (web/dist) only when its sources changed since the last build: a hash of
// web/'s sources, its build config and the lockfile is kept beside the build. `npm start` runs it.
//   node scripts/build-web-if-changed.mjs [--force]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const web = path.join(root, 'web');
const dist = path.join(web, 'dist');
const stamp = path.join(dist, '.source-hash');

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.name !== 'dist' && e.name !== 'node_modules')
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

const hash = createHash('sha256');
for (const file of [...files(web), path.join(root, 'package-lock.json')]) {
  if (!existsSync(file) || !statSync(file).isFile()) continue;
  hash.update(`${path.relative(root, file)}\n`);
  hash.update(readFileSync(file));
}
const digest = hash.digest('hex');
const current = existsSync(stamp) && existsSync(path.join(dist, 'index.html')) ? readFileSync(stamp, 'utf8').trim() : null;
if (current === digest && !process.argv.includes('--force')) {
  process.stderr.write('web client: up to date\n');
  process.exit(0);
}
const started = Date.now();
process.stderr.write('web client: building (sources changed)…\n');
const vite = path.join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const run = spawnSync(process.execPath, [vite, 'build', '--config', path.join(web, 'vite.config.ts'), '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) {
  process.stderr.write(`web client: the build failed (exit ${run.status ?? run.signal})\n`);
  process.exit(1);
}
writeFileSync(stamp, `${digest}\n`);
process.stderr.write(`web client: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
