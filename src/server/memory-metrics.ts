// Where the process's memory is, beside prom-client's process figures (veza_process_resident_memory_bytes,
// veza_nodejs_heap_size_*, which are the main thread's): each thread's JavaScript heap and the embedded
// database's WASM memory, which lives on the storage thread and never shrinks. Read when scraped.
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { Gauge, type Registry } from 'prom-client';
import type { Storage } from '../storage/database.js';

export function registerMemoryMetrics(registry: Registry, storage: Storage): void {
  new Gauge({
    name: 'veza_thread_heap_used_bytes',
    help: 'JavaScript heap in use, by thread (main, storage)',
    labelNames: ['thread'],
    registers: [registry],
    async collect() {
      this.set({ thread: 'main' }, getHeapStatistics().used_heap_size);
      const memory = await storage.memory().catch(() => null);
      if (memory) this.set({ thread: 'storage' }, memory.heapUsedBytes);
    },
  });
  new Gauge({
    name: 'veza_process_peak_resident_memory_bytes',
    help: 'The most resident memory the process has held since it started (VmHWM)',
    registers: [registry],
    collect() {
      const peak = peakResidentBytes();
      if (peak !== null) this.set(peak);
    },
  });
  if (storage.kind !== 'pglite') return;
  new Gauge({
    name: 'veza_storage_wasm_memory_bytes',
    help: "The embedded database's WASM memory (PGlite)",
    registers: [registry],
    async collect() {
      const memory = await storage.memory().catch(() => null);
      if (memory?.wasmBytes != null) this.set(memory.wasmBytes);
    },
  });
}

/** VmHWM from /proc (Linux); null elsewhere. */
export function peakResidentBytes(): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}
