import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bounceModule } from '../../src/bounce/module.js';
import { collabModule } from '../../src/collab/module.js';
import { historyModule } from '../../src/history/module.js';
import { masteringModule } from '../../src/mastering/module.js';
import { studioModule } from '../../src/studio/module.js';
import { StudioDoc } from '../../src/studio/model.js';
import type { MasteringService, ProgressFrame } from '../../src/mastering/service.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { ebur128, materialMissing, sample } from './support.js';

/**
 * POST /api/v1/mastering end to end: an upload becomes a queued job whose progress streams over
 * /mastering/jobs/:id, whose master downloads and measures on target by ebur128; references; the
 * refusals (not audio, too long, unsupported format, bad options, another tenant's job); and jobs
 * that survive a restart of the node.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = any;
const json = async (response: Response): Promise<Body> => response.json();

/** Mastering takes session bounces too: the bounce module and what it uses are listed before it. */
const modules = () => [collabModule, studioModule, historyModule, bounceModule, masteringModule] as const;

describe.skipIf(materialMissing !== null)('mastering API', () => {
  const data = tempDir('mastering-api');
  const files = tempDir('mastering-api-files');
  let node: TestNode;
  let token: string;
  let otherTenant: string;
  const flags = { 'data-dir': data.dir, 'mastering-max-seconds': '20' };

  const post = (query: string, body: Buffer | string, type = 'audio/flac', auth = token) =>
    fetch(`${node.url}/api/v1/mastering${query}`, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': type }, body });
  const get = (p: string, auth = token) => fetch(`${node.url}${p}`, { headers: { authorization: `Bearer ${auth}` } });

  beforeAll(async () => {
    node = await startModules(modules, flags);
    token = await node.node.auth.sign({ sub: 'ana' });
    otherTenant = await node.node.auth.sign({ sub: 'bob', tenant: 'other' });
  }, 60_000);
  afterAll(async () => {
    await node.stop();
    data.remove();
    files.remove();
  });

  it('masters an upload: 202 with the job, progress over WebSocket, the master on target by ebur128', async () => {
    const response = await post('?target=-16&genre=percussion&format=flac&title=Tabla%20loop&name=tabla.flac', readFileSync(sample('loop_tabla')));
    expect(response.status).toBe(202);
    const job = await json(response);
    expect(response.headers.get('location')).toBe(`/api/v1/mastering/${job.id}`);
    expect(job).toMatchObject({ state: 'queued', options: { target: -16, genre: 'percussion', format: 'flac' }, input: { name: 'tabla.flac', container: 'flac' } });

    const frames: ProgressFrame[] = [];
    const socket = new WebSocket(`${node.url.replace('http', 'ws')}/mastering/jobs/${job.id}?token=${token}`);
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('message', (m) => frames.push(JSON.parse(String(m))));
    expect(await closed).toBe(1000);
    expect(frames.at(-1)).toMatchObject({ id: job.id, state: 'done', progress: 1 });
    const running = frames.filter((f) => f.state === 'running');
    // Progress only moves forward while the job runs.
    for (let i = 1; i < running.length; i++) expect(running[i]!.progress).toBeGreaterThanOrEqual(running[i - 1]!.progress);

    const status = await json(await get(`/api/v1/mastering/${job.id}`));
    expect(status.state).toBe('done');
    expect(status.result.converged).toBe(true);
    expect(status.result.before.thirdOctaves).toHaveLength(30);
    expect(status.result.after.shortTerm.length).toBeGreaterThan(10);
    expect(JSON.stringify(status)).not.toContain(data.dir);
    const master = await get(status.links.master);
    expect(master.status).toBe(200);
    expect(master.headers.get('content-type')).toBe('audio/flac');
    const out = path.join(files.dir, 'master.flac');
    writeFileSync(out, Buffer.from(await master.arrayBuffer()));
    const measured = ebur128(out);
    expect(Math.abs(measured.integrated + 16)).toBeLessThanOrEqual(0.2);
    expect(measured.truePeak).toBeLessThanOrEqual(-1);
    // The input stays for A/B listening; another tenant sees neither.
    expect((await get(`/api/v1/mastering/${job.id}/input`)).status).toBe(200);
    expect((await get(`/api/v1/mastering/${job.id}`, otherTenant)).status).toBe(404);
    expect((await get(`/api/v1/mastering/${job.id}/master`, otherTenant)).status).toBe(404);
  }, 120_000);

  it('masters toward an uploaded reference and reports the 1/3-octave deviation', async () => {
    const reference = await fetch(`${node.url}/api/v1/mastering/references`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/flac' }, body: readFileSync(sample('loop_amen_full')) });
    expect(reference.status).toBe(201);
    const { id } = await json(reference);
    const job = await json(await post(`?reference=${id}&format=wav16`, readFileSync(sample('loop_tabla'))));
    await (node.node.modules.api(masteringModule) as MasteringService).idle();
    const status = await json(await get(`/api/v1/mastering/${job.id}`));
    expect(status.state).toBe('done');
    expect(status.result.referenceDeviationDb).toBeLessThan(status.result.referenceDeviationBeforeDb);
    expect((await post(`?reference=00000000-0000-0000-0000-000000000000`, readFileSync(sample('loop_tabla')))).status).toBe(404);
  }, 120_000);

  it('refuses what is not audio, too long, in an unsupported format, or asked for wrongly', async () => {
    const problem = async (response: Response) => ({ status: response.status, body: await json(response) });
    const text = await problem(await post('', Buffer.from('this is not audio at all, just some words'), 'application/octet-stream'));
    expect(text).toMatchObject({ status: 422, body: { type: 'urn:veza:problem:not-audio' } });
    const picture = path.join(files.dir, 'still.png');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=red:s=16x16', '-frames:v', '1', picture]);
    const image = await problem(await post('', readFileSync(picture), 'image/png'));
    expect(image).toMatchObject({ status: 422, body: { type: 'urn:veza:problem:not-audio' } });
    expect(image.body.detail).toMatch(/no audio stream/);
    const long = path.join(files.dir, 'long.flac');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:d=25', long]);
    const tooLong = await problem(await post('', readFileSync(long)));
    expect(tooLong).toMatchObject({ status: 422, body: { type: 'urn:veza:problem:too-long' } });
    expect(tooLong.body.detail).toMatch(/limit is 20 s/);
    const au = path.join(files.dir, 'tone.au');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:d=2', au]);
    const unsupported = await problem(await post('', readFileSync(au), 'audio/basic'));
    expect(unsupported).toMatchObject({ status: 415, body: { type: 'urn:veza:problem:unsupported-media-type' } });
    expect(unsupported.body.detail).toMatch(/WAV, FLAC, MP3/);
    const audio = readFileSync(sample('bd_808'));
    expect((await problem(await post('?target=-40', audio))).body.detail).toMatch(/target must be/);
    expect((await post('?genre=polka', audio)).status).toBe(400);
    expect((await post('?format=ogg', audio)).status).toBe(400);
    // JSON names a session's bounce; anything else in it is refused.
    expect((await post('', '{"bounce":"x"}', 'application/json')).status).toBe(400);
    expect((await problem(await post('', '{"bounceId":"bnc_00000000000000000000000000000000"}', 'application/json'))).status).toBe(404);
    expect((await post('', Buffer.alloc(0))).status).toBe(400);
    expect((await fetch(`${node.url}/api/v1/mastering`, { method: 'POST', body: audio })).status).toBe(401);
    expect((await get('/api/v1/mastering/not-a-job')).status).toBe(404);
    // A refused upload leaves no job behind.
    const jobs = await (node.node.modules.api(masteringModule) as MasteringService).store.all();
    expect(jobs.every((j) => j.state === 'done')).toBe(true);
  }, 60_000);

  it('masters a session’s bounce by its id, and refuses a file on the node that is not audio', async () => {
    // Two bars of a bass line and a chord at 120 bpm, bounced by the bounce module.
    await node.node.modules.api(collabModule).edit('default', 'mastered', 'ana', (doc) => {
      const s = new StudioDoc(doc);
      s.setTempo([{ tick: 0, bpm: 120 }]);
      const keys = s.addTrack({ name: 'Keys' });
      const chords = s.addClip(keys, { name: 'Chords', start: 0, length: 3840 });
      s.addNotes(keys, chords, [60, 64, 67].map((pitch) => ({ pitch, start: 0, duration: 3840, velocity: 100 })));
      const bass = s.addTrack({ name: 'Bass' });
      const line = s.addClip(bass, { name: 'Line', start: 0, length: 3840 });
      s.addNotes(bass, line, [36, 43, 36, 43].map((pitch, i) => ({ pitch, start: i * 960, duration: 900, velocity: 110 })));
    });
    await node.node.modules.api(collabModule).persisted('default', 'mastered');
    const owner = await node.node.auth.sign({ sub: 'ana', docs: { mastered: 'owner' } });
    const bounced = await fetch(`${node.url}/api/v1/sessions/mastered/bounces`, { method: 'POST', headers: { authorization: `Bearer ${owner}` } });
    expect(bounced.status).toBe(202);
    const bounceId = (await json(bounced)).id as string;
    await waitFor(async () => (await json(await get(`/api/v1/bounces/${bounceId}`, owner))).state === 'done', 'the bounce', 60_000);

    const response = await post('?target=-14&genre=electronic&format=wav16', JSON.stringify({ bounceId }), 'application/json');
    expect(response.status).toBe(202);
    const job = await json(response);
    expect(job.input).toMatchObject({ name: 'mastered.flac', container: 'flac' });
    const service = node.node.modules.api(masteringModule) as MasteringService;
    await service.idle();
    expect(await json(await get(`/api/v1/mastering/${job.id}`))).toMatchObject({ state: 'done', result: { converged: true } });
    const master = path.join(files.dir, 'bounce-master.wav');
    writeFileSync(master, Buffer.from(await (await get(`/api/v1/mastering/${job.id}/master`)).arrayBuffer()));
    const measured = ebur128(master);
    expect(Math.abs(measured.integrated + 14)).toBeLessThanOrEqual(0.2);
    expect(measured.truePeak).toBeLessThanOrEqual(-1);

    const options = { target: -14, targetGiven: true, genre: 'hiphop', format: 'wav24' as const, metadata: {}, referenceId: null };
    await expect(service.submitFile('default', 'ana', 'x', path.join(import.meta.dirname, 'api.test.ts'), options)).rejects.toThrow(/not audio/);
    expect((await service.store.all()).some((j) => j.input.name === 'x')).toBe(false);
  }, 120_000);

  it('closes the progress socket of an unknown job with a reason', async () => {
    const socket = new WebSocket(`${node.url.replace('http', 'ws')}/mastering/jobs/00000000-0000-0000-0000-000000000000?token=${token}`);
    const [code, reason] = await new Promise<[number, string]>((resolve) => socket.on('close', (c, r) => resolve([c, String(r)])));
    expect(code).toBe(1008);
    expect(reason).toBe('no such mastering job');
  });

  it('keeps queued jobs across a restart and finishes them', async () => {
    const audio = readFileSync(sample('guit_em9'));
    const first = await json(await post('?target=-14&genre=acoustic', audio));
    const second = await json(await post('?target=-23&genre=acoustic&format=mp3', audio));
    // Stop while the first runs and the second waits: both are on disk, unfinished.
    await node.stop().catch(() => undefined);
    node = await startModules(modules, flags);
    const service = node.node.modules.api(masteringModule) as MasteringService;
    await waitFor(async () => (await service.store.get(second.id))?.state === 'done', 'the second job after the restart', 120_000);
    for (const id of [first.id, second.id]) {
      const status = await json(await get(`/api/v1/mastering/${id}`));
      expect(status.state).toBe('done');
      expect(status.result.converged).toBe(true);
    }
  }, 180_000);

  it('says on /healthz which ffmpeg the chain runs, its version and where it came from', async () => {
    const health = (await (await fetch(`${node.url}/healthz`)).json()) as { mastering: { ffmpeg: string; version: string; source: string; notes: string[] } };
    expect(health.mastering.ffmpeg).toMatch(/ffmpeg$/);
    expect(health.mastering.version).toMatch(/^\S+$/);
    expect(['ffmpeg-static', 'FFMPEG_PATH', 'VEZA_FFMPEG', 'PATH']).toContain(health.mastering.source);
    expect(Array.isArray(health.mastering.notes)).toBe(true);
  });
});
