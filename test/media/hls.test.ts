import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHls } from '../../src/media/hls.js';
import type { LiveRoom } from '../../src/media/live-room.js';
import { builtWorker } from '../helpers/media.js';
import { ffmpegAvailable, startFedRoom, type FedRoom, type RtpSource } from '../helpers/rtp-source.js';

const worker = builtWorker();
const ready = worker !== null && ffmpegAvailable();

describe.skipIf(!ready)('HLS egress of a live room', () => {
  let fed: FedRoom;
  let room: LiveRoom;
  let sources: RtpSource[];
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'veza-hls-'));
    fed = await startFedRoom(worker!, 't1/hls-room');
    ({ room, sources } = fed);
  }, 30_000);

  afterAll(async () => {
    await fed?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes a master playlist with two renditions, PROGRAM-DATE-TIME and segments ffprobe reads', async () => {
    const out = path.join(dir, 'hls');
    const egress = await startHls(room, sources.map((s) => s.producer), out);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const master = readFileSync(path.join(out, 'master.m3u8'), 'utf8');
    const media = readFileSync(path.join(out, 's0.m3u8'), 'utf8');
    const result = await egress.stop();
    expect(result.error).toBeNull();
    expect(master.match(/#EXT-X-STREAM-INF/g)?.length).toBe(2);
    expect(media).toMatch(/#EXT-X-PROGRAM-DATE-TIME:\d{4}-/);
    const segment = readdirSync(out).find((name) => /^s1_\d+\.m4s$/.test(name));
    expect(segment).toBeDefined();
    const joined = path.join(dir, 'joined.mp4');
    writeFileSync(joined, Buffer.concat([readFileSync(path.join(out, 'init_1.mp4')), readFileSync(path.join(out, segment!))]));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', joined], { encoding: 'utf8' });
    expect(probe.status, probe.stderr).toBe(0);
    expect(probe.stdout.trim().split('\n').sort()).toEqual(['audio', 'video']);
  }, 40_000);
});
