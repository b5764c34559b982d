// One process at a time on an embedded database: a second one is refused with who holds it, and a
// directory left by a process that died is taken over.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Storage } from '../../src/storage/database.js';
import { DatabaseInUseError, lockDirectory } from '../../src/storage/directory-lock.js';
import { runVeza, spawnServer } from '../helpers/process.js';
import { tempDir } from '../helpers/services.js';

const dirs: { remove(): void }[] = [];
afterAll(() => dirs.forEach((d) => d.remove()));

describe('the embedded database, one process at a time', () => {
  it('refuses a command while a server runs on the directory, naming the server\'s process, and works once it stopped', { timeout: 90_000 }, async () => {
    const data = tempDir('lock');
    dirs.push(data);
    const server = await spawnServer(['--data-dir', data.dir]);
    try {
      const refused = await runVeza(['migrate', '--data-dir', data.dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`is open in process ${server.child.pid} (a running veza serve?)`);
      // The tenant commands go through the running server instead (its URL recorded in the data directory).
      const through = await runVeza(['tenant', 'list', '--data-dir', data.dir]);
      expect(through.code).toBe(0);
      expect(JSON.parse(through.stdout)).toMatchObject({ tenants: [{ id: 'default', status: 'active' }] });
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    expect(existsSync(path.join(data.dir, 'pglite', 'owner.pid'))).toBe(false);
    expect(existsSync(path.join(data.dir, 'server.json'))).toBe(false);
    const listed = await runVeza(['tenant', 'list', '--data-dir', data.dir]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ tenants: [{ id: 'default', status: 'active' }] });
  });

  it('takes over a directory whose owner died, and gives it back on close', async () => {
    const data = tempDir('lock-stale');
    dirs.push(data);
    mkdirSync(path.join(data.dir, 'pglite'), { recursive: true });
    // The pid of a process that has exited.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const owner = path.join(data.dir, 'pglite', 'owner.pid');
    writeFileSync(owner, gone);
    const storage = await Storage.open({ dataDir: data.dir, thread: false });
    expect(readFileSync(owner, 'utf8')).toBe(String(process.pid));
    await storage.close();
    expect(existsSync(owner)).toBe(false);
  });

  it('refuses a live owner other than this process, with its pid', () => {
    const data = tempDir('lock-live');
    dirs.push(data);
    mkdirSync(data.dir, { recursive: true });
    writeFileSync(path.join(data.dir, 'owner.pid'), String(process.ppid));
    expect(() => lockDirectory(data.dir)).toThrow(new DatabaseInUseError(data.dir, process.ppid));
  });
});
