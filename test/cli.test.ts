import { afterAll, describe, expect, it } from 'vitest';
import { runVeza, spawnServer } from './helpers/process.js';
import { createTestDatabase, postgresAvailable, REDIS_URL, redisAvailable, redisPrefix, tempDir } from './helpers/services.js';

const [hasPostgres, hasRedis] = await Promise.all([postgresAvailable(), redisAvailable()]);
const data = tempDir('cli');
afterAll(() => data.remove());

describe('veza serve on the embedded default', () => {
  it('boots on port 0, reports PGlite and the memory bus, accepts a CLI token, and exits 0 on SIGTERM', async () => {
    const server = await spawnServer(['--data-dir', data.dir]);
    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', uws: 'native', storage: 'pglite', bus: 'memory' });
    expect(server.logs.find((l) => String(l.msg).startsWith('veza listening'))).toMatchObject({ uws: 'native' });

    const token = await runVeza(['token', '--sub', 'alice', '--doc', 'song-1', '--role', 'owner', '--data-dir', data.dir]);
    expect(token.code).toBe(0);
    const me = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ userId: 'alice', tenantId: 'default', docs: { 'song-1': 'owner' } });

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.logs.map((l) => l.msg)).toContain('stopped');
  });

  it('exits 0 on SIGINT too, and reopens the same data directory', async () => {
    const server = await spawnServer(['--data-dir', data.dir]);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    server.child.kill('SIGINT');
    expect((await server.exited).code).toBe(0);
  });
});

describe('bad configuration', () => {
  it('stops with a message naming the variable', async () => {
    const result = await runVeza(['serve', '--data-dir', data.dir], { VEZA_PORT: 'eighty' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('VEZA_PORT="eighty"');
  });

  it('stops with a message naming the flag, and on unknown flags', async () => {
    const bad = await runVeza(['serve', '--max-body-bytes=-5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-body-bytes="-5"');
    const unknown = await runVeza(['serve', '--colour', 'red']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/colour/);
  });

  it('refuses token requests it cannot honour', async () => {
    const noSub = await runVeza(['token', '--data-dir', data.dir]);
    expect(noSub.code).toBe(2);
    expect(noSub.stderr).toContain('--sub');
    const badRole = await runVeza(['token', '--sub', 'a', '--doc', 'd', '--role', 'admin', '--data-dir', data.dir]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain('--role must be one of owner, editor, viewer');
  });
});

describe.skipIf(!hasPostgres || !hasRedis)('veza serve on PostgreSQL and Redis', () => {
  it('reports postgres and redis, and exits 0 on SIGTERM', async () => {
    const db = await createTestDatabase();
    try {
      const server = await spawnServer(['--data-dir', data.dir], { DATABASE_URL: db.url, REDIS_URL, VEZA_EVENTS_STREAM: redisPrefix('cli') });
      const health = await (await fetch(`${server.url}/healthz`)).json();
      expect(health).toMatchObject({ status: 'ok', storage: 'postgres', bus: 'redis' });
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    } finally {
      await db.drop();
    }
  });
});
