// The mastering jobs' thread (thread-entry.mjs: the compiled worker-main.js, or the sources through tsx).
import { runWorkerMain } from '../server/thread-entry.mjs';

// A side module's work waits whenever the realtime path needs the CPU (nice 10); the ffmpeg runs this
// thread starts inherit it.
await runWorkerMain(import.meta.url, 10);
