// The hash of the server's TypeScript sources (src/), which a compiled copy in build/ records: the
// `veza` command runs build/ only while it matches, else the sources through tsx.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Every file under `dir`, sorted, as paths relative to it. */
export function sourceFiles(dir, prefix = '') {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sourceFiles(dir, path.join(prefix, e.name)) : [path.join(prefix, e.name)]))
    .sort();
}

export function sourceHash(srcDir) {
  const hash = createHash('sha256');
  for (const file of sourceFiles(srcDir)) {
    hash.update(`${file}\n`);
    hash.update(readFileSync(path.join(srcDir, file)));
  }
  return hash.digest('hex');
}
