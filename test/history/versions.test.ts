import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import type { EventBus } from '../../src/events/bus.js';
import { AutoVersions } from '../../src/history/consumer.js';
import { VersionStore, type Version } from '../../src/history/versions.js';
import { StudioDoc, type StudioSnapshot } from '../../src/studio/model.js';
import { ReplayStore } from '../../src/studio/replay-store.js';
import pino from 'pino';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

/**
 * Versions of a session edited by three users (ana, ben, cy) at known moments: named versions, opening
 * one read-only, restoring one as a branch (the original untouched, byte for byte) or into the session
 * (one change everyone receives, undone by restoring the version taken before it), automatic versions,
 * and the refusals. On the embedded database and on PostgreSQL.
 */
const hasPostgres = await postgresAvailable();
const backends: { name: string; flags: () => Promise<{ flags: Record<string, string>; drop: () => Promise<void> }> }[] = [
  { name: 'the embedded database', flags: async () => ({ flags: { 'collab-flush-ms': '5' }, drop: async () => undefined }) },
];
if (hasPostgres) {
  backends.push({
    name: 'PostgreSQL',
    flags: async () => {
      const db = await createTestDatabase();
      return { flags: { 'collab-flush-ms': '5', 'database-url': db.url }, drop: db.drop };
    },
  });
}

const T = 'default';
const S = 'song';

/** What a snapshot holds of the music (the transport and chat are not part of a version's restore). */
const music = (s: StudioSnapshot) => ({ settings: s.settings, tempo: s.tempo, timeSignatures: s.timeSignatures, tracks: s.tracks, markers: s.markers });

describe.each(backends)('versions on $name', ({ flags }) => {
  let server: TestServer;
  let drop: () => Promise<void>;
  const tokens: Record<string, string> = {};
  let drums = '';
  let bass = '';
  let kick = '';

  const edit = (user: string, change: (s: StudioDoc) => void) => server.veza.collab.edit(T, S, user, (doc) => change(new StudioDoc(doc)));
  const call = async (method: string, path: string, user = 'ana', body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[user]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const current = async () => new StudioDoc(docOf(await server.veza.collab.state(T, S))).snapshot();
  /** Everything stored of the session: its log rows (ids, times, authors, bytes) and snapshots. */
  const stored = async (sessionId: string) =>
    server.veza.storage.withTenant(T, async (trx) => ({
      log: (await trx.selectFrom('document_updates').select(['id', 'at', 'author', 'update']).where('doc_id', '=', sessionId).orderBy('id').execute()).map((r) => [String(r.id), new Date(r.at).getTime(), r.author, Buffer.from(r.update).toString('hex')]),
      snapshots: (await trx.selectFrom('document_snapshots').select(['upto_id', 'state']).where('doc_id', '=', sessionId).orderBy('upto_id').execute()).map((r) => [String(r.upto_id), Buffer.from(r.state).toString('hex')]),
    }));

  let v1: Version;
  let atV1: StudioSnapshot;

  beforeAll(async () => {
    const made = await flags();
    drop = made.drop;
    server = await startTestServer(made.flags);
    for (const user of ['ana', 'ben', 'cy']) tokens[user] = await server.veza.auth.sign({ sub: user, docs: { '*': 'editor', [S]: user === 'ana' ? 'owner' : 'editor' } });
    tokens.vic = await server.veza.auth.sign({ sub: 'vic', docs: { [S]: 'viewer' } });
    await edit('ana', (s) => {
      s.updateSettings({ title: 'Song' });
      drums = s.addTrack({ name: 'Drums' });
    });
    await edit('ben', (s) => {
      bass = s.addTrack({ name: 'Bass' });
      const clip = s.addClip(bass, { name: 'Riff', start: 0, length: 1920 });
      s.addNotes(bass, clip, [
        { pitch: 36, start: 0, duration: 240, velocity: 100 },
        { pitch: 38, start: 480, duration: 240, velocity: 90 },
      ]);
    });
    await edit('cy', (s) => {
      const clip = s.addClip(drums, { name: 'Beat', start: 0, length: 960 });
      [kick] = s.addNotes(drums, clip, [{ pitch: 36, start: 0, duration: 120, velocity: 110 }]) as [string];
      s.setTempo([{ tick: 0, bpm: 96 }]);
    });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await drop?.();
  });

  it('names a version of the session as it is, and opens it read-only as its snapshot and as a Y.Doc state', async () => {
    const made = await call('POST', `/api/v1/sessions/${S}/versions`, 'ben', { label: 'First groove', description: 'drums and bass' });
    expect(made.status).toBe(201);
    v1 = made.body as unknown as Version;
    expect(v1).toMatchObject({ sessionId: S, label: 'First groove', description: 'drums and bass', author: 'ben', kind: 'named', reason: null, updates: 3 });
    atV1 = await current();
    const opened = await call('GET', `/api/v1/sessions/${S}/versions/${v1.id}`, 'vic');
    expect(opened.status).toBe(200);
    expect(music(opened.body!.snapshot as StudioSnapshot)).toEqual(music(atV1));
    const res = await fetch(`${server.url}/api/v1/sessions/${S}/versions/${v1.id}/state`, { headers: { authorization: `Bearer ${tokens.vic}` } });
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(music(new StudioDoc(docOf(new Uint8Array(await res.arrayBuffer()))).snapshot())).toEqual(music(atV1));
  });

  it('keeps what later edits change out of the version', async () => {
    await edit('ana', (s) => {
      const [clip] = s.clips(bass);
      const [first] = s.notes(bass, clip!.id);
      s.updateNote(bass, clip!.id, first!.id, { start: 240, velocity: 64 });
      s.setTempo([{ tick: 0, bpm: 120 }]);
    });
    await edit('cy', (s) => s.removeTrack(drums));
    const later = await call('POST', `/api/v1/sessions/${S}/versions`, 'cy', { label: 'No drums' });
    expect(later.body).toMatchObject({ label: 'No drums', author: 'cy', updates: 5, description: '' });
    const list = await call('GET', `/api/v1/sessions/${S}/versions`, 'vic');
    expect((list.body!.versions as Version[]).map((v) => [v.label, v.author, v.updates])).toEqual([
      ['No drums', 'cy', 5],
      ['First groove', 'ben', 3],
    ]);
    expect(list.body).toMatchObject({ branchOf: null, branches: [] });
    const opened = await call('GET', `/api/v1/sessions/${S}/versions/${v1.id}`);
    expect(music(opened.body!.snapshot as StudioSnapshot)).toEqual(music(atV1));
    expect((await current()).tracks.map((t) => t.name)).toEqual(['Bass']);
  });

  it('takes a version of the session as it was at a time', async () => {
    const v1Time = v1.at!;
    const back = await call('POST', `/api/v1/sessions/${S}/versions`, 'ana', { label: 'Back then', at: v1Time });
    expect(back.body).toMatchObject({ uptoId: v1.uptoId, updates: 3, at: v1Time });
    expect((await call('DELETE', `/api/v1/sessions/${S}/versions/${(back.body as unknown as Version).id}`, 'ana')).status).toBe(204);
  });

  it('restores a version as a new branch session: the branch holds the version with its history, the original is untouched byte for byte', async () => {
    const before = await stored(S);
    const beforeState = Buffer.from(await server.veza.collab.state(T, S)).toString('hex');
    const branched = await call('POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'ben', { mode: 'branch' });
    expect(branched.status).toBe(201);
    const branchId = `${S}.v${v1.id}`;
    expect(branched.body).toMatchObject({ mode: 'branch', branch: { sessionId: branchId, sourceSessionId: S, versionId: v1.id, uptoId: v1.uptoId, createdBy: 'ben' } });
    expect(await stored(S)).toEqual(before);
    expect(Buffer.from(await server.veza.collab.state(T, S)).toString('hex')).toBe(beforeState);
    // The branch's log is the original's first three updates: same authors, times and bytes.
    const branch = await stored(branchId);
    expect(branch.log.map(([, at, author, bytes]) => [at, author, bytes])).toEqual(before.log.slice(0, 3).map(([, at, author, bytes]) => [at, author, bytes]));
    expect(branch.snapshots).toHaveLength(1);
    // A y-websocket client of the branch sees the version.
    const client = await connectClient(server.url, branchId, tokens.cy!);
    try {
      expect(music(new StudioDoc(client.doc).snapshot())).toEqual(music(atV1));
    } finally {
      client.destroy();
    }
    const lineage = await call('GET', `/api/v1/sessions/${branchId}/versions`, 'cy');
    expect(lineage.body).toMatchObject({ versions: [], branchOf: { sessionId: branchId, sourceSessionId: S, versionId: v1.id } });
    const source = await call('GET', `/api/v1/sessions/${S}/versions`, 'cy');
    expect((source.body!.branches as { sessionId: string }[]).map((b) => b.sessionId)).toEqual([branchId]);
    // The default name is taken now: the next branch gets the next free one; a named one that exists is refused.
    const again = await call('POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'ben', { mode: 'branch' });
    expect(again.body).toMatchObject({ branch: { sessionId: `${branchId}.2` } });
    const taken = await call('POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'ben', { mode: 'branch', sessionId: branchId });
    expect(taken.status).toBe(409);
    expect(taken.body!.detail).toBe(`session ${branchId} already exists; choose another id for the branch`);
  });

  it('restores a version into the session as one change everyone receives, keeping untouched notes, and restoring the version taken before undoes it', async () => {
    const client = await connectClient(server.url, S, tokens.cy!);
    try {
      await edit('ben', (s) => s.updateSettings({ key: 'E minor' }));
      await server.veza.collab.persisted(T, S);
      const beforeRestore = await current();
      const bassNotes = beforeRestore.tracks.find((t) => t.id === bass)!.clips[0]!.notes;
      const logBefore = (await stored(S)).log.length;
      const restored = await call('POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'ana', { mode: 'into' });
      expect(restored.status).toBe(200);
      const undo = restored.body!.undo as Version;
      expect(undo).toMatchObject({ kind: 'auto', reason: 'before-restore', author: 'veza', label: 'Before restore', updates: 6 });
      const after = (await stored(S)).log;
      expect(after.length).toBe(logBefore + 1);
      expect(after.at(-1)![2]).toBe('ana');
      await waitFor(() => JSON.stringify(music(new StudioDoc(client.doc).snapshot())) === JSON.stringify(music(atV1)), 'the client to receive the restore');
      expect(music(await current())).toEqual(music(atV1));
      // The bass note nobody moved keeps its id; the one ana moved is back where it was, same id too.
      const restoredNotes = (await current()).tracks.find((t) => t.id === bass)!.clips[0]!.notes;
      expect(restoredNotes.map((n) => n.id).sort()).toEqual(bassNotes.map((n) => n.id).sort());
      expect((await current()).tracks.find((t) => t.id === drums)!.clips[0]!.notes.map((n) => n.id)).toEqual([kick]);
      // Undo: restore the version the restore took first.
      const back = await call('POST', `/api/v1/sessions/${S}/versions/${undo.id}/restore`, 'ben', { mode: 'into' });
      expect(back.status).toBe(200);
      expect(music(await current())).toEqual(music(beforeRestore));
      await waitFor(() => JSON.stringify(music(new StudioDoc(client.doc).snapshot())) === JSON.stringify(music(beforeRestore)), 'the client to receive the undo');
    } finally {
      client.destroy();
    }
  });

  it('renames and deletes a version for its author or an owner only', async () => {
    expect((await call('PATCH', `/api/v1/sessions/${S}/versions/${v1.id}`, 'cy', { label: 'Mine now' })).status).toBe(403);
    const renamed = await call('PATCH', `/api/v1/sessions/${S}/versions/${v1.id}`, 'ben', { label: 'Groove', description: '' });
    expect(renamed.body).toMatchObject({ id: v1.id, label: 'Groove', description: '' });
    const owner = await call('PATCH', `/api/v1/sessions/${S}/versions/${v1.id}`, 'ana', { description: 'kept' });
    expect(owner.body).toMatchObject({ label: 'Groove', description: 'kept' });
  });

  it('refuses bad input with a problem answer and changes nothing', async () => {
    const count = (await call('GET', `/api/v1/sessions/${S}/versions`)).body!.versions as Version[];
    const cases: [string, string, string, unknown, number, string][] = [
      ['POST', `/api/v1/sessions/${S}/versions`, 'ana', { label: '' }, 400, '{"path":"label","message":"a label is 1 to 100 characters"}'],
      ['POST', `/api/v1/sessions/${S}/versions`, 'ana', { label: 'x', at: -1 }, 400, 'at'],
      ['POST', `/api/v1/sessions/${S}/versions`, 'ana', { label: 'x', extra: 1 }, 400, 'extra'],
      ['POST', `/api/v1/sessions/${S}/versions`, 'ana', 'not json', 400, 'JSON'],
      ['POST', `/api/v1/sessions/${S}/versions`, 'vic', { label: 'x' }, 403, 'role viewer cannot change session song'],
      ['POST', '/api/v1/sessions/never-stored/versions', 'ana', { label: 'x' }, 404, 'session never-stored has no recording'],
      ['GET', `/api/v1/sessions/${S}/versions/999999`, 'ana', undefined, 404, `session ${S} has no version 999999`],
      ['GET', `/api/v1/sessions/${S}/versions/abc`, 'ana', undefined, 404, `session ${S} has no version abc`],
      ['GET', `/api/v1/sessions/${S}/versions?limit=0`, 'ana', undefined, 400, 'limit must be an integer from 1 to 500'],
      ['POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'ana', { mode: 'sideways' }, 400, 'mode'],
      ['POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'vic', { mode: 'into' }, 403, 'role viewer cannot change session song'],
      ['POST', `/api/v1/sessions/${S}/versions/${v1.id}/restore`, 'ana', { mode: 'branch', sessionId: 'bad id' }, 400, 'sessionId'],
      ['DELETE', `/api/v1/sessions/${S}/versions/${v1.id}`, 'vic', undefined, 403, 'role viewer cannot change session song'],
    ];
    for (const [method, path, user, body, status, detail] of cases) {
      const res = await call(method, path, user, body);
      expect([method, path, res.status]).toEqual([method, path, status]);
      expect(res.type).toContain('application/problem+json');
      expect(String(res.body!.detail) + JSON.stringify(res.body!.errors ?? [])).toContain(detail);
    }
    expect((await call('GET', `/api/v1/sessions/${S}/versions`)).body!.versions).toEqual(count);
  });
});

describe('automatic versions', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ 'collab-flush-ms': '5', 'collab-unload-delay-ms': '0' });
  }, 60_000);
  afterAll(() => server?.stop());

  it('takes one when a session ends with changes since its latest version, none for one without', async () => {
    const token = await server.veza.auth.sign({ sub: 'dee', docs: { '*': 'owner' } });
    const client = await connectClient(server.url, 'jam', token);
    new StudioDoc(client.doc).addTrack({ name: 'Keys' });
    await waitFor(async () => (await server.veza.collab.state(T, 'jam')).byteLength > 2 && true, 'the edit to arrive');
    client.destroy();
    const list = async () => {
      const res = await fetch(`${server.url}/api/v1/sessions/jam/versions`, { headers: { authorization: `Bearer ${token}` } });
      return res.status === 404 ? [] : ((await res.json()) as { versions: Version[] }).versions;
    };
    const [ended] = await waitFor(async () => ((await list()).length > 0 ? list() : undefined), 'the session-end version');
    expect(ended).toMatchObject({ kind: 'auto', reason: 'session-end', label: 'Session end', author: 'veza', updates: 1 });
    // Opened and closed again without an edit: no new version.
    const idle = await connectClient(server.url, 'jam', token);
    idle.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await list()).toHaveLength(1);
  });

  it('takes one every N minutes of editing, by the edits\' own times, and none twice for a redelivered event', async () => {
    // A node of its own without consumers: only this test's AutoVersions sees the events it is given.
    const quiet = await startTestServer({ 'collab-flush-ms': '5', consumers: 'none' });
    try {
      await intervals(quiet);
    } finally {
      await quiet.stop();
    }
  });
});

async function intervals(server: TestServer): Promise<void> {
  {
    const published: VezaEvent[] = [];
    const bus = { publish: async (event: VezaEvent) => void published.push(event) } as unknown as EventBus;
    const versions = new VersionStore(server.veza.storage, new ReplayStore(server.veza.storage));
    const auto = new AutoVersions(versions, bus, pino({ level: 'silent' }), 10);
    const edit = (user: string) => server.veza.collab.edit(T, 'long-jam', user, (doc) => new StudioDoc(doc).addTrack({ name: user }));
    const updated = (minute: number) => createEvent('session.updated', { tenantId: T, at: new Date(t0 + minute * 60_000), payload: { sessionId: 'long-jam', author: 'eve', bytes: 10, changed: ['tracks'] } }) as VezaEvent;
    const t0 = Date.now();
    await edit('eve');
    await server.veza.collab.persisted(T, 'long-jam');
    await auto.handle(updated(0));
    await auto.handle(updated(5));
    expect(await versions.list(T, 'long-jam')).toEqual([]);
    await auto.handle(updated(10));
    const [interval] = await versions.list(T, 'long-jam');
    expect(interval).toMatchObject({ kind: 'auto', reason: 'interval', label: 'Autosave', updates: 1 });
    expect(published.map((e) => [e.type, (e.payload as { reason: string }).reason, (e.payload as { versionId: string }).versionId])).toEqual([['session.versioned', 'interval', interval!.id]]);
    // Ten more minutes but no new edit in the log: nothing new to keep.
    await auto.handle(updated(20));
    expect(await versions.list(T, 'long-jam')).toHaveLength(1);
    await edit('fay');
    await server.veza.collab.persisted(T, 'long-jam');
    await auto.handle(updated(31));
    expect((await versions.list(T, 'long-jam')).map((v) => [v.reason, v.updates])).toEqual([
      ['interval', 2],
      ['interval', 1],
    ]);
    // A redelivered session end right after: one version for it, then none.
    const closed = createEvent('session.closed', { tenantId: T, payload: { sessionId: 'long-jam', durationMs: 1000 } }) as VezaEvent;
    await edit('eve');
    await server.veza.collab.persisted(T, 'long-jam');
    await auto.handle(closed);
    await auto.handle(closed);
    expect((await versions.list(T, 'long-jam')).map((v) => v.reason)).toEqual(['session-end', 'interval', 'interval']);
  }
}

function docOf(state: Uint8Array): Y.Doc {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return doc;
}
