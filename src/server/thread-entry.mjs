// The start of a background worker thread whose work lives in TypeScript (the event consumers, the
// mastering jobs): it lowers the thread's priority, then runs the `worker-main` beside its entry file,
// the compiled copy under build/ (worker-main.js) or, in src/, the sources through tsx (as the
// server's own entry does). Plain JavaScript so that it starts the same way under node, tsx and vitest.
import { existsSync } from 'node:fs';
import { lowerThreadPriority } from './thread-priority.mjs';

/**
 * @param {string} entryUrl the entry file's `import.meta.url`; worker-main.js or .ts sits beside it
 * @param {number} nice the thread's nice value (see lowerThreadPriority)
 */
export async function runWorkerMain(entryUrl, nice) {
  lowerThreadPriority(nice);
  const compiled = new URL('./worker-main.js', entryUrl);
  if (existsSync(compiled)) {
    await import(compiled.href);
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    await import(new URL('./worker-main.ts', entryUrl).href);
  }
}
