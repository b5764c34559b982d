import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveRoom } from '../../src/media/live-room.js';
import { Recording, type RecordingResult } from '../../src/media/recording.js';
import { builtWorker } from '../helpers/media.js';
import { ffmpegAvailable, startFedRoom, startRtpSource, type FedRoom, type RtpSource } from '../helpers/rtp-source.js';
import { waitFor } from '../helpers/wait.js';

const worker = builtWorker();
const ready = worker !== null && ffmpegAvailable();

function probe(file: string): { duration: number; kinds: string[] } {
  const out = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type,codec_name', '-of', 'json', file], { encoding: 'utf8' });
  expect(out.status, out.stderr).toBe(0);
  const parsed = JSON.parse(out.stdout) as { format: { duration: string }; streams: { codec_type: string }[] };
  return { duration: Number(parsed.format.duration), kinds: parsed.streams.map((s) => s.codec_type).sort() };
}

describe.skipIf(!ready)('recording a live room with ffmpeg', () => {
  let fed: FedRoom;
  let room: LiveRoom;
  let sources: RtpSource[];
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'veza-rec-'));
    fed = await startFedRoom(worker!, 't1/rec-room');
    ({ room, sources } = fed);
  }, 30_000);

  afterAll(async () => {
    await fed?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records ~3 s of Opus + VP8 into a WebM that ffprobe reads', async () => {
    const file = path.join(dir, 'a.webm');
    const recording = await Recording.start(room, sources.map((s) => s.producer), { file });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const result = await recording.stop();
    expect(result.error).toBeNull();
    expect(result.status).toBe('finished');
    expect(result.bytes).toBeGreaterThan(1000);
    const { duration, kinds } = probe(file);
    console.info(`recorded ${result.durationMs} ms wall, file ${duration.toFixed(2)} s, ${result.bytes} bytes`);
    expect(kinds).toEqual(['audio', 'video']);
    expect(duration).toBeGreaterThan(1.5);
    expect(duration).toBeLessThan(6);
  }, 30_000);

  it('reports a recording whose ffmpeg is killed as failed, with the error', async () => {
    const file = path.join(dir, 'b.webm');
    let unexpected: RecordingResult | null = null;
    const recording = await Recording.start(room, [sources[0]!.producer], { file, onUnexpectedExit: (r) => (unexpected = r) });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const exited = new Promise((resolve) => recording.ffmpeg.once('exit', resolve));
    recording.ffmpeg.kill('SIGKILL');
    await exited;
    const result = await recording.stop();
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/ffmpeg exited before the recording was stopped.*SIGKILL/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unexpected).not.toBeNull();
    expect(unexpected!.status).toBe('failed');
  }, 30_000);

  it('kills an ffmpeg that cannot finish within the deadline it was stopped with (a room gone quiet), and says so', async () => {
    // Its own source, stopped before the recording is: no packet arrives any more, so ffmpeg would
    // notice the SIGINT only when its RTP input times out.
    const quiet = await startRtpSource(room, 'audio');
    const file = path.join(dir, 'quiet.webm');
    const recording = await Recording.start(room, [quiet.producer], { file });
    // Past probing its input, where a SIGINT still interrupts ffmpeg at once. ffmpeg creates the
    // output file once its input is probed, and starts transcoding right after; from then on one
    // SIGINT is noticed only at the next packet (or when the input times out).
    await waitFor(() => existsSync(file), 'ffmpeg to open the recording', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await quiet.stop();
    const result = await recording.stop({ killAfterMs: 300 });
    expect(recording.ffmpeg.signalCode).toBe('SIGKILL');
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/did not finish within 300 ms of being stopped and was killed/);
    // A later stop with another deadline returns the same result.
    expect(await recording.stop({ killAfterMs: 10 })).toBe(result);
  }, 30_000);

  it('lets media through only once ffmpeg has bound its ports, however slowly ffmpeg starts', async () => {
    // An ffmpeg that takes 1.5 s to start, as on a busy machine: media (and the keyframe asked for
    // with it) sent before its sockets exist would be lost.
    const slow = path.join(dir, 'slow-ffmpeg');
    writeFileSync(slow, '#!/bin/sh\nsleep 1.5\nexec ffmpeg "$@"\n', { mode: 0o755 });
    const before = process.env.FFMPEG_PATH;
    process.env.FFMPEG_PATH = slow;
    try {
      const file = path.join(dir, 'slow.webm');
      const began = Date.now();
      const recording = await Recording.start(room, sources.map((s) => s.producer), { file });
      const waited = Date.now() - began;
      // The ports ffmpeg was given (the SDP's m= lines, and RTCP on each port + 1) are bound now.
      const ports = [...readFileSync(`${file}.sdp`, 'utf8').matchAll(/^m=\w+ (\d+) /gm)].flatMap((m) => [Number(m[1]), Number(m[1]) + 1]);
      const bound = new Set(
        ['/proc/net/udp', '/proc/net/udp6'].flatMap((table) =>
          readFileSync(table, 'utf8').split('\n').slice(1).flatMap((line) => {
            const local = line.trim().split(/\s+/)[1];
            return local ? [parseInt(local.slice(local.lastIndexOf(':') + 1), 16)] : [];
          }),
        ),
      );
      expect(ports.length).toBe(2 * sources.length);
      expect(ports.filter((port) => !bound.has(port))).toEqual([]);
      expect(waited).toBeGreaterThanOrEqual(1500);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const result = await recording.stop();
      expect(result.status).toBe('finished');
      expect(probe(file).kinds).toEqual(['audio', 'video']);
    } finally {
      if (before === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = before;
    }
  }, 30_000);

  it('refuses to start without producers', async () => {
    await expect(Recording.start(room, [], { file: path.join(dir, 'c.webm') })).rejects.toThrow(/no producers/);
  });
});
