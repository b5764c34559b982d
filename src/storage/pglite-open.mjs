// Opens the embedded database with its memory sized for one machine. PGlite's WASM memory only grows:
// creating a database (initdb, then a first start) leaves a fresh process holding several hundred
// MB that a reopened one never touches, and even a thread that did it and ended leaves its freed
// memory with the allocator. So a data directory without a database is created by a short-lived
// process, whose memory goes back to the system when it exits, and this thread then opens the
// result as a restart would. Plain JavaScript: the storage worker imports it with no loader.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/**
 * PostgreSQL's memory settings for the embedded database, on top of PGlite's own start parameters.
 * @param {{ sharedBuffersMb: number }} sizes
 * @returns {string[]}
 */
export function pgliteStartParams(sizes) {
  return [...PGlite.defaultStartParams, '-c', `shared_buffers=${sizes.sharedBuffersMb}MB`];
}

/**
 * Creates the database in `dir` when there is none, in a process of its own, and resolves once
 * that process has exited.
 * @param {string} dir
 * @returns {Promise<boolean>} whether it was created now
 */
export async function createPGliteDatabase(dir) {
  if (existsSync(path.join(dir, 'PG_VERSION'))) return false;
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./pglite-create.mjs', import.meta.url)), dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve(undefined) : reject(new Error(`creating the embedded database in ${dir} failed (${signal ?? `exit code ${code}`}): ${stderr.trim()}`))));
  });
  return true;
}

/**
 * The embedded database in `dir`, created first if needed (see above), started with `startParams`.
 * @param {string} dir
 * @param {string[]} startParams
 * @returns {Promise<PGlite>}
 */
export async function openPGlite(dir, startParams) {
  await createPGliteDatabase(dir);
  const pglite = new PGlite(dir, { startParams });
  await pglite.waitReady;
  return pglite;
}
