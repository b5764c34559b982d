// A module started alone on the core: its routes and checks are there, and nothing of the modules
// not listed is (their HTTP routes and WebSocket paths answer 404).
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersModule } from '../../src/consumers/module.js';
import { gamificationModule } from '../../src/gamification/module.js';
import { insightsModule } from '../../src/insights/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';

describe('gamification started alone, with its consumer', () => {
  let server: TestNode;
  let token: string;

  beforeAll(async () => {
    server = await startModules((config) => [gamificationModule, consumersModule({ config })], { consumers: 'gamification' });
    token = await server.node.auth.sign({ sub: 'ann' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const get = (path: string) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('answers its health, with only the core\'s checks and its consumer\'s', async () => {
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(((await health.json()) as { consumers: unknown }).consumers).toMatchObject({ consumers: ['gamification'] });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(Object.keys(((await ready.json()) as { checks: object }).checks)).toEqual(['storage', 'bus', 'consumers']);
  });

  it('serves the gamification routes and none of another module\'s', async () => {
    expect((await get('/api/v1/gamification/leaderboards/points')).status).toBe(200);
    expect(server.node.modules.has(insightsModule)).toBe(false);
    const insights = await get('/api/v1/insights?creator_id=ann');
    expect(insights.status).toBe(404);
    expect(((await insights.json()) as { detail: string }).detail).toMatch(/no route for GET \/api\/v1\/insights/);
    expect((await get('/api/v1/recommendations')).status).toBe(404);
  });

  it('refuses the WebSocket paths of modules not started', async () => {
    const upgrade = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${server.url.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${token}` } });
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => reject(new Error(`${path} was opened`)));
        socket.on('error', () => undefined);
      });
    expect(await upgrade('/collab/song-1')).toBe(404);
    expect(await upgrade('/insights/live/ann')).toBe(404);
  });
});
