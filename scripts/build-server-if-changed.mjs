// Compiles the server's TypeScript (src/) file by file into build/, with esbuild, when the sources
// changed since the last compile; `veza` then starts without tsx's loader (a second or so less on
// every start, in the main thread and in the consumers thread). The layout is kept (build/ sits
// where src/ does, one level under the package), so paths relative to a module stay right.
// Without esbuild (a production install without dev dependencies) it does nothing: `veza` runs the
// sources through tsx as before.
//   node scripts/build-server-if-changed.mjs [--force]
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles, sourceHash } from '../bin/source-hash.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = path.join(root, 'src');
const out = path.join(root, 'build');
const digest = sourceHash(src);
const stamp = path.join(out, '.source-hash');
if (!process.argv.includes('--force') && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest) {
  process.stderr.write('server: compiled copy up to date\n');
  process.exit(0);
}
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('server: esbuild is not installed; the sources run through tsx\n');
  process.exit(0);
}
const started = Date.now();
const temp = `${out}.tmp-${process.pid}`;
rmSync(temp, { recursive: true, force: true });
let count = 0;
for (const file of sourceFiles(src)) {
  const from = path.join(src, file);
  if (file.endsWith('.ts') && !file.endsWith('.d.ts')) {
    const { code } = await esbuild.transform(readFileSync(from, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: from, sourcemap: 'inline' });
    const to = path.join(temp, file.replace(/\.ts$/, '.js'));
    mkdirSync(path.dirname(to), { recursive: true });
    writeFileSync(to, code);
    count++;
  } else {
    const to = path.join(temp, file);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
}
writeFileSync(path.join(temp, '.source-hash'), `${digest}\n`);
rmSync(out, { recursive: true, force: true });
renameSync(temp, out);
process.stderr.write(`server: compiled ${count} files in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
