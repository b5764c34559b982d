import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VezaEvent } from '../../src/events/catalog.js';
import type { LiveRoom } from '../../src/media/live-room.js';
import { builtWorker } from '../helpers/media.js';
import { ffmpegAvailable, startRtpSource, type RtpSource } from '../helpers/rtp-source.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const worker = builtWorker();
const ready = worker !== null && ffmpegAvailable();

interface Output {
  id: string;
  roomId: string;
  kind: string;
  status: string;
  bytes: number | null;
  durationMs: number | null;
  error: string | null;
  url: string | null;
  tracks: { kind: string }[];
}

function probe(file: string): { duration: number; streams: { codec_type: string; codec_name: string }[] } {
  const out = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type,codec_name', '-of', 'json', file], { encoding: 'utf8' });
  expect(out.status, out.stderr).toBe(0);
  const parsed = JSON.parse(out.stdout) as { format: { duration: string }; streams: { codec_type: string; codec_name: string }[] };
  return { duration: Number(parsed.format.duration), streams: parsed.streams };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!ready)('recording and HLS over HTTP', () => {
  let server: TestServer;
  let dir: string;
  let room: LiveRoom;
  const sources: RtpSource[] = [];
  const events: VezaEvent[] = [];
  const tokens: Record<string, string> = {};

  const api = (method: string, route: string, who = 'owner', headers: Record<string, string> = {}) =>
    fetch(`${server.url}${route}`, { method, headers: { authorization: `Bearer ${tokens[who]}`, ...headers } });
  const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Output & { detail?: string; recordings?: Output[] } });

  beforeAll(async () => {
    process.env.MEDIASOUP_WORKER_BIN = worker!;
    dir = mkdtempSync(path.join(os.tmpdir(), 'veza-outputs-'));
    server = await startTestServer({ 'media-workers': '1' });
    tokens.owner = await server.veza.auth.sign({ sub: 'dj', docs: { '*': 'owner' } });
    tokens.editor = await server.veza.auth.sign({ sub: 'guest', docs: { '*': 'editor' } });
    tokens.viewer = await server.veza.auth.sign({ sub: 'fan', docs: { '*': 'viewer' } });
    tokens.stranger = await server.veza.auth.sign({ sub: 'sam', docs: { elsewhere: 'owner' } });
    await server.veza.bus.subscribe('outputs-test', async (event) => void events.push(event), { types: ['recording.ended'] });
    // A room fed by ffmpeg test sources (a tone and a test picture) over plain RTP.
    room = await server.veza.media!.room({ tenantId: 'default', roomId: 'set', kind: 'live' });
    sources.push(await startRtpSource(room, 'audio'), await startRtpSource(room, 'video'));
  }, 60_000);

  afterAll(async () => {
    for (const source of sources) await source.stop();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records a room through the API into a WebM that ffprobe reads with the right duration, served with byte ranges', async () => {
    const started = await json(await api('POST', '/api/v1/rooms/set/recordings', 'editor'));
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ roomId: 'set', kind: 'recording', status: 'running', url: null });
    expect(started.body.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    const id = started.body.id;

    // One recording per room at a time, and its file is not served while it runs.
    expect((await json(await api('POST', '/api/v1/rooms/set/recordings'))).status).toBe(409);
    expect((await api('GET', `/api/v1/recordings/${id}/file`)).status).toBe(409);

    await sleep(3000);
    const stopped = await json(await api('POST', `/api/v1/rooms/set/recordings/${id}/stop`, 'editor'));
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ id, status: 'finished', error: null, url: `/api/v1/recordings/${id}/file` });
    expect(stopped.body.bytes).toBeGreaterThan(1000);
    // Stopping again answers the finished row.
    expect((await json(await api('POST', `/api/v1/rooms/set/recordings/${id}/stop`))).body.status).toBe('finished');

    const file = await api('GET', stopped.body.url!, 'viewer');
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('video/webm');
    expect(file.headers.get('accept-ranges')).toBe('bytes');
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.length).toBe(stopped.body.bytes);
    const local = path.join(dir, 'downloaded.webm');
    writeFileSync(local, bytes);
    const { duration, streams } = probe(local);
    console.info(`recorded over HTTP: ${stopped.body.durationMs} ms wall, file ${duration.toFixed(2)} s, ${bytes.length} bytes`);
    expect(streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort()).toEqual(['audio/opus', 'video/vp8']);
    expect(duration).toBeGreaterThan(2);
    expect(duration).toBeLessThan(5);

    const range = await api('GET', stopped.body.url!, 'viewer', { range: 'bytes=100-199' });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
    const tail = await api('GET', stopped.body.url!, 'viewer', { range: 'bytes=-10' });
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 10))).toBe(true);
    const past = await api('GET', stopped.body.url!, 'viewer', { range: `bytes=${bytes.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${bytes.length}`);

    const listed = await json(await api('GET', '/api/v1/rooms/set/recordings', 'viewer'));
    expect(listed.body.recordings!.map((r) => r.id)).toContain(id);
    await expect.poll(() => events.find((e) => e.type === 'recording.ended' && e.payload.outputId === id)).toMatchObject({ actor: 'guest', payload: { status: 'finished', kind: 'recording', roomId: 'set' } });
  }, 60_000);

  it('keeps every voice as its own track, copied as it arrived', async () => {
    // A second tone on its own plain transport: a guest's voice next to the music.
    const second = await startRtpSource(room, 'audio');
    const started = await json(await api('POST', '/api/v1/rooms/set/recordings'));
    expect(started.status).toBe(201);
    await sleep(3500);
    const stopped = await json(await api('POST', `/api/v1/rooms/set/recordings/${started.body.id}/stop`));
    expect(stopped.body.status).toBe('finished');
    const local = path.join(dir, 'mixed.webm');
    writeFileSync(local, Buffer.from(await (await api('GET', stopped.body.url!)).arrayBuffer()));
    const audio = probe(local).streams.filter((s) => s.codec_type === 'audio');
    expect(audio.map((s) => s.codec_name)).toEqual(['opus', 'opus']);
    expect(stopped.body.tracks.filter((t) => t.kind === 'audio').length).toBe(2);
    await second.stop();
  }, 60_000);

  it('reports a recording whose ffmpeg dies as failed, in the row and as an event', async () => {
    const started = await json(await api('POST', '/api/v1/rooms/set/recordings'));
    expect(started.status).toBe(201);
    await sleep(1000);
    // The recording's ffmpeg reads an SDP named after the output id.
    execFileSync('pkill', ['-KILL', '-f', `${started.body.id}.webm.sdp`]);
    await expect.poll(async () => (await json(await api('GET', `/api/v1/recordings/${started.body.id}`))).body.status, { timeout: 10_000 }).toBe('failed');
    const row = (await json(await api('GET', `/api/v1/recordings/${started.body.id}`))).body;
    expect(row.error).toMatch(/ffmpeg exited before the recording was stopped/);
    await expect.poll(() => events.find((e) => e.type === 'recording.ended' && e.payload.outputId === started.body.id)).toMatchObject({ payload: { status: 'failed', error: expect.stringContaining('SIGKILL') } });
    // The room can be recorded again.
    const again = await json(await api('POST', '/api/v1/rooms/set/recordings'));
    expect(again.status).toBe(201);
    // Past ffmpeg's 2 s of input probing, or the file has no readable media yet (see the next test).
    await sleep(3500);
    expect((await json(await api('POST', `/api/v1/rooms/set/recordings/${again.body.id}/stop`))).body.status).toBe('finished');
  }, 60_000);

  it('reports a recording stopped before ffmpeg wrote readable media as failed', async () => {
    const started = await json(await api('POST', '/api/v1/rooms/set/recordings'));
    // At once: ffmpeg is still probing its input (analyzeduration 2 s) and has at most a partial header.
    const stopped = await json(await api('POST', `/api/v1/rooms/set/recordings/${started.body.id}/stop`));
    expect(stopped.body.status).toBe('failed');
    // Which words depend on how far ffmpeg got: no packets yet, a partial header, or an error exit.
    expect(stopped.body.error).toMatch(/no media was written|not readable media|ffmpeg failed/);
    expect((await api('GET', `/api/v1/recordings/${started.body.id}/file`)).status).toBe(stopped.body.bytes ? 200 : 410);
  }, 30_000);

  it('starts one recording when two requests arrive at once', async () => {
    const both = await Promise.all([api('POST', '/api/v1/rooms/set/recordings'), api('POST', '/api/v1/rooms/set/recordings', 'editor')]);
    expect(both.map((r) => r.status).sort()).toEqual([201, 409]);
    const started = (await both.find((r) => r.status === 201)!.json()) as Output;
    await api('POST', `/api/v1/rooms/set/recordings/${started.id}/stop`);
  }, 30_000);

  it('answers bad requests with problem JSON', async () => {
    const noRoom = await json(await api('POST', '/api/v1/rooms/empty/recordings'));
    expect(noRoom.status).toBe(409);
    expect(noRoom.body.detail).toMatch(/not live/);
    expect((await api('POST', '/api/v1/rooms/set/recordings', 'viewer')).status).toBe(403);
    expect((await api('POST', '/api/v1/rooms/set/recordings', 'stranger')).status).toBe(403);
    expect((await api('POST', '/api/v1/rooms/set/recordings?kind=video')).status).toBe(400);
    expect((await api('POST', '/api/v1/rooms/set/hls', 'editor')).status).toBe(403);
    expect((await api('GET', '/api/v1/recordings/not-an-id')).status).toBe(404);
    expect((await api('GET', '/api/v1/recordings/00000000-0000-4000-8000-000000000000/file')).status).toBe(404);
    expect((await api('POST', '/api/v1/rooms/set/recordings/00000000-0000-4000-8000-000000000000/stop')).status).toBe(404);
    expect((await api('DELETE', '/api/v1/rooms/set/hls')).status).toBe(404);
    const unauthenticated = await fetch(`${server.url}/api/v1/rooms/set/recordings`, { method: 'POST' });
    expect(unauthenticated.status).toBe(401);
    // Someone without a role on the room cannot read its recordings, even by id.
    const listed = await json(await api('GET', '/api/v1/rooms/set/recordings'));
    const someId = listed.body.recordings![0]!.id;
    expect((await api('GET', `/api/v1/recordings/${someId}`, 'stranger')).status).toBe(404);
  }, 30_000);

  it('serves HLS with two renditions and program date times while egress runs, and stops it', async () => {
    const started = await json(await api('POST', '/api/v1/rooms/set/hls'));
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ kind: 'hls', status: 'running', url: `/hls/${started.body.id}/master.m3u8` });
    expect((await api('POST', '/api/v1/rooms/set/hls')).status).toBe(409);
    const base = `${server.url}/hls/${started.body.id}`;
    // No token: HLS is public by its id.
    // ffmpeg writes the master playlist after the renditions' first playlists (CI once read it in between).
    await expect.poll(async () => (await fetch(`${base}/s0.m3u8`)).status, { timeout: 20_000, interval: 500 }).toBe(200);
    await expect.poll(async () => ((await (await fetch(`${base}/master.m3u8`)).text()).match(/#EXT-X-STREAM-INF/g) ?? []).length, { timeout: 20_000, interval: 250 }).toBe(2);
    await expect.poll(async () => ((await (await fetch(`${base}/s1.m3u8`)).text()).match(/\.m4s/g) ?? []).length, { timeout: 20_000, interval: 500 }).toBeGreaterThanOrEqual(2);
    const playlist = await (await fetch(`${base}/s1.m3u8`)).text();
    expect(playlist).toContain('#EXT-X-PROGRAM-DATE-TIME');
    const playlistResponse = await fetch(`${base}/s1.m3u8`);
    expect(playlistResponse.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(playlistResponse.headers.get('cache-control')).toBe('no-cache');
    const segment = playlist.split('\n').find((line) => line.endsWith('.m4s'))!;
    const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)![1]!;
    const init = Buffer.from(await (await fetch(`${base}/${map}`)).arrayBuffer());
    const media = Buffer.from(await (await fetch(`${base}/${segment}`)).arrayBuffer());
    const local = path.join(dir, 'segment.mp4');
    writeFileSync(local, Buffer.concat([init, media]));
    const kinds = probe(local).streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort();
    expect(kinds).toEqual(['audio/aac', 'video/h264']);

    expect((await fetch(`${base}/..%2Fsecret.m3u8`)).status).toBe(404);
    expect((await fetch(`${base}/master.txt`)).status).toBe(404);

    const stopped = await json(await api('DELETE', '/api/v1/rooms/set/hls'));
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ id: started.body.id, status: 'finished', url: null });
    expect((await fetch(`${base}/master.m3u8`)).status).toBe(404);
  }, 60_000);

  it('finishes what runs when the room closes, with the media it had', async () => {
    const closing = await server.veza.media!.room({ tenantId: 'default', roomId: 'closing', kind: 'live' });
    const tone = await startRtpSource(closing, 'audio');
    try {
      const started = await json(await api('POST', '/api/v1/rooms/closing/recordings'));
      expect(started.status).toBe(201);
      await sleep(1500);
      closing.close('test');
      // With no media any more, ffmpeg's RTP input times out after 10 s and finishes the file.
      await expect.poll(async () => (await json(await api('GET', `/api/v1/recordings/${started.body.id}`))).body.status, { timeout: 20_000, interval: 500 }).not.toBe('running');
      const row = (await json(await api('GET', `/api/v1/recordings/${started.body.id}`))).body;
      expect(row.status).toBe('finished');
      expect(row.bytes).toBeGreaterThan(0);
    } finally {
      await tone.stop();
    }
  }, 40_000);
});
