// Worker threads that do background work (the storage worker, the event consumers) give way to the
// main thread when the cores are busy: what they do can wait a moment, the main thread's forwarding
// of updates cannot. Plain JavaScript, imported by the workers' plain-JavaScript entries.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Raises the calling thread's nice value (Linux: a thread's id comes from /proc/thread-self).
 * Elsewhere, or where it is not allowed, the thread keeps the main thread's priority.
 * @param {number} nice 1 (a little below the main thread) to 19 (only when nothing else runs)
 */
export function lowerThreadPriority(nice) {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), nice);
    return true;
  } catch {
    return false;
  }
}
