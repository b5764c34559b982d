import * as decoding from 'lib0/decoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { docFromParts, ReplayStore } from '../../src/studio/replay-store.js';
import { StudioDoc } from '../../src/studio/model.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

/**
 * Recording and replay: a session is edited by a real y-websocket client at known times; the history,
 * the state at any time, and the replay socket (state, paced updates, pause, seek) are checked
 * against what was written.
 */
let server: TestServer;
let token: string;
const doc = 'replay-song';
/** Track names added one by one, with the time just after each was stored. */
const written: { name: string; after: number }[] = [];
let beforeAll_: number;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const namesIn = (parts: Uint8Array | Uint8Array[]) => new StudioDoc(docFromParts(Array.isArray(parts) ? parts : [parts])).tracks().map((t) => t.name);

beforeAll(async () => {
  server = await startTestServer({ 'collab-flush-ms': '5' });
  token = await server.veza.auth.sign({ sub: 'ana', docs: { [doc]: 'owner', 'other-song': 'owner' } });
  const client = await connectClient(server.url, doc, token);
  const studio = new StudioDoc(client.doc);
  beforeAll_ = Date.now() - 1;
  for (const name of ['drums', 'bass', 'keys', 'lead', 'pad', 'fx']) {
    studio.addTrack({ name });
    await waitFor(async () => namesIn(await server.veza.collab.state('default', doc)).includes(name), `the server to accept ${name}`);
    await server.veza.collab.writer.flush();
    written.push({ name, after: Date.now() });
    await sleep(60);
  }
  client.destroy();
});
afterAll(() => server?.stop());


const api = (path: string, auth = token) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${auth}` } });

describe('history', () => {
  it('lists the timeline: span, updates, authors', async () => {
    const res = await api(`/api/v1/sessions/${doc}/history`);
    expect(res.status).toBe(200);
    const history = (await res.json()) as { start: number; end: number; updates: number; authors: { userId: string; updates: number }[] };
    expect(history.updates).toBeGreaterThanOrEqual(6);
    expect(history.authors.map((a) => a.userId)).toEqual(['ana']);
    expect(history.start).toBeGreaterThanOrEqual(beforeAll_);
    expect(history.end).toBeLessThanOrEqual(written.at(-1)!.after);
  });

  it('answers 404 for a session never stored, 403 without a role, 400 for a bad id', async () => {
    expect((await api('/api/v1/sessions/other-song/history')).status).toBe(404);
    expect((await api('/api/v1/sessions/secret/history')).status).toBe(403);
    expect((await api('/api/v1/sessions/bad%20id/history')).status).toBe(400);
  });
});

describe('state at a time', () => {
  it('holds exactly the edits made up to that time, with or without checkpoints on the way', async () => {
    const plain = new ReplayStore(server.veza.storage, 1_000_000);
    const checkpointed = new ReplayStore(server.veza.storage, 2);
    expect(namesIn((await plain.stateAt('default', doc, beforeAll_ - 1000)).parts)).toEqual([]);
    expect(await checkpointed.buildCheckpoints('default', doc)).toBeGreaterThan(0);
    for (let i = 0; i < written.length; i++) {
      const expected = written.slice(0, i + 1).map((w) => w.name);
      for (const store of [checkpointed, plain]) expect(namesIn((await store.stateAt('default', doc, written[i]!.after)).parts)).toEqual(expected);
    }
    const history = (await (await api(`/api/v1/sessions/${doc}/history`)).json()) as { checkpoints: { updates: number }[] };
    expect(history.checkpoints.length).toBeGreaterThan(0);
    expect(history.checkpoints.every((c) => c.updates % 2 === 0)).toBe(true);
  });
});

interface Viewer {
  ws: WebSocket;
  doc: Y.Doc;
  texts: { type: string; at?: number; playing?: boolean }[];
  updates: number;
  send(message: unknown): void;
}

function openViewer(query: string): Promise<Viewer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/replay/${doc}?token=${token}&${query}`);
    const viewer: Viewer = { ws, doc: new Y.Doc(), texts: [], updates: 0, send: (m) => ws.send(JSON.stringify(m)) };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        const text = JSON.parse(data.toString()) as Viewer['texts'][number];
        if (text.type === 'reset') viewer.doc = new Y.Doc();
        viewer.texts.push(text);
        return;
      }
      const d = decoding.createDecoder(new Uint8Array(data));
      expect(decoding.readVarUint(d)).toBe(0);
      const sub = decoding.readVarUint(d);
      Y.applyUpdate(viewer.doc, decoding.readVarUint8Array(d));
      if (sub === 2) viewer.updates++;
    });
    ws.once('open', () => resolve(viewer));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const names = (v: Viewer) => new StudioDoc(v.doc).tracks().map((t) => t.name);

describe('replay socket', () => {
  it('sends the state at `at`, then the later edits in order until the end', async () => {
    const viewer = await openViewer(`at=${written[1]!.after}&speed=20`);
    await waitFor(() => viewer.texts.some((t) => t.type === 'reset') && names(viewer).length >= 2, 'the state at at');
    expect(names(viewer).slice(0, 2)).toEqual(['drums', 'bass']);
    await waitFor(() => viewer.texts.some((t) => t.type === 'end'), 'the end of the recording');
    expect(names(viewer)).toEqual(written.map((w) => w.name));
    expect(viewer.updates).toBeGreaterThanOrEqual(4);
    expect(viewer.texts.at(-1)).toMatchObject({ type: 'state', playing: false });
    viewer.ws.close();
  });

  it('pauses (nothing more arrives), resumes, and seeks back to an earlier state', async () => {
    const viewer = await openViewer(`at=${written[0]!.after}&speed=0.5`);
    await waitFor(() => names(viewer).length === 1, 'the first track');
    viewer.send({ type: 'pause' });
    await waitFor(() => viewer.texts.some((t) => t.type === 'state' && t.playing === false), 'the pause to be acknowledged');
    const held = viewer.updates;
    await sleep(300);
    expect(viewer.updates).toBe(held);
    viewer.send({ type: 'speed', speed: 50 });
    viewer.send({ type: 'play' });
    await waitFor(() => viewer.texts.some((t) => t.type === 'end'), 'the end after resuming');
    expect(names(viewer)).toHaveLength(written.length);
    viewer.send({ type: 'seek', at: written[2]!.after });
    await waitFor(() => viewer.texts.filter((t) => t.type === 'reset').length === 2 && names(viewer).length >= 3, 'the seek');
    expect(names(viewer).slice(0, 3)).toEqual(['drums', 'bass', 'keys']);
    viewer.ws.close();
  });

  it('opens paused with play=0: the state at `at`, then nothing until play', async () => {
    const viewer = await openViewer(`at=${written[0]!.after}&speed=50&play=0`);
    await waitFor(() => viewer.texts.some((t) => t.type === 'state') && names(viewer).length === 1, 'the state at at');
    expect(viewer.texts.find((t) => t.type === 'state')).toMatchObject({ playing: false });
    await sleep(400);
    expect(names(viewer)).toEqual(['drums']);
    viewer.send({ type: 'play' });
    await waitFor(() => viewer.texts.some((t) => t.type === 'end'), 'the end once played');
    expect(names(viewer)).toEqual(written.map((w) => w.name));
    viewer.ws.close();
  });

  it('seeks forward with only the updates in between (no reset)', async () => {
    const viewer = await openViewer(`at=${written[0]!.after}&speed=0.01`);
    await waitFor(() => names(viewer).length === 1, 'the first track');
    viewer.send({ type: 'pause' });
    viewer.send({ type: 'seek', at: written[3]!.after });
    await waitFor(() => names(viewer).length === 4, 'the forward seek');
    expect(names(viewer)).toEqual(['drums', 'bass', 'keys', 'lead']);
    expect(viewer.texts.filter((t) => t.type === 'reset')).toHaveLength(1);
    viewer.ws.close();
  });

  it('closes with 1002 and a reason on a binary or malformed control message', async () => {
    for (const bad of [Buffer.from([1, 2, 3]), '{"type":"warp"}', 'not json', '{"type":"speed","speed":-1}']) {
      const viewer = await openViewer('at=0');
      const closed = new Promise<{ code: number; reason: string }>((resolve) => viewer.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      viewer.ws.send(bad);
      const { code, reason } = await closed;
      expect(code).toBe(1002);
      expect(reason.length).toBeGreaterThan(0);
    }
  });

  it('refuses a bad `at` or `speed`, and a user without a role, at upgrade', async () => {
    await expect(openViewer('at=yesterday')).rejects.toThrow('HTTP 400');
    await expect(openViewer('speed=0')).rejects.toThrow('HTTP 400');
    const stranger = await server.veza.auth.sign({ sub: 'eve', docs: { elsewhere: 'owner' } });
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/replay/${doc}?token=${stranger}`);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
    });
    expect(refused).toBe(403);
  });
});
