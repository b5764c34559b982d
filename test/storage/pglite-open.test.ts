// Creating the embedded database apart (pglite-open.mjs): what it refuses and when it does nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPGliteDatabase, pgliteStartParams } from '../../src/storage/pglite-open.mjs';
import { tempDir } from '../helpers/services.js';

const data = tempDir('pglite-open');
afterAll(() => data.remove());

describe('creating the embedded database in its own process', () => {
  it('leaves a directory that already holds a database alone', async () => {
    const dir = path.join(data.dir, 'existing');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'PG_VERSION'), '17\n');
    expect(await createPGliteDatabase(dir)).toBe(false);
  });

  it('fails with the reason when the directory cannot be created', { timeout: 60_000 }, async () => {
    const file = path.join(data.dir, 'a-file');
    writeFileSync(file, 'not a directory');
    await expect(createPGliteDatabase(path.join(file, 'pglite'))).rejects.toThrow(/creating the embedded database in .*a-file\/pglite failed \(exit code 1\): \S/);
  });

  it('sizes the page cache from the setting, on top of PGlite\'s own parameters', () => {
    const params = pgliteStartParams({ sharedBuffersMb: 24 });
    expect(params.slice(-2)).toEqual(['-c', 'shared_buffers=24MB']);
    expect(params).toContain('--single');
  });
});
