import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { runVeza, spawnServer, type ServerProcess } from '../helpers/process.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';
import { catalog, history, ndjson, sceneOf } from './fixtures.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('veza recommend train', () => {
  const data = tempDir('recs-cli');
  let db: { url: string; drop: () => Promise<void> };
  let server: ServerProcess;
  const common = () => ['--data-dir', data.dir, '--database-url', db.url];

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await spawnServer([...common(), '--recs-reload-interval-ms', '100', '--recs-train-interval-s', '0']);
  }, 60_000);
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await db?.drop();
    data.remove();
  });

  it('refuses a tenant with nothing to learn from, then trains with progress and the running server serves the new version', async () => {
    const empty = await runVeza(['recommend', 'train', ...common()]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('tenant default has no interactions to train on');

    const admin = (await runVeza(['token', '--sub', 'ops', '--admin', '--data-dir', data.dir])).stdout.trim();
    const listener = (await runVeza(['token', '--sub', 'jazz-fan-4', '--data-dir', data.dir])).stdout.trim();
    const load = await fetch(`${server.url}/api/v1/interactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' },
      body: ndjson([...catalog(), ...history(10)]),
    });
    expect(load.status).toBe(200);
    const notAdmin = await fetch(`${server.url}/api/v1/interactions`, { method: 'POST', headers: { authorization: `Bearer ${listener}`, 'content-type': 'application/x-ndjson' }, body: '{}' });
    expect(notAdmin.status).toBe(403);

    const trained = await runVeza(['recommend', 'train', ...common()]);
    expect(trained.code, trained.stderr).toBe(0);
    const summary = JSON.parse(trained.stdout) as { tenant: string; version: string; users: number; items: number };
    expect(summary).toMatchObject({ tenant: 'default', users: 30, items: 72 });
    // Not a terminal: one progress line per step, ending at 100 %.
    const lines = trained.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^\[\.+\]\s+0% loading/);
    expect(lines.some((l) => /tuning: λ 10: NDCG@10/.test(l))).toBe(true);
    expect(lines.some((l) => /training: iteration 15\/15 \(loss/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^\[#{30}\] 100% done: model .* ready$/);

    const answer = await waitFor(async () => {
      const body = (await (await fetch(`${server.url}/api/v1/recommendations`, { headers: { authorization: `Bearer ${listener}` } })).json()) as {
        modelVersion: string | null;
        tracks: { id: string }[];
      };
      return body.modelVersion === summary.version ? body : undefined;
    }, 'the server to serve the version the CLI trained');
    expect(answer.tracks.slice(0, 5).map((t) => sceneOf(t.id))).toEqual(Array(5).fill('jazz'));
  }, 120_000);

  it('explains its usage', async () => {
    const result = await runVeza(['recommend', 'fit', ...common()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage: veza recommend train [--tenant T]');
  });
});
