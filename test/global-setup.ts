// Once per test run: an empty embedded database cluster (initdb, what a server does first in a new
// data directory), which in-process test servers copy instead of running initdb each (3 s of
// WebAssembly and a child process per server; copying takes a twentieth of that). The copy is the
// same directory a first start would create, so a test server starts from the state a user's first
// start does: the server's own migrations and imports run as usual.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createPGliteDatabase } from '../src/storage/pglite-open.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** An initdb'd, otherwise empty embedded database directory to copy, or '' when it could not be made. */
    pgliteTemplate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'veza-pglite-template-'));
  const cluster = path.join(dir, 'pglite');
  try {
    await createPGliteDatabase(cluster);
    project.provide('pgliteTemplate', cluster);
  } catch (error) {
    // Servers then create their own, as they would without the template.
    process.stderr.write(`no embedded database template (each test server runs initdb): ${String(error)}\n`);
    project.provide('pgliteTemplate', '');
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
