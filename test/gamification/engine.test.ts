// The rules engine through the server on the embedded default (PGlite, in-process bus, in-memory
// leaderboards): rules defined over the API, events through the bus, awards exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersModule } from '../../src/consumers/module.js';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import type { LinkedBus } from '../../src/events/linked-bus.js';
import { gamificationModule } from '../../src/gamification/module.js';
import type { GamificationService } from '../../src/gamification/service.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { waitFor } from '../helpers/wait.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

describe('achievements, levels and quests on the embedded default', () => {
  let server: TestNode;
  let gamification: GamificationService;
  let admin: string;
  let user: string;
  const seen: VezaEvent[] = [];
  const T0 = Date.parse('2026-11-02T10:00:00Z');

  const call = async (method: string, path: string, body?: unknown, token = admin) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const play = (userId: string, minutes: number, id?: string) =>
    createEvent('track.played', { tenantId: 'default', actor: userId, at: new Date(T0 + minutes * 60_000), payload: { trackId: 'song-1' }, ...(id ? { id } : {}) });
  const standing = async (userId: string) => (await call('GET', `/api/v1/gamification/users/${userId}`)).body;

  beforeAll(async () => {
    server = await startModules((config) => [gamificationModule, consumersModule({ config })], { 'recs-train-interval-s': '0', 'rate-limit-requests-per-minute': '0', consumers: 'gamification' });
    gamification = server.node.modules.api(gamificationModule);
    admin = await server.node.auth.sign({ sub: 'ops', admin: true });
    user = await server.node.auth.sign({ sub: 'ann' });
    await server.node.bus.subscribe('test-watch', (e) => void seen.push(e), { types: ['achievement.unlocked', 'level.up', 'quest.completed'] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses bad rules and non-administrators with clear errors', async () => {
    const rule = { title: 'Listener', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 3 }, points: 150 };
    expect(await call('PUT', '/api/v1/gamification/rules/listener', rule, user)).toMatchObject({ status: 403, body: { detail: expect.stringMatching(/tenant administrator/) } });
    expect(await call('PUT', '/api/v1/gamification/rules/listener', { ...rule, criteria: { kind: 'sum', field: 'trackId', atLeast: 3 } })).toMatchObject({
      status: 400,
      body: { detail: expect.stringMatching(/trackId is not a number field of track.played/) },
    });
    expect((await call('PUT', '/api/v1/gamification/rules/Bad Id', rule)).status).toBe(400);
    expect((await call('GET', '/api/v1/gamification/rules/none')).status).toBe(404);
  });

  it('awards once when the criteria are met, with points, a level, and events; redelivery and concurrent copies change nothing', async () => {
    const rule = { title: 'Listener', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 3 }, points: 150 };
    expect(await call('PUT', '/api/v1/gamification/rules/listener', rule)).toMatchObject({ status: 201, body: { version: 1 } });
    const events = [play('ann', 0), play('ann', 1), play('ann', 2), play('ann', 3)];
    // Every event three times: once through the bus, twice more straight to the engine at once.
    for (const e of events) await server.node.bus.publish(e);
    await Promise.all(events.flatMap((e) => [gamification.engine.handle(e), gamification.engine.handle(e)]));
    await waitFor(async () => (await standing('ann')).points === 150, 'the award', 10_000);
    const ann = await standing('ann');
    expect(ann).toMatchObject({ userId: 'ann', points: 150, level: 2, nextLevelAt: 300 });
    expect(ann.achievements).toEqual([expect.objectContaining({ achievementId: 'listener', points: 150, version: 1, category: 'listener', awardedAt: new Date(T0 + 2 * 60_000).toISOString() })]);
    await waitFor(() => seen.filter((e) => e.type === 'level.up').length === 1, 'level.up', 5000);
    expect(seen.filter((e) => e.type === 'achievement.unlocked').map((e) => e.payload)).toEqual([expect.objectContaining({ userId: 'ann', achievementId: 'listener', points: 150 })]);
    expect(seen.find((e) => e.type === 'level.up')!.payload).toEqual({ userId: 'ann', level: 2, points: 150 });
    // The leaderboards counted the award once, on the tenant and the platform boards (once the
    // consumers, on their thread, have handled the bus's copies too).
    await (server.node.bus as LinkedBus).idle();
    expect((await call('GET', '/api/v1/gamification/leaderboards/points?period=all')).body.entries).toEqual([{ rank: 1, member: 'ann', value: 150 }]);
    expect((await call('GET', '/api/v1/gamification/leaderboards/points?scope=global&around=ann', undefined, user)).body).toMatchObject({ entry: { rank: 1, member: 'default/ann', value: 150 } });
  });

  it('never awards again after a rule changes; a new threshold keeps the progress of what it counts', async () => {
    // Version 2 asks for 5 plays: ann has it already and keeps it (and is not paid twice).
    expect(await call('PUT', '/api/v1/gamification/rules/listener', { title: 'Keen listener', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 5 }, points: 300 })).toMatchObject({
      status: 200,
      body: { version: 2 },
    });
    // bob played 3 times under version 1's threshold... of 4: no award yet.
    await call('PUT', '/api/v1/gamification/rules/marathon', { title: 'Marathon', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 4 }, points: 10 });
    for (const m of [10, 11, 12]) await server.node.bus.publish(play('bob', m));
    await waitFor(async () => (await standing('bob')).progress.find((p: Body) => p.achievementId === 'marathon')?.current === 3, 'bob\'s progress', 5000);
    // Raising marathon's bar to 5 keeps bob's 3; two more plays reach it.
    await call('PUT', '/api/v1/gamification/rules/marathon', { title: 'Marathon', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 5 }, points: 10 });
    expect((await standing('bob')).progress.find((p: Body) => p.achievementId === 'marathon')).toMatchObject({ current: 3, goal: 5 });
    for (const m of [13, 14]) await server.node.bus.publish(play('bob', m));
    await server.node.bus.publish(play('ann', 20));
    await waitFor(async () => (await standing('bob')).achievements.length === 2, 'bob\'s awards', 5000);
    const bob = await standing('bob');
    expect(bob.achievements.map((a: Body) => [a.achievementId, a.version, a.points])).toEqual([
      ['listener', 2, 300],
      ['marathon', 2, 10],
    ]);
    expect(bob.points).toBe(310);
    const ann = await standing('ann');
    expect(ann.achievements.map((a: Body) => [a.achievementId, a.version])).toEqual([['listener', 1]]);
    expect(ann.points).toBe(150);
  });

  it('completes a quest once, at its goal, and rewards who contributed', async () => {
    const quest = {
      title: 'Share week',
      event: 'track.shared',
      goal: 5,
      startsAt: new Date(T0).toISOString(),
      endsAt: new Date(T0 + 7 * 86_400_000).toISOString(),
      reward: { points: 25, minContribution: 2 },
    };
    expect((await call('PUT', '/api/v1/gamification/quests/share-week', quest, user)).status).toBe(403);
    expect(await call('PUT', '/api/v1/gamification/quests/share-week', { ...quest, goal: 0 })).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/goal/) } });
    expect((await call('PUT', '/api/v1/gamification/quests/share-week', quest)).status).toBe(201);
    expect((await call('PUT', '/api/v1/gamification/quests/share-week', quest)).status).toBe(409);
    const share = (userId: string, minutes: number) => createEvent('track.shared', { tenantId: 'default', actor: userId, at: new Date(T0 + minutes * 60_000), payload: { trackId: 'song-1' } });
    // Before the start: not counted. cy 3, dee 1, eve 1 (reaches 5), then eve again after completion.
    // Applied in order, then delivered again through the bus (which changes nothing).
    const shares = [share('cy', -5), share('cy', 1), share('dee', 2), share('cy', 3), share('cy', 4), share('eve', 5), share('eve', 6)];
    for (const e of shares) await gamification.engine.handle(e);
    for (const e of shares) await server.node.bus.publish(e);
    await waitFor(() => seen.some((e) => e.type === 'quest.completed'), 'quest.completed', 10_000);
    const q = (await call('GET', '/api/v1/gamification/quests/share-week', undefined, user)).body;
    expect(q).toMatchObject({ questId: 'share-week', progress: 5, goal: 5, contributors: 3 });
    expect(q.completedAt).not.toBeNull();
    expect(seen.filter((e) => e.type === 'quest.completed').map((e) => e.payload)).toEqual([{ questId: 'share-week', goal: 5, progress: 5, contributors: 3, rewarded: 1 }]);
    // Only cy gave the minimum of 2.
    expect((await standing('cy')).achievements.map((a: Body) => a.achievementId)).toEqual(['quest:share-week']);
    expect((await standing('cy')).points).toBe(25);
    expect((await standing('dee')).points).toBe(0);
    expect((await standing('cy')).quests).toEqual([expect.objectContaining({ questId: 'share-week', contribution: 3, progress: 5, goal: 5 })]);
  });
});
