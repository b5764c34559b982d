// Tips on PostgreSQL with the Redis bus and Redis leaderboards: 10,000 retried requests make each
// tip exactly once, the ledger balances, refunds reverse it, and the room and the supporter
// leaderboards follow live.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersModule } from '../../src/consumers/module.js';
import type { VezaEvent } from '../../src/events/catalog.js';
import { gamificationModule } from '../../src/gamification/module.js';
import { seededRandom } from '../../src/shared/random.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { createTestDatabase, postgresAvailable, redisAvailable, REDIS_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const hasPostgres = await postgresAvailable();
const hasRedis = await redisAvailable();

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Body = any;

describe.skipIf(!hasPostgres || !hasRedis)('tips on PostgreSQL and Redis', () => {
  let server: TestNode;
  let db: { url: string; drop: () => Promise<void> };
  let sql: pg.Client;
  const tokens = new Map<string, string>();
  const seen: VezaEvent[] = [];

  const token = async (userId: string, admin = false) => {
    const key = `${userId}${admin ? '+adm' : ''}`;
    if (!tokens.has(key)) tokens.set(key, await server.node.auth.sign({ sub: userId, ...(admin ? { admin: true } : {}) }));
    return tokens.get(key)!;
  };
  const call = async (userId: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(userId, userId === 'ops')}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Body };
  };
  const tip = (from: string, room: string, key: string, body: unknown) => call(from, 'POST', `/api/v1/live/${room}/tips`, body, { 'idempotency-key': key });
  const one = async <T>(query: string, values: unknown[] = []) => (await sql.query(query, values)).rows[0] as T;

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startModules((config) => [gamificationModule, consumersModule({ config })], {
      'database-url': db.url,
      'redis-url': REDIS_URL,
      'events-stream': `veza:test:tips:${randomBytes(4).toString('hex')}`,
      'recs-train-interval-s': '0',
      'rate-limit-requests-per-minute': '0',
      consumers: 'gamification',
    });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    await server.node.bus.subscribe('test-watch', (e) => void seen.push(e), { types: ['tip.sent', 'tip.refunded', 'achievement.unlocked'] });
    const supporter = { title: 'First tip', category: 'supporter', event: 'tip.sent', criteria: { kind: 'count', atLeast: 1 }, points: 100 };
    expect((await call('ops', 'PUT', '/api/v1/gamification/rules/first-tip', supporter)).status).toBe(201);
    const patron = { title: 'Patron', category: 'supporter', event: 'tip.sent', where: { currency: 'EUR' }, criteria: { kind: 'sum', field: 'amount', atLeast: 20_000 }, points: 200 };
    expect((await call('ops', 'PUT', '/api/v1/gamification/rules/patron', patron)).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await sql?.end();
    await server?.stop();
    await db?.drop();
  });

  it('makes each tip once from 10,000 retried requests (1,000 keys × 10, concurrent and shuffled)', async () => {
    const random = seededRandom(7);
    const senders = Array.from({ length: 40 }, (_, i) => `fan-${i}`);
    const creators = ['nova', 'orbit', 'lumen'];
    const intents = Array.from({ length: 1000 }, (_, i) => ({
      key: `k-${i}-${randomBytes(3).toString('hex')}`,
      from: senders[Math.floor(random() * senders.length)]!,
      room: `room-${i % 3}`,
      body: { toUserId: creators[i % 3]!, amount: 100 + Math.floor(random() * 5000), currency: i % 10 === 0 ? 'USD' : 'EUR', message: `#${i}` },
    }));
    const requests = intents.flatMap((intent) => Array.from({ length: 10 }, () => intent));
    for (let i = requests.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [requests[i], requests[j]] = [requests[j]!, requests[i]!];
    }
    const answers = new Map<string, { status: number; tipId: string; replayed: boolean }[]>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 48 }, async () => {
        while (next < requests.length) {
          const r = requests[next++]!;
          const answer = await tip(r.from, r.room, r.key, r.body);
          answers.set(r.key, [...(answers.get(r.key) ?? []), { status: answer.status, tipId: answer.body.tipId, replayed: answer.headers.get('idempotent-replayed') === 'true' }]);
        }
      }),
    );
    expect([...answers.values()].flat().length).toBe(10_000);
    for (const [key, list] of answers) {
      expect(new Set(list.map((a) => a.tipId)).size, key).toBe(1);
      expect(list.filter((a) => a.status === 201).length, key).toBe(1);
      expect(list.filter((a) => a.status === 200 && a.replayed).length, key).toBe(9);
    }
    expect(await one('SELECT count(*)::int AS n FROM tips')).toEqual({ n: 1000 });
    expect(await one("SELECT count(*)::int AS n FROM test_payments WHERE kind = 'charge'")).toEqual({ n: 1000 });
    expect(await one('SELECT count(*)::int AS n, sum(amount_minor)::int AS total FROM ledger_entries')).toEqual({ n: 2000, total: 0 });
    // Every transaction balances on its own, and each creator is owed exactly their tips.
    expect((await sql.query('SELECT transaction_id FROM ledger_entries GROUP BY transaction_id, currency HAVING sum(amount_minor) <> 0')).rows).toEqual([]);
    const balance = (await call('nova', 'GET', '/api/v1/tips/balance')).body;
    const owed = (currency: string) => intents.filter((t) => t.body.toUserId === 'nova' && t.body.currency === currency).reduce((s, t) => s + t.body.amount, 0);
    expect(balance.balances).toEqual([
      { currency: 'EUR', amount: owed('EUR') },
      { currency: 'USD', amount: owed('USD') },
    ]);
    expect(balance.provider).toMatchObject({ name: 'test', testMode: true });

    // The consumer saw 1,000 tips: the supporter boards match the sums, awards went out once each.
    const sums = new Map<string, number>();
    for (const t of intents.filter((t) => t.body.currency === 'EUR')) sums.set(t.from, (sums.get(t.from) ?? 0) + t.body.amount);
    await waitFor(async () => {
      const board = (await call('nova', 'GET', '/api/v1/gamification/leaderboards/tips:EUR?limit=100')).body.entries as Body[];
      return board.length === sums.size && board.every((e) => sums.get(e.member) === e.value);
    }, 'the supporter leaderboard to match the tips', 60_000);
    const board = (await call('nova', 'GET', '/api/v1/gamification/leaderboards/tips:EUR?limit=100')).body.entries as Body[];
    expect(board.map((e) => e.rank)).toEqual(board.map((_, i) => i + 1));
    for (let i = 1; i < board.length; i++) expect(board[i - 1].value).toBeGreaterThanOrEqual(board[i].value);
    await waitFor(() => seen.filter((e) => e.type === 'tip.sent').length >= 1000, '1,000 tip.sent events', 30_000);
    expect(new Set(seen.filter((e) => e.type === 'tip.sent').map((e) => e.id)).size).toBe(1000);
    expect(seen.filter((e) => e.type === 'tip.sent').length).toBe(1000);
    const tippers = new Set(intents.map((t) => t.from));
    const patrons = [...sums].filter(([, total]) => total >= 20_000).map(([from]) => from);
    await waitFor(() => seen.filter((e) => e.type === 'achievement.unlocked').length >= tippers.size + patrons.length, 'the awards', 30_000);
    const unlocked = seen.filter((e) => e.type === 'achievement.unlocked').map((e) => `${e.payload.userId}/${e.payload.achievementId}`);
    expect(unlocked.sort()).toEqual([...[...tippers].map((u) => `${u}/first-tip`), ...patrons.map((u) => `${u}/patron`)].sort());
    const points = await sql.query<{ user_id: string; points: string }>('SELECT user_id, points FROM gam_users ORDER BY user_id');
    expect(Object.fromEntries(points.rows.map((r) => [r.user_id, Number(r.points)]))).toEqual(
      Object.fromEntries([...tippers].sort().map((u) => [u, 100 + (patrons.includes(u) ? 200 : 0)])),
    );
  }, 300_000);

  it('refuses bad tips with the reason, and keeps what was accepted', async () => {
    const good = { toUserId: 'nova', amount: 500, currency: 'EUR' };
    expect(await call('fan-1', 'POST', '/api/v1/live/room-0/tips', good)).toMatchObject({ status: 400, body: { detail: expect.stringMatching(/Idempotency-Key header is required/) } });
    for (const bad of [
      { ...good, amount: 0 },
      { ...good, amount: 12.5 },
      { ...good, amount: 10_000_001 },
      { ...good, currency: 'euro' },
      { ...good, toUserId: 'has space' },
      { ...good, surprise: 1 },
    ]) {
      expect((await tip('fan-1', 'room-0', `bad-${randomBytes(3).toString('hex')}`, bad)).status, JSON.stringify(bad)).toBe(400);
    }
    expect((await tip('fan-1', 'room-0', 'bad-json', '{"toUserId":')).status).toBe(400);
    expect(await tip('nova', 'room-0', 'self', good)).toMatchObject({ status: 422, body: { detail: expect.stringMatching(/someone else/) } });
    const first = await tip('fan-1', 'room-0', 'reused', good);
    expect(first.status).toBe(201);
    expect(await tip('fan-1', 'room-0', 'reused', { ...good, amount: 501 })).toMatchObject({ status: 422, body: { detail: expect.stringMatching(/already used for a different tip/) } });
    expect(await tip('fan-1', 'room-1', 'reused', good)).toMatchObject({ status: 422 });
    // The same key from another sender is another tip.
    expect((await tip('fan-2', 'room-0', 'reused', good)).status).toBe(201);
    expect(await call('fan-1', 'GET', `/api/v1/tips/${first.body.tipId}`)).toMatchObject({ status: 200, body: { amount: 500, status: 'sent', testMode: true } });
    expect((await call('fan-1', 'GET', '/api/v1/tips/balance?user_id=nova')).status).toBe(403);
  });

  it('refunds once (recipient or administrator): the ledger is reversed and the boards go down', async () => {
    const sent = await tip('fan-9', 'room-r', 'to-refund', { toUserId: 'orbit', amount: 2500, currency: 'EUR', message: 'gg' });
    expect(sent.status).toBe(201);
    const id = sent.body.tipId as string;
    await waitFor(async () => (await call('orbit', 'GET', '/api/v1/gamification/leaderboards/tips:EUR?scope=room:room-r')).body.entries.length === 1, 'the room board', 20_000);
    const before = (await call('orbit', 'GET', '/api/v1/tips/balance')).body.balances.find((b: Body) => b.currency === 'EUR').amount;
    expect(await call('fan-8', 'POST', `/api/v1/tips/${id}/refund`, {})).toMatchObject({ status: 403 });
    expect((await call('orbit', 'POST', '/api/v1/tips/tip_nope/refund', {})).status).toBe(404);
    expect((await call('orbit', 'POST', `/api/v1/tips/${id}/refund`, { reason: 7 })).status).toBe(400);
    const refunded = await Promise.all([1, 2, 3].map(() => call('orbit', 'POST', `/api/v1/tips/${id}/refund`, { reason: 'duplicate' })));
    expect(refunded.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(refunded.filter((r) => r.headers.get('idempotent-replayed') === 'true').length).toBe(2);
    expect(refunded[0]!.body).toMatchObject({ tipId: id, status: 'refunded' });
    expect((await call('orbit', 'GET', '/api/v1/tips/balance')).body.balances.find((b: Body) => b.currency === 'EUR').amount).toBe(before - 2500);
    expect(await one("SELECT count(*)::int AS n FROM test_payments WHERE kind = 'refund'")).toEqual({ n: 1 });
    expect(await one('SELECT sum(amount_minor)::int AS total FROM ledger_entries')).toEqual({ total: 0 });
    await waitFor(async () => (await call('orbit', 'GET', '/api/v1/gamification/leaderboards/tips:EUR?scope=room:room-r')).body.entries[0]?.value === 0, 'the refund on the room board', 20_000);
    await waitFor(() => seen.some((e) => e.type === 'tip.refunded'), 'tip.refunded', 20_000);
    expect(seen.filter((e) => e.type === 'tip.refunded').map((e) => e.payload)).toEqual([
      { tipId: id, roomId: 'room-r', fromUserId: 'fan-9', toUserId: 'orbit', amount: 2500, currency: 'EUR', reason: 'duplicate' },
    ]);
  });

  it('pushes a room\'s tips live, pinned by amount then time, and a leaderboard as it changes', async () => {
    const open = async (path: string) => {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${await token('viewer')}` } });
      const frames: Body[] = [];
      socket.on('message', (data) => frames.push(JSON.parse(String(data))));
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      return { socket, frames };
    };
    const room = await open('/live/stage/tips');
    const board = await open('/gamification/leaderboards/tips:EUR?scope=room:stage&period=day&limit=5');
    await waitFor(() => room.frames.length === 1 && board.frames.length === 1, 'the snapshots', 5000);
    expect(room.frames[0]).toMatchObject({ type: 'snapshot', roomId: 'stage', pinned: [], recent: [] });
    expect(board.frames[0]).toMatchObject({ type: 'snapshot', entries: [] });
    // 5 EUR pins for 2 minutes, 20 EUR for 10, 2 EUR not at all.
    await tip('fan-1', 'stage', 's1', { toUserId: 'lumen', amount: 500, currency: 'EUR', message: 'first' });
    await tip('fan-2', 'stage', 's2', { toUserId: 'lumen', amount: 2000, currency: 'EUR', message: 'big' });
    await tip('fan-3', 'stage', 's3', { toUserId: 'lumen', amount: 200, currency: 'EUR' });
    await tip('fan-4', 'stage', 's4', { toUserId: 'lumen', amount: 500, currency: 'EUR', message: 'second' });
    await waitFor(() => room.frames.at(-1)?.recent.length === 4, 'the tips in the room', 10_000);
    const last = room.frames.at(-1);
    expect(last.type).toBe('update');
    expect(last.pinned.map((t: Body) => t.message)).toEqual(['big', 'first', 'second']);
    const big = last.pinned[0];
    expect(Date.parse(big.pinnedUntil) - Date.parse(big.createdAt)).toBe(10 * 60_000);
    await waitFor(() => board.frames.at(-1)?.entries.length === 4, 'the room\'s supporter board', 20_000);
    expect(board.frames.at(-1).entries.map((e: Body) => [e.member, e.value])).toEqual([
      ['fan-2', 2000],
      ['fan-1', 500],
      ['fan-4', 500],
      ['fan-3', 200],
    ]);
    room.socket.send('hello');
    await new Promise((resolve) => room.socket.once('close', resolve));
    board.socket.close();
    // Bad subscriptions are refused before the upgrade.
    const refused = await new Promise<number>((resolve, reject) => {
      void token('viewer').then((t) => {
        const socket = new WebSocket(`${server.url.replace('http', 'ws')}/gamification/leaderboards/karma?scope=tenant`, { headers: { authorization: `Bearer ${t}` } });
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => reject(new Error('a bad metric was accepted')));
        socket.on('error', () => undefined);
      });
    });
    expect(refused).toBe(400);
  });
});
