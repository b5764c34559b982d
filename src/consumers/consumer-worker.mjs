// The event consumers' thread (thread-entry.mjs: the compiled worker-main.js, or the sources through tsx).
import { runWorkerMain } from '../server/thread-entry.mjs';

// The side modules' work waits whenever the realtime path needs the CPU (nice 10).
await runWorkerMain(import.meta.url, 10);
