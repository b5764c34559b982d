// Builds the web client (web/dist) only when its sources changed since the last build: a hash of
// web/'s sources, its build config and the lockfile is kept beside the build. `npm start` runs it.
//   node scripts/build-web-if-changed.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashFiles, sourceFiles } from '../bin/source-hash.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const web = path.join(root, 'web');
const dist = path.join(web, 'dist');
const stamp = path.join(dist, '.source-hash');

// The client's sources and build config, and the lockfile (a dependency's new version changes the build).
const digest = hashFiles(root, [...sourceFiles(web, ['dist', 'node_modules']).map((f) => path.join('web', f)), 'package-lock.json']);
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
// The operations the page sends, for the server's GraphQL allow-list.
const manifest = spawnSync(process.execPath, [path.join(root, 'scripts', 'graphql-manifest.mjs')], { cwd: root, stdio: 'inherit' });
if (manifest.status !== 0) {
  process.stderr.write('web client: the GraphQL operations manifest could not be written\n');
  process.exit(1);
}
writeFileSync(stamp, `${digest}\n`);
process.stderr.write(`web client: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
