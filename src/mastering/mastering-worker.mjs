// The mastering jobs' thread. Under build/ (the compiled copy) it imports worker-main.js; in src/ it
// loads the TypeScript sources through tsx (as the server's own entry does), then runs worker-main.ts.
// Plain JavaScript so that it starts the same way under node, tsx and vitest.
import { existsSync } from 'node:fs';
import { lowerThreadPriority } from '../server/thread-priority.mjs';

// A side module's work waits whenever the realtime path needs the CPU (nice 10); the ffmpeg runs this
// thread starts inherit it.
lowerThreadPriority(10);
const compiled = new URL('./worker-main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./worker-main.ts');
}
