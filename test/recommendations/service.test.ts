import http from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersModule } from '../../src/consumers/module.js';
import { eventsModule } from '../../src/events/module.js';
import { recommendationsModule } from '../../src/recommendations/module.js';
import { strongEtag, variantEtag } from '../../src/server/compression.js';
import { recommendWithModel } from '../../src/recommendations/recommend.js';
import { ServingModel } from '../../src/recommendations/serving.js';
import { trainTenant, type TrainingProgress } from '../../src/recommendations/trainer.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { catalog, history, ndjson, sceneOf } from './fixtures.js';

const hasPostgres = await postgresAvailable();

interface Item {
  id: string;
  kind: string;
  title: string | null;
  artistId: string | null;
  score: number;
  reason: string;
}
interface Answer {
  source: string;
  modelVersion: string | null;
  confidence: number;
  tracks: Item[];
  samples: Item[];
  artists: { id: string; score: number; reason: string }[];
  playlists: { id: string; title: string; reason: string; tracks: Item[] }[];
  collaborators: { userId: string; score: number; taste: number; complementarity: number; reason: string }[];
  experiments: { id: string; variant: string }[];
}

describe.skipIf(!hasPostgres)('recommendations on PostgreSQL: ingestion, training, serving, experiments', () => {
  let server: TestNode;
  let db: { url: string; drop: () => Promise<void> };
  let adminToken: string;
  const tokens = new Map<string, string>();

  const token = async (user: string) => {
    if (!tokens.has(user)) tokens.set(user, await server.node.auth.sign({ sub: user }));
    return tokens.get(user)!;
  };
  const get = async (query: string, as: string | null = null) => {
    const res = await fetch(`${server.url}/api/v1/recommendations${query}`, { headers: { authorization: `Bearer ${as === null ? adminToken : await token(as)}` } });
    return { status: res.status, body: (await res.json()) as Answer & { detail?: string } };
  };
  const post = async (path: string, body: string, type = 'application/json', auth = adminToken) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': type }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { detail?: string } };
  };
  const train = async () => {
    const started = await post('/api/v1/recommendations/train', '');
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    await waitFor(async () => {
      const job = (await (await fetch(`${server.url}/api/v1/recommendations/jobs/${id}`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { status: string };
      return job.status !== 'running';
    }, 'the training job', 60_000);
    return (await (await fetch(`${server.url}/api/v1/recommendations/jobs/${id}`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as {
      status: string;
      progress: TrainingProgress;
      result: { version: string; summary: Record<string, number> } | null;
      error: string | null;
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    // The events API takes the likes that are the experiment's outcomes (POST /api/v1/events).
    server = await startModules((config) => [eventsModule, recommendationsModule, consumersModule({ config })], {
      'database-url': db.url,
      'recs-train-interval-s': '0',
      'recs-precompute-users': '1000',
      'recs-reload-interval-ms': '100',
      'rate-limit-requests-per-minute': '0',
      consumers: 'recommendations',
    });
    adminToken = await server.node.auth.sign({ sub: 'ops', admin: true });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it('serves popularity before any model exists, with low confidence', async () => {
    const load = await post('/api/v1/interactions', ndjson([...catalog(), ...history(12)]), 'application/x-ndjson');
    expect(load.status).toBe(200);
    expect(load.body).toMatchObject({ rejected: 0, errors: [] });
    expect((load.body.counts as { items: number }).items).toBe(72);

    const { status, body } = await get('?user_id=house-fan-0');
    expect(status).toBe(200);
    expect(body).toMatchObject({ source: 'popularity', modelVersion: null, confidence: 0.1 });
    expect(body.tracks.length).toBeGreaterThan(0);
    expect(body.tracks[0]!.reason).toMatch(/no model is trained yet/);
    expect((await fetch(`${server.url}/api/v1/recommendations/model`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(404);
  });

  it('trains as a job with progress, and then recommends within the listener\'s scene with reasons', async () => {
    const job = await train();
    expect(job.status).toBe('finished');
    expect(job.progress).toMatchObject({ phase: 'done', fraction: 1 });
    expect(job.result!.summary).toMatchObject({ users: 36, items: 72, coldItems: 0 });

    for (const user of ['house-fan-0', 'jazz-fan-3', 'metal-fan-7']) {
      const { status, body } = await get('', user);
      expect(status).toBe(200);
      expect(body.source).toBe('model');
      expect(body.modelVersion).toBe(job.result!.version);
      expect(body.confidence).toBeGreaterThan(0.5);
      // 20 scene tracks, 8 heard: the unheard ones of the listener's own scene come first (a track
      // few fans played may trail, with a score near zero).
      const scene = user.split('-')[0];
      expect(body.tracks.slice(0, 10).map((t) => sceneOf(t.id))).toEqual(Array(10).fill(scene));
      expect(body.tracks.filter((t) => sceneOf(t.id) === scene).length).toBeGreaterThanOrEqual(11);
      expect(body.tracks.every((t) => t.kind === 'track' && t.reason.length > 0)).toBe(true);
      expect(body.tracks.some((t) => t.reason.startsWith('because you played'))).toBe(true);
      // Nothing the listener already has comes back.
      const heard = new Set((history(12) as { userId?: string; itemId?: string }[]).filter((r) => r.userId === user).map((r) => r.itemId));
      expect(body.tracks.filter((t) => heard.has(t.id))).toEqual([]);
      // Samples are from the scene too; artists are ones they have not played.
      expect(body.samples.map((s) => sceneOf(s.id))[0]).toBe(scene);
      expect(body.samples.every((s) => s.kind === 'sample')).toBe(true);
      for (const artist of body.artists) expect(body.tracks.some((t) => t.artistId === artist.id) || artist.reason.length > 0).toBe(true);
      // Smart playlists: the discovery mix, and "more like" the listener's favourite artists.
      expect(body.playlists[0]!.title).toBe('Discovery mix');
      const moreLike = body.playlists.filter((p) => p.title.startsWith('More like '));
      expect(moreLike.length).toBe(2);
      for (const p of moreLike) expect(p.tracks.slice(0, 10).every((t) => sceneOf(t.id) === scene)).toBe(true);
    }
  }, 90_000);

  it('filters by kind, tag and artist, and production asks for samples first', async () => {
    const byTag = await get('?filters=tag:jazz', 'house-fan-1');
    expect(byTag.body.tracks.length).toBeGreaterThan(0);
    expect(byTag.body.tracks.every((t) => sceneOf(t.id) === 'jazz')).toBe(true);
    const byArtist = await get('?filters=artist:metal-artist-2,artist:metal-artist-3', 'house-fan-1');
    expect(new Set(byArtist.body.tracks.map((t) => t.artistId))).toEqual(new Set(['metal-artist-2', 'metal-artist-3']));
    const production = await get('?context=production&limit=8', 'metal-fan-2');
    expect(production.body.samples.length).toBeGreaterThan(production.body.tracks.length);
    expect(production.body.tracks.length).toBeLessThanOrEqual(5);
    const onlySamples = await get('?filters=kind:sample', 'metal-fan-2');
    expect(onlySamples.body.tracks).toEqual([]);
  });

  it('keeps a listener\'s history between answers and drops it when the bus reports their play', async () => {
    const user = 'jazz-fan-3';
    const played = (await get('', user)).body.tracks[0]!.id;
    const { histories } = server.node.modules.api(recommendationsModule);
    // The first answer reads the history from the database; the next ones come from memory.
    const hits = histories.hits;
    await waitFor(async () => (await get('', user)).body.tracks[0]!.id === played && histories.hits > hits, 'an answer from the cache', 20_000);
    const report = await fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token(user)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'track.played', payload: { trackId: played } }),
    });
    expect(report.status).toBe(202);
    // Once the signals writer has stored it, the next answer no longer offers what was just played.
    await waitFor(async () => !(await get('', user)).body.tracks.some((t) => t.id === played), 'the played track to leave the answer', 20_000);
  });

  it('prepares the version\'s users when it loads: their first answer reads nothing and scores nothing, and is the cold answer', async () => {
    const service = server.node.modules.api(recommendationsModule);
    await service.prepared();
    const user = 'metal-fan-9';
    const { hits, misses } = service.histories;
    const prepared = await service.histories.get('default', user, () => Promise.reject(new Error('prepared users are not read')));
    expect(service.histories).toMatchObject({ hits: hits + 1, misses });
    const model = (await service.load('default'))!;
    const calls = model.scorer.calls;
    const params = { userId: user, context: 'discovery' as const, limit: 20, filters: { kinds: null, tags: null, artists: null }, strategy: 'model' as const };
    const warm = await recommendWithModel(model, prepared, params);
    expect(model.scorer.calls).toBe(calls);
    // A history object nothing was kept on: scored now, the same answer.
    const cold = await recommendWithModel(model, structuredClone(prepared), params);
    expect(model.scorer.calls).toBe(calls + 1);
    expect(warm).toEqual(cold);
    const answer = await get('', user);
    expect(answer.body.tracks.map((t) => t.id)).toEqual(cold.tracks.map((t) => t.id));
  });

  it('sends a prepared user\'s answers as they were kept: the bytes of the answer made now, in every coding, revalidated by one ETag', async () => {
    const service = server.node.modules.api(recommendationsModule);
    await service.prepared();
    const user = 'house-fan-5';
    const model = (await service.load('default'))!;
    const history = await service.histories.get('default', user, () => Promise.reject(new Error('prepared users are not read')));
    const answers = model.userStates.get(history)!.scored.get('')!.answers!;
    expect([...answers.keys()].sort()).toEqual(['collaboration/20', 'discovery/20', 'production/20']);
    const raw = (query: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const url = new URL(`${server.url}/api/v1/recommendations${query}`);
        const request = http.get(url, { headers: { authorization: `Bearer ${adminToken}`, ...headers } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        request.on('error', reject);
      });
    for (const context of ['discovery', 'collaboration', 'production'] as const) {
      const kept = answers.get(`${context}/20`)!;
      // The answer made now, as the route writes an answer it does not keep.
      const made = JSON.stringify(await service.recommend('default', { userId: user, context, limit: 20, filters: { kinds: null, tags: null, artists: null } }));
      const br = await raw(`?user_id=${user}&context=${context}`, { 'accept-encoding': 'br' });
      expect(br).toMatchObject({ status: 200, headers: { 'content-encoding': 'br', etag: variantEtag(strongEtag(made), 'br') } });
      expect(br.body.equals(kept.br)).toBe(true);
      expect(brotliDecompressSync(br.body).toString()).toBe(made);
      const gzipped = await raw(`?user_id=${user}&context=${context}&limit=20`, { 'accept-encoding': 'gzip' });
      expect(gzipped.headers.etag).toBe(variantEtag(strongEtag(made), 'gzip'));
      expect(gunzipSync(gzipped.body).toString()).toBe(made);
      const plain = await raw(`?user_id=${user}&context=${context}`, {});
      expect(plain.headers).toMatchObject({ etag: strongEtag(made), 'content-type': 'application/json; charset=utf-8' });
      expect(plain.body.toString()).toBe(made);
      expect(await raw(`?user_id=${user}&context=${context}`, { 'accept-encoding': 'br', 'if-none-match': br.headers.etag! })).toMatchObject({ status: 304, body: Buffer.alloc(0) });
      expect(answers.get(`${context}/20`)).toBe(kept);
    }
    // Another limit is made, kept, and sent as kept from then on.
    const first = await raw(`?user_id=${user}&limit=7`, { 'accept-encoding': 'br' });
    expect((JSON.parse(brotliDecompressSync(first.body).toString()) as Answer).tracks).toHaveLength(7);
    expect(answers.get('discovery/7')!.br.equals(first.body)).toBe(true);
    expect((await raw(`?user_id=${user}&limit=7`, { 'accept-encoding': 'br' })).body.equals(first.body)).toBe(true);
    // One answer at another limit is kept beside the default ones: the latest.
    await raw(`?user_id=${user}&context=production&limit=9`, { 'accept-encoding': 'br' });
    expect([...answers.keys()].sort()).toEqual(['collaboration/20', 'discovery/20', 'production/20', 'production/9']);
    // With filters the answer is made for the request, and nothing more is kept.
    const filtered = await raw(`?user_id=${user}&filters=tag:house`, { 'accept-encoding': 'br' });
    expect((JSON.parse(brotliDecompressSync(filtered.body).toString()) as Answer).tracks.every((t) => sceneOf(t.id) === 'house')).toBe(true);
    expect(answers.size).toBe(4);
  });

  it('folds in a listener who arrived after training, and gives a new item a vector from its artist', async () => {
    const at = new Date().toISOString();
    const late = [
      { type: 'item', itemId: 'jazz-a1-t9', kind: 'track', artistId: 'jazz-artist-1', title: 'brand new jazz', tags: ['jazz'] },
      ...['jazz-a0-t0', 'jazz-a0-t1', 'jazz-a1-t0', 'jazz-a2-t3'].map((itemId) => ({ type: 'play', userId: 'newcomer', itemId, at })),
    ];
    expect((await post('/api/v1/interactions', ndjson(late), 'application/x-ndjson')).body).toMatchObject({ accepted: 5, rejected: 0 });
    const before = await get('', 'newcomer');
    expect(before.body.source).toBe('fold-in');
    expect(before.body.confidence).toBeGreaterThan(0.1);
    expect(before.body.confidence).toBeLessThan(0.5);
    expect(before.body.tracks.slice(0, 10).every((t) => sceneOf(t.id) === 'jazz')).toBe(true);

    const job = await train();
    expect(job.result!.summary).toMatchObject({ coldItems: 1 });
    const fan = await get('', 'jazz-fan-5');
    const fresh = fan.body.tracks.find((t) => t.id === 'jazz-a1-t9');
    expect(fresh?.reason).toBe('new: no plays yet, by jazz-artist-1, close to what you play');
    const metalFan = await get('', 'metal-fan-5');
    const rankForMetal = metalFan.body.tracks.findIndex((t) => t.id === 'jazz-a1-t9');
    expect(rankForMetal === -1 || rankForMetal >= 12).toBe(true);
  }, 90_000);

  it('suggests collaborators with close taste and complementary work, leaving out current co-editors', async () => {
    const at = '2026-11-02T10:00:00Z';
    const rows: object[] = [
      // maker-a makes house; b and c listen like house fans; b makes vocals, c makes house too; d listens to metal.
      { type: 'item', itemId: 'maker-a-t0', kind: 'track', artistId: 'maker-a', title: 'a', tags: ['house'] },
      { type: 'item', itemId: 'maker-b-t0', kind: 'track', artistId: 'maker-b', title: 'b', tags: ['vocals'] },
      { type: 'item', itemId: 'maker-c-t0', kind: 'track', artistId: 'maker-c', title: 'c', tags: ['house'] },
      { type: 'item', itemId: 'maker-d-t0', kind: 'track', artistId: 'maker-d', title: 'd', tags: ['vocals'] },
    ];
    const listens = (userId: string, scene: string) =>
      [0, 1, 2, 3].flatMap((a) => [0, 1].map((t) => ({ type: 'play', userId, itemId: `${scene}-a${a}-t${t}`, at, weight: 5 })));
    rows.push(...listens('maker-a', 'house'), ...listens('maker-b', 'house'), ...listens('maker-c', 'house'), ...listens('maker-d', 'metal'));
    expect((await post('/api/v1/interactions', ndjson(rows), 'application/x-ndjson')).body).toMatchObject({ rejected: 0 });
    await train();
    const first = await get('?context=collaboration', 'maker-a');
    const names = first.body.collaborators.map((c) => c.userId);
    expect(names.indexOf('maker-b')).toBe(0);
    expect(names).toContain('maker-c');
    expect(first.body.collaborators[0]).toMatchObject({ complementarity: 1 });
    expect(first.body.collaborators[0]!.reason).toMatch(/makes vocals, which you do not/);
    expect(names.indexOf('maker-d') === -1 || names.indexOf('maker-d') > names.indexOf('maker-c')).toBe(true);
    // Discovery does not compute collaborators.
    expect((await get('', 'maker-a')).body.collaborators).toEqual([]);

    const coedit = [
      { type: 'coedit', userId: 'maker-a', sessionId: 'song-1', at },
      { type: 'coedit', userId: 'maker-b', sessionId: 'song-1', at },
    ];
    await post('/api/v1/interactions', ndjson(coedit), 'application/x-ndjson');
    const after = await get('?context=collaboration', 'maker-a');
    expect(after.body.collaborators.map((c) => c.userId)).not.toContain('maker-b');
    expect(after.body.collaborators[0]!.userId).toBe('maker-c');
  }, 90_000);

  it('runs an A/B test: stable assignment, exposures and attributed outcomes as events, and a readout', async () => {
    const definition = {
      id: 'model-vs-popular',
      context: 'discovery',
      variants: [
        { name: 'control', weight: 1, config: { strategy: 'model' } },
        { name: 'popular', weight: 1, config: { strategy: 'popularity' } },
      ],
    };
    expect((await post('/api/v1/experiments', JSON.stringify(definition))).status).toBe(201);
    expect((await post('/api/v1/experiments', JSON.stringify(definition))).status).toBe(409);

    const users = Array.from({ length: 12 }, (_, u) => `house-fan-${u}`);
    const variants = new Map<string, string>();
    for (const user of users) {
      const first = await get('', user);
      const second = await get('', user);
      expect(first.body.experiments).toHaveLength(1);
      expect(second.body.experiments).toEqual(first.body.experiments);
      variants.set(user, first.body.experiments[0]!.variant);
      expect(first.body.source).toBe(first.body.experiments[0]!.variant === 'popular' ? 'popularity' : 'model');
      // Every control user likes their top recommendation; popular users like nothing recommended.
      if (first.body.experiments[0]!.variant === 'control') {
        const like = await fetch(`${server.url}/api/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await token(user)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'track.liked', payload: { trackId: first.body.tracks[0]!.id } }),
        });
        expect(like.status).toBe(202);
      }
    }
    // The production context is not part of it.
    expect((await get('?context=production', 'house-fan-0')).body.experiments).toEqual([]);

    const controls = [...variants.values()].filter((v) => v === 'control').length;
    expect(controls).toBeGreaterThan(0);
    expect(controls).toBeLessThan(12);
    const readout = async () =>
      (await (await fetch(`${server.url}/api/v1/experiments/model-vs-popular/readout`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as {
        exposed: Record<string, number>;
        metrics: Record<string, { variants: { name: string; users: number; conversions: number }[]; comparisons: { pValue: number | null }[] }>;
      };
    await waitFor(async () => (await readout()).metrics['track.liked']?.variants[0]?.conversions === controls, 'the likes in the readout');
    const result = await readout();
    expect(result.exposed).toEqual({ control: controls, popular: 12 - controls });
    expect(result.metrics['track.liked']!.variants).toEqual([
      expect.objectContaining({ name: 'control', users: controls, conversions: controls }),
      expect.objectContaining({ name: 'popular', users: 12 - controls, conversions: 0 }),
    ]);
    expect(result.metrics['track.liked']!.comparisons[0]!.pValue).toBeLessThan(0.05);

    const stop = await post('/api/v1/experiments/model-vs-popular/stop', '');
    expect(stop.status).toBe(200);
    expect((await post('/api/v1/experiments/model-vs-popular/stop', '')).status).toBe(409);
    expect((await get('', 'house-fan-0')).body.experiments).toEqual([]);
  }, 60_000);

  it('answers bad parameters and bad rows with clear errors', async () => {
    for (const [query, detail] of [
      ['?context=party', /context must be one of discovery, collaboration, production/],
      ['?limit=0', /limit must be an integer from 1 to 100/],
      ['?limit=ten', /limit must be an integer/],
      ['?limit=101', /limit must be an integer/],
      ['?filters=colour:red', /unknown filter "colour"/],
      ['?filters=kind:video', /filter kind must be track or sample/],
      ['?filters=house', /must be key:value/],
    ] as const) {
      const { status, body } = await get(query, 'house-fan-0');
      expect(status, query).toBe(400);
      expect(body.detail).toMatch(detail);
    }
    const other = await get('?user_id=jazz-fan-1', 'house-fan-0');
    expect(other.status).toBe(403);
    expect((await get('?user_id=jazz-fan-1')).status).toBe(200);

    const bad = await post(
      '/api/v1/interactions',
      [
        JSON.stringify({ type: 'play', userId: 'u', itemId: 'house-a0-t0', at: '2026-11-01T00:00:00Z' }),
        '{not json',
        JSON.stringify({ type: 'play', userId: 'u', itemId: 'x', at: 'yesterday' }),
        JSON.stringify({ type: 'dance', userId: 'u', itemId: 'x', at: '2026-11-01T00:00:00Z' }),
        JSON.stringify({ type: 'play', userId: 'u', itemId: 'x', at: '2099-01-01T00:00:00Z' }),
        JSON.stringify({ type: 'like', userId: 'u', itemId: 'x', at: '2026-11-01T00:00:00Z', weight: -2 }),
        JSON.stringify({ type: 'play', userId: 'u', itemId: 'x', at: '2026-11-01T00:00:00Z', extra: 1 }),
      ].join('\n'),
      'application/x-ndjson',
    );
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ lines: 7, accepted: 1, rejected: 6 });
    const errors = bad.body.errors as { line: number; error: string }[];
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(errors[0]!.error).toMatch(/not JSON/);
    expect(errors[1]!.error).toMatch(/^at:/);
    expect(errors[3]!.error).toMatch(/in the future/);
    expect(errors[4]!.error).toMatch(/^weight:/);
    expect(errors[5]!.error).toMatch(/extra/);

    expect((await post('/api/v1/interactions', '', 'application/x-ndjson')).status).toBe(400);
    expect((await post('/api/v1/interactions', '{}', 'application/json')).status).toBe(415);
    expect((await post('/api/v1/interactions', '{}', 'application/x-ndjson', await token('house-fan-0'))).status).toBe(403);
    expect((await post('/api/v1/recommendations/train', '', 'application/json', await token('house-fan-0'))).status).toBe(403);
    const badExperiment = await post('/api/v1/experiments', JSON.stringify({ id: 'x', variants: [{ name: 'only', weight: 1 }] }));
    expect(badExperiment.status).toBe(400);
    expect(badExperiment.body.detail).toMatch(/at least 2 variants/);
    const badStrategy = await post('/api/v1/experiments', JSON.stringify({ id: 'y', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1, config: { strategy: 'random' } }] }));
    expect(badStrategy.status).toBe(400);
    expect(badStrategy.body.detail).toMatch(/config.strategy must be model or popularity/);
    expect((await fetch(`${server.url}/api/v1/experiments/nope/readout`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(404);
    expect((await fetch(`${server.url}/api/v1/recommendations/jobs/nope`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(404);
  });

  it('hot-swaps a new version under load without failing a request', async () => {
    const before = (await get('', 'jazz-fan-2')).body.modelVersion;
    let stop = false;
    const seen = new Set<string>();
    const statuses: number[] = [];
    const client = async (user: string) => {
      while (!stop) {
        const { status, body } = await get('', user);
        statuses.push(status);
        if (body.modelVersion) seen.add(body.modelVersion);
      }
    };
    const clients = ['house-fan-1', 'jazz-fan-2', 'metal-fan-3', 'newcomer'].map(client);
    const job = await train();
    await waitFor(() => seen.has(job.result!.version), 'the new version serving');
    stop = true;
    await Promise.all(clients);
    expect(seen).toContain(before);
    expect(seen).toContain(job.result!.version);
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  }, 90_000);
});

describe.skipIf(!hasPostgres)('a retired model version', () => {
  it('keeps its ONNX session until the last request holding it ends; training reports every iteration', async () => {
    const db = await createTestDatabase();
    const server = await startModules(() => [recommendationsModule], { 'database-url': db.url, 'recs-train-interval-s': '0' });
    try {
      const service = server.node.modules.api(recommendationsModule);
      await service.importHistory('default', ndjson([...catalog(), ...history(8)]));
      const progress: TrainingProgress[] = [];
      const first = await trainTenant(service.store, server.config.storage.dataDir, 'default', { onProgress: (p) => progress.push(p), als: { iterations: 4 } });
      expect(progress.map((p) => p.phase)).toEqual(['loading', 'tuning', 'tuning', 'tuning', 'training', 'training', 'training', 'training', 'exporting', 'done']);
      expect(progress.filter((p) => p.phase === 'tuning').map((p) => p.message.split(':')[0])).toEqual(['λ 1', 'λ 10', 'λ 100']);
      expect(progress.filter((p) => p.phase === 'training').map((p) => p.iteration)).toEqual([1, 2, 3, 4]);
      expect(progress.map((p) => p.fraction)).toEqual([...progress.map((p) => p.fraction)].sort((a, b) => a - b));

      const model = await ServingModel.load(server.config.storage.dataDir, first.path);
      const end = model.lease();
      let released = false;
      const retired = model.retire().then(() => (released = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(released).toBe(false);
      // Still scores while leased.
      const scored = await model.scorer.score({ vector: model.userVector(0).slice(), tracks: 3, samples: 1, mask: null });
      expect(scored.tracks).toHaveLength(3);
      end();
      await retired;
      expect(released).toBe(true);

      // Shutting down stops a training in flight instead of waiting for it.
      const job = service.train('default', 'ops');
      expect(job.status).toBe('running');
      await service.close();
      expect(job).toMatchObject({ status: 'failed', error: 'the server is shutting down' });
    } finally {
      await server.stop();
      await db.drop();
    }
  }, 60_000);
});
