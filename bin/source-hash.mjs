// Hashes of source trees, for the compile-when-changed steps: the `veza` command runs build/ only
// while its recorded hash matches src/, and `npm start` rebuilds build/ and web/dist only when theirs
// changed (scripts/build-server-if-changed.mjs, scripts/build-web-if-changed.mjs).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Every file under `dir` (folders named in `skip` left out), sorted, as paths relative to it. */
export function sourceFiles(dir, skip = [], prefix = '') {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .filter((e) => !skip.includes(e.name))
    .flatMap((e) => (e.isDirectory() ? sourceFiles(dir, skip, path.join(prefix, e.name)) : [path.join(prefix, e.name)]))
    .sort();
}

/** SHA-256 over each file's path (relative to `base`) and content, in the order given. */
export function hashFiles(base, files) {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(`${file}\n`);
    hash.update(readFileSync(path.join(base, file)));
  }
  return hash.digest('hex');
}

export function sourceHash(srcDir) {
  return hashFiles(srcDir, sourceFiles(srcDir));
}
