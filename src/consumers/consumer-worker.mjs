// The event consumers' thread: loads the TypeScript sources through tsx (as the server's own entry
// does), then runs worker-main.ts. Plain JavaScript so that it starts the same way under node, tsx
// and vitest.
import { register } from 'tsx/esm/api';
import { lowerThreadPriority } from '../server/thread-priority.mjs';

// The side modules' work waits whenever the realtime path needs the CPU (nice 10).
lowerThreadPriority(10);
register();
await import('./worker-main.ts');
