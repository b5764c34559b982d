// One process at a time on an embedded database: PGlite takes no lock of its own, and two processes
// writing one directory corrupt it. The owner's pid is kept in a file beside the database; a second
// process is refused with who holds it, and a file left by a process that died is taken over.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export class DatabaseInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the embedded database in ${dir} is open in process ${pid} (a running veza serve?): stop it first, or go through its HTTP API`);
    this.name = 'DatabaseInUseError';
  }
}

/** Opens of each directory in this process (a server and its tests may share one). */
const held = new Map<string, number>();

/** Whether a process of this pid runs (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the directory for this process; returns the release. Throws DatabaseInUseError when another live process holds it. */
export function lockDirectory(dir: string): () => void {
  const file = path.join(dir, 'owner.pid');
  const count = held.get(file) ?? 0;
  if (count === 0) {
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
        const owner = Number(readFileSync(file, 'utf8').trim());
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) throw new DatabaseInUseError(dir, owner);
        // Left by a process that is gone (or by this one, before a crash of its own): take it over.
        unlinkSync(file);
      }
    }
  }
  held.set(file, count + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (held.get(file) ?? 1) - 1;
    if (left > 0) return void held.set(file, left);
    held.delete(file);
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  };
}
