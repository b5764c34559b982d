import tonejs from '@tonejs/midi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { StudioDoc } from '../../src/studio/model.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient, type Client } from '../helpers/yjs.js';

const { Midi } = tonejs;

/**
 * The session HTTP API against a live session: a MIDI import reaches a connected y-websocket client,
 * bad files change nothing, exports (now, per track, as it was at a time) hold what was imported.
 */
let server: TestServer;
let owner: string;
let viewer: string;
let client: Client;
const doc = 'midi-song';

/** A two-track file: a bass line on channel 1 and a chord on channel 0, with a tempo change. */
function sampleFile(): Uint8Array {
  const midi = new Midi();
  midi.header.setTempo(100);
  midi.header.tempos.push({ ticks: 1920, bpm: 140 });
  midi.header.update();
  const bass = midi.addTrack();
  bass.name = 'Bass';
  bass.channel = 1;
  for (let i = 0; i < 8; i++) bass.addNote({ midi: 36 + (i % 4), ticks: i * 240, durationTicks: 200, velocity: (60 + i) / 127 });
  const keys = midi.addTrack();
  keys.name = 'Keys';
  for (const pitch of [60, 64, 67]) keys.addNote({ midi: pitch, ticks: 0, durationTicks: 960, velocity: 100 / 127 });
  return midi.toArray();
}

beforeAll(async () => {
  server = await startTestServer({ 'collab-flush-ms': '5' });
  owner = await server.veza.auth.sign({ sub: 'ana', docs: { [doc]: 'owner' } });
  viewer = await server.veza.auth.sign({ sub: 'vic', docs: { [doc]: 'viewer' } });
  client = await connectClient(server.url, doc, owner);
});
afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

const post = (body: Uint8Array | string, token = owner) =>
  fetch(`${server.url}/api/v1/sessions/${doc}/midi`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/midi' }, body });
const get = (query = '', token = owner) => fetch(`${server.url}/api/v1/sessions/${doc}/export.mid${query}`, { headers: { authorization: `Bearer ${token}` } });
const state = () => server.veza.collab.state('default', doc);

describe('MIDI import through the live session', () => {
  let beforeImport = 0;

  it('refuses what is not MIDI, a truncated file and an empty body with 400, changing nothing', async () => {
    const before = await state();
    const file = sampleFile();
    for (const bad of ['hello, not a midi file', file.subarray(0, file.length - 7), new Uint8Array(0)]) {
      const res = await post(bad);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(((await res.json()) as { detail: string }).detail.length).toBeGreaterThan(0);
    }
    expect(await state()).toEqual(before);
  });

  it('refuses a viewer with 403', async () => {
    expect((await post(sampleFile(), viewer)).status).toBe(403);
  });

  it('adds the tracks, which a connected client sees, and logs them', async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    beforeImport = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const res = await post(sampleFile());
    expect(res.status).toBe(201);
    const result = (await res.json()) as { trackIds: string[]; notes: number };
    expect(result.notes).toBe(11);
    expect(result.trackIds).toHaveLength(2);
    const live = new StudioDoc(client.doc);
    await waitFor(() => live.tracks().length === 2, 'the imported tracks to reach the client');
    expect(live.tracks().map((t) => t.name)).toEqual(['Bass', 'Keys']);
    // MIDI stores tempo as whole microseconds per quarter note: 140 bpm comes back as 140.00014.
    expect(live.tempo().map((t) => Math.round(t.bpm * 100) / 100)).toEqual([100, 140]);
    await server.veza.collab.writer.flush();
    const history = (await (await fetch(`${server.url}/api/v1/sessions/${doc}/history`, { headers: { authorization: `Bearer ${owner}` } })).json()) as { authors: { userId: string }[] };
    expect(history.authors.map((a) => a.userId)).toContain('ana');
  });

  it('exports the session, one track, and the session as it was before the import', async () => {
    const whole = await get();
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('audio/midi');
    const parsed = new Midi(new Uint8Array(await whole.arrayBuffer()));
    const notes = parsed.tracks.flatMap((t) => t.notes.map((n) => [n.midi, n.ticks, n.durationTicks, Math.round(n.velocity * 127)]));
    expect(notes).toHaveLength(11);
    expect(notes).toContainEqual([37, 240, 200, 61]);
    expect(parsed.header.tempos.map((t) => Math.round(t.bpm))).toEqual([100, 140]);

    const bassId = new StudioDoc(client.doc).tracks()[0]!.id;
    const one = new Midi(new Uint8Array(await (await get(`?track=${bassId}`)).arrayBuffer()));
    expect(one.tracks.flatMap((t) => t.notes)).toHaveLength(8);
    expect((await get('?track=nope')).status).toBe(404);

    const earlier = new Midi(new Uint8Array(await (await get(`?at=${beforeImport}`)).arrayBuffer()));
    expect(earlier.tracks.flatMap((t) => t.notes)).toHaveLength(0);
    expect((await get('?at=soon')).status).toBe(400);
    // A viewer may export.
    expect((await get('', viewer)).status).toBe(200);
  });

  it('answers 403 for a session the token has no role on', async () => {
    const res = await fetch(`${server.url}/api/v1/sessions/elsewhere/export.mid`, { headers: { authorization: `Bearer ${owner}` } });
    expect(res.status).toBe(403);
  });
});

describe('a document built by the model round-trips through export', () => {
  it('keeps notes, channels and velocities exactly', async () => {
    const studio = new StudioDoc(new Y.Doc());
    const t = studio.addTrack({ name: 'Lead', program: 81 });
    const c = studio.addClip(t, { start: 480 });
    studio.addNotes(t, c, [
      { pitch: 72, start: 0, duration: 120, velocity: 1, channel: 3 },
      { pitch: 74, start: 120, duration: 120, velocity: 127, channel: 3 },
    ]);
    const { exportMidi } = await import('../../src/studio/midi-export.js');
    const parsed = new Midi(exportMidi(studio.snapshot()));
    expect(parsed.tracks.flatMap((tr) => tr.notes.map((n) => [n.midi, n.ticks, n.durationTicks, Math.round(n.velocity * 127), tr.channel]))).toEqual([
      [72, 480, 120, 1, 3],
      [74, 600, 120, 127, 3],
    ]);
  });
});
