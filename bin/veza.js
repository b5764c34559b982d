#!/usr/bin/env node
// The `veza` command. It runs build/ (the sources compiled 1:1 by scripts/build-server-if-changed.mjs,
// which `npm start` runs) while that copy matches src/, and otherwise the TypeScript sources through
// tsx's loader: no build step to forget, and a fast start when there was one.
import { existsSync, readFileSync } from 'node:fs';
import { sourceHash } from './source-hash.mjs';

const root = new URL('..', import.meta.url);
const stamp = new URL('build/.source-hash', root);

function compiledIsCurrent() {
  if (process.env.VEZA_FROM_SOURCE === '1' || !existsSync(stamp)) return false;
  return readFileSync(stamp, 'utf8').trim() === sourceHash(new URL('src', root).pathname);
}

if (compiledIsCurrent()) {
  await import(new URL('build/cli.js', root).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
