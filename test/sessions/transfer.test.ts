import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle } from '../../src/sessions/bundle.js';
import { EXAMPLE_SESSIONS_DIR } from '../../src/sessions/examples.js';
import { StudioDoc } from '../../src/studio/model.js';
import { runVeza } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable, tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

/**
 * A session made live on one server (two y-websocket clients, several minutes of edits squeezed into
 * seconds) is exported as a bundle and imported into a second server, on the embedded database and on
 * PostgreSQL; both replay it the same at every moment. Bad bundles are refused with nothing written.
 */
const SESSION = 'jam-transfer';
let a: TestServer;
let b: TestServer;
let tokenA: string;
let tokenB: string;
let bundleText: string;
/** Times (Unix ms) just after each edit on server A. */
const moments: number[] = [];

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function sessionsOf(server: TestServer, token: string): Promise<{ id: string; updates: number }[]> {
  const response = await fetch(`${server.url}/api/v1/sessions`, { headers: auth(token) });
  return ((await response.json()) as { sessions: { id: string; updates: number }[] }).sessions;
}

/** What a replay shows of a session: its history and the MIDI of every moment asked for. */
async function replayOf(server: TestServer, token: string, id: string, at: number[]): Promise<{ history: unknown; midi: string[] }> {
  const history = (await (await fetch(`${server.url}/api/v1/sessions/${id}/history`, { headers: auth(token) })).json()) as Record<string, unknown>;
  delete history.checkpoints; // built in the background as seeks happen; not part of what was recorded
  const midi = await Promise.all(
    [...at.map((t) => `?at=${t}`), ''].map(async (query) => Buffer.from(await (await fetch(`${server.url}/api/v1/sessions/${id}/export.mid${query}`, { headers: auth(token) })).arrayBuffer()).toString('base64')),
  );
  return { history, midi };
}

beforeAll(async () => {
  a = await startTestServer({ 'collab-flush-ms': '5' });
  b = await startTestServer({ 'collab-flush-ms': '5' });
  tokenA = await a.veza.auth.sign({ sub: 'ann', docs: { '*': 'owner' } });
  tokenB = await b.veza.auth.sign({ sub: 'ann', docs: { '*': 'owner' } });
  const ben = await a.veza.auth.sign({ sub: 'ben', docs: { [SESSION]: 'editor' } });
  const annClient = await connectClient(a.url, SESSION, tokenA);
  const benClient = await connectClient(a.url, SESSION, ben);
  try {
    const annStudio = new StudioDoc(annClient.doc);
    const benStudio = new StudioDoc(benClient.doc);
    annStudio.updateSettings({ title: 'Transfer jam' });
    const track = annStudio.addTrack({ name: 'Bass', program: 33 });
    const clip = annStudio.addClip(track, { start: 0, length: 1920 });
    await waitFor(() => benStudio.tracks().length === 1 && benStudio.clips(track).length === 1, 'ben sees the clip');
    moments.push(Date.now());
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 40));
      (i % 2 ? annStudio : benStudio).addNotes(track, clip, [{ pitch: 40 + i, start: i * 480, duration: 400, velocity: 80 + i }]);
      await waitFor(() => annStudio.notes(track, clip).length === i + 1 && benStudio.notes(track, clip).length === i + 1, `note ${i} on both`);
      await new Promise((r) => setTimeout(r, 40));
      moments.push(Date.now());
    }
    annStudio.setTempo([{ tick: 0, bpm: 96 }]);
    await waitFor(async () => (await sessionsOf(a, tokenA)).find((s) => s.id === SESSION)?.updates === 8 || undefined, 'every change stored on A');
  } finally {
    annClient.destroy();
    benClient.destroy();
  }
  const response = await fetch(`${a.url}/api/v1/sessions/${SESSION}/bundle`, { headers: auth(tokenA) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-disposition')).toContain(`${SESSION}.veza.json`);
  bundleText = await response.text();
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
});

const importInto = (server: TestServer, token: string, body: string, query = '') =>
  fetch(`${server.url}/api/v1/sessions/import${query}`, { method: 'POST', headers: { ...auth(token), 'content-type': 'application/json' }, body });

describe('session bundles between servers', () => {
  it('the bundle holds every change with its author', () => {
    const bundle = decodeBundle(bundleText);
    expect(bundle.updates).toHaveLength(8);
    expect(new Set(bundle.updates.map((u) => u.author))).toEqual(new Set(['ann', 'ben']));
    expect(bundle.title).toBe('Transfer jam');
    expect(bundle.midi?.byteLength).toBeGreaterThan(0);
  });

  it('imported into another server, it replays identically at every moment', async () => {
    const response = await importInto(b, tokenB, bundleText);
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ id: SESSION, updates: 8, title: 'Transfer jam' });
    const there = await replayOf(b, tokenB, SESSION, moments);
    const here = await replayOf(a, tokenA, SESSION, moments);
    expect(there).toEqual(here);
    // The moments really differ: a replay that ignored time would not pass.
    expect(new Set(here.midi).size).toBe(moments.length + 1);
    // And the bundle B exports is the one A exported (same log, same digest).
    const again = decodeBundle(await (await fetch(`${b.url}/api/v1/sessions/${SESSION}/bundle`, { headers: auth(tokenB) })).text());
    expect(again.updates).toEqual(decodeBundle(bundleText).updates);
  });

  it('refuses bad bundles with a problem, and writes nothing', async () => {
    const before = await sessionsOf(b, tokenB);
    const otherTenant = JSON.parse(bundleText) as { session: { tenantId: string; id: string }; version: number };
    otherTenant.session.tenantId = 'label-x';
    const wrongVersion = { ...(JSON.parse(bundleText) as object), version: 9 };
    const cases: [string, string, number, RegExp][] = [
      ['truncated', bundleText.slice(0, bundleText.length - 200), 400, /does not parse/],
      ['wrong version', JSON.stringify(wrongVersion), 400, /version 9 is not supported/],
      ["someone else's tenant", JSON.stringify(otherTenant), 403, /belongs to tenant label-x/],
      ['id taken', bundleText, 409, /already exists/],
    ];
    for (const [name, body, status, detail] of cases) {
      const response = await importInto(b, tokenB, body);
      expect(response.status, name).toBe(status);
      expect(response.headers.get('content-type'), name).toContain('application/problem+json');
      expect(((await response.json()) as { detail: string }).detail, name).toMatch(detail);
    }
    const viewer = await b.veza.auth.sign({ sub: 'vic', docs: { '*': 'viewer' } });
    expect((await importInto(b, viewer, bundleText, '?as=vic-copy')).status).toBe(403);
    expect(await sessionsOf(b, tokenB)).toEqual(before);
  });

  it('imports under another id when asked', async () => {
    const response = await importInto(b, tokenB, bundleText, '?as=jam-copy');
    expect(response.status).toBe(201);
    expect((await replayOf(b, tokenB, 'jam-copy', moments)).midi).toEqual((await replayOf(a, tokenA, SESSION, moments)).midi);
  });

  it('round-trips through PostgreSQL too', async (ctx) => {
    if (!(await postgresAvailable())) return ctx.skip();
    const db = await createTestDatabase();
    const pg = await startTestServer({ 'database-url': db.url, 'collab-flush-ms': '5' });
    try {
      const token = await pg.veza.auth.sign({ sub: 'ann', docs: { '*': 'owner' } });
      expect((await importInto(pg, token, bundleText)).status).toBe(201);
      expect(await replayOf(pg, token, SESSION, moments)).toEqual(await replayOf(a, tokenA, SESSION, moments));
    } finally {
      await pg.stop();
      await db.drop();
    }
  });
});

describe('veza session export | import', () => {
  // Five runs of the command, each opening its own embedded database: about 16 s alone, and twice
  // that beside the rest of the suite on two cores.
  it('moves a session between two data directories, and refuses a damaged file with nothing written', async () => {
    const from = tempDir('cli-from');
    const to = tempDir('cli-to');
    try {
      const bundle = path.join(from.dir, 'city.veza.json');
      writeFileSync(bundle, readFileSync(path.join(EXAMPLE_SESSIONS_DIR, 'example-city-blues.veza.json')));
      const imported = await runVeza(['session', 'import', bundle, '--data-dir', from.dir]);
      expect(imported.stderr).toBe('');
      expect(JSON.parse(imported.stdout)).toMatchObject({ id: 'example-city-blues', updates: 76 });
      const exported = await runVeza(['session', 'export', 'example-city-blues', '--data-dir', from.dir]);
      expect(exported.code).toBe(0);
      expect(decodeBundle(exported.stdout).updates).toEqual(decodeBundle(readFileSync(bundle, 'utf8')).updates);

      const damaged = path.join(from.dir, 'damaged.veza.json');
      writeFileSync(damaged, exported.stdout.slice(0, exported.stdout.length / 2));
      const refused = await runVeza(['session', 'import', damaged, '--data-dir', to.dir]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/import refused: not a session bundle/);
      const missing = await runVeza(['session', 'export', 'example-city-blues', '--data-dir', to.dir]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('session example-city-blues not found');

      const copy = path.join(from.dir, 'copy.veza.json');
      writeFileSync(copy, exported.stdout);
      const into = await runVeza(['session', 'import', copy, '--as', 'city-copy', '--data-dir', to.dir]);
      expect(JSON.parse(into.stdout)).toMatchObject({ id: 'city-copy', updates: 76 });
    } finally {
      from.remove();
      to.remove();
    }
  }, 90_000);

  it('talks to a running server with --url', async () => {
    const dir = tempDir('cli-url');
    try {
      const file = path.join(dir.dir, 'jam.veza.json');
      writeFileSync(file, bundleText);
      const env = { VEZA_DATA_DIR: b.config.storage.dataDir };
      const imported = await runVeza(['session', 'import', file, '--as', 'jam-by-url', '--url', b.url], env);
      expect(imported.stderr).toBe('');
      expect(JSON.parse(imported.stdout)).toMatchObject({ id: 'jam-by-url', updates: 8 });
      const exported = await runVeza(['session', 'export', 'jam-by-url', '--url', b.url], env);
      expect(decodeBundle(exported.stdout).updates).toEqual(decodeBundle(bundleText).updates);
      const again = await runVeza(['session', 'import', file, '--as', 'jam-by-url', '--url', b.url], env);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('import refused (409)');
    } finally {
      dir.remove();
    }
  });
});

describe('example sessions', () => {
  it('are imported on the first start of the embedded default in development, once', async () => {
    const data = tempDir('examples');
    try {
      const first = await startTestServer({ dev: 'true', 'data-dir': data.dir });
      const token = await first.veza.auth.sign({ sub: 'zoe', docs: { '*': 'owner' } });
      const listed = await sessionsOf(first, token);
      expect(listed.map((s) => s.id).sort()).toEqual(['example-chemistry-lab', 'example-city-blues']);
      expect(first.veza.report.examples).toMatchObject({ imported: 2, present: 2 });
      // Replay has a real timeline: several authors, minutes long.
      const history = (await (await fetch(`${first.url}/api/v1/sessions/example-city-blues/history`, { headers: auth(token) })).json()) as { authors: unknown[]; start: number; end: number };
      expect(history.authors.length).toBeGreaterThanOrEqual(3);
      expect(history.end - history.start).toBeGreaterThan(3 * 60_000);
      await first.stop();
      const second = await startTestServer({ dev: 'true', 'data-dir': data.dir });
      expect(second.veza.report.examples).toMatchObject({ imported: 0, present: 2 });
      await second.stop();
      const off = await startTestServer({ dev: 'true', 'example-sessions': 'false' });
      expect(off.veza.report.examples).toBeNull();
      const offToken = await off.veza.auth.sign({ sub: 'zoe', docs: { '*': 'owner' } });
      expect(await sessionsOf(off, offToken)).toEqual([]);
      await off.stop();
    } finally {
      data.remove();
    }
  });

  it('a bundle made from the shipped file equals what the server exports after importing it', async () => {
    const text = readFileSync(path.join(EXAMPLE_SESSIONS_DIR, 'example-chemistry-lab.veza.json'), 'utf8');
    expect((await importInto(b, tokenB, text)).status).toBe(201);
    const exported = await (await fetch(`${b.url}/api/v1/sessions/example-chemistry-lab/bundle`, { headers: auth(tokenB) })).text();
    const shipped = decodeBundle(text);
    const back = decodeBundle(exported);
    expect(encodeBundle({ ...back, exportedAt: shipped.exportedAt })).toBe(text);
  });
});
