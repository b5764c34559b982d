import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bounceModule } from '../../src/bounce/module.js';
import type { Bounce } from '../../src/bounce/service.js';
import { locateBounceTools } from '../../src/bounce/tools.js';
import { collabModule } from '../../src/collab/module.js';
import { historyModule } from '../../src/history/module.js';
import { studioModule } from '../../src/studio/module.js';
import { StudioDoc } from '../../src/studio/model.js';
import { probeSeconds, rmsDb } from '../helpers/audio.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Bounces rendered for real (fluidsynth + a GM soundfont, FLAC through ffmpeg): a session of known
 * length at 120 bpm is bounced now and at an earlier version; the FLAC lasts as long as the session
 * was then and is not silent; progress ends at 1; the bounce took an automatic version; refusals.
 */
const tools = locateBounceTools();
if (!tools.available) {
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`bounce tools missing: ${tools.reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${tools.reason}: ${tools.fix}`);
}
const S = 'tune';
const modules = () => [collabModule, studioModule, historyModule, bounceModule] as const;

describe.skipIf(!tools.available)('bounces', () => {
  let node: TestNode;
  const tokens: Record<string, string> = {};
  const files = tempDir('bounce-audio');
  let firstVersion = '';
  const events: { bounceId: string; progress: number; state: string; audioCid?: string }[] = [];

  const call = async (method: string, url: string, user = 'ana', body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${node.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${tokens[user]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return res;
  };
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;
  const finished = async (id: string): Promise<Bounce> => {
    let last: Bounce | null = null;
    await waitFor(async () => {
      last = (await json(await call('GET', `/api/v1/bounces/${id}`))) as unknown as Bounce;
      return last.state !== 'running';
    }, `bounce ${id} to end`, 60_000);
    return last!;
  };
  const edit = (user: string, change: (s: StudioDoc) => void) => node.node.modules.api(collabModule).edit('default', S, user, (doc) => change(new StudioDoc(doc)));

  beforeAll(async () => {
    node = await startModules(modules, { 'collab-flush-ms': '5' });
    await node.node.bus.subscribe('bounce-test', async (event) => {
      if (event.type === 'bounce.progress') events.push(event.payload as (typeof events)[number]);
    });
    for (const user of ['ana', 'ben']) tokens[user] = await node.node.auth.sign({ sub: user, docs: { [S]: 'editor' } });
    tokens.vic = await node.node.auth.sign({ sub: 'vic', docs: { [S]: 'viewer' } });
    tokens.eve = await node.node.auth.sign({ sub: 'eve', docs: { other: 'owner' } });
    // 2 bars of 4/4 at 120 bpm (480 ticks a beat): 4 seconds.
    await edit('ana', (s) => {
      s.setTempo([{ tick: 0, bpm: 120 }]);
      const t = s.addTrack({ name: 'Keys' });
      const c = s.addClip(t, { name: 'Chords', start: 0, length: 3840 });
      s.addNotes(t, c, [
        { pitch: 60, start: 0, duration: 960, velocity: 100 },
        { pitch: 64, start: 960, duration: 960, velocity: 100 },
      ]);
    });
    const made = await call('POST', `/api/v1/sessions/${S}/versions`, 'ana', { label: 'Two bars' });
    firstVersion = String((await json(made)).id);
    // Then ben adds 2 more bars: 8 seconds.
    await edit('ben', (s) => {
      const t = s.addTrack({ name: 'Bass' });
      const c = s.addClip(t, { name: 'Line', start: 3840, length: 3840 });
      s.addNotes(t, c, [{ pitch: 36, start: 0, duration: 1920, velocity: 110 }]);
    });
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    files.remove();
  });

  it('bounces the session now to a FLAC that lasts as long as the session and is not silent', async () => {
    const res = await call('POST', `/api/v1/sessions/${S}/bounces`, 'ben');
    expect(res.status).toBe(202);
    const started = (await json(res)) as unknown as Bounce;
    expect(res.headers.get('location')).toBe(`/api/v1/bounces/${started.id}`);
    expect(started.state).toBe('running');
    const done = await finished(started.id);
    expect(done).toMatchObject({ state: 'done', progress: 1, error: null, durationMs: 8000 });
    expect(done.audioCid).toMatch(/^bafkrei[a-z2-7]+$/);
    expect(done.audioHash).toMatch(/^[0-9a-f]{64}$/);
    expect(done.stateHash).toMatch(/^[0-9a-f]{64}$/);
    // An automatic version with reason 'bounce' names what was bounced.
    const versions = (await json(await call('GET', `/api/v1/sessions/${S}/versions`))) as { versions: { id: string; reason: string | null }[] };
    expect(versions.versions.find((v) => v.id === done.versionId)?.reason).toBe('bounce');

    const audio = await call('GET', `/api/v1/bounces/${done.id}/audio`);
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toBe('audio/flac');
    const bytes = Buffer.from(await audio.arrayBuffer());
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('fLaC');
    const file = path.join(files.dir, 'now.flac');
    writeFileSync(file, bytes);
    expect(probeSeconds(file)).toBeCloseTo(8, 1);
    expect(rmsDb(file)).toBeGreaterThan(-45);

    // Its progress went out on the bus, rising to 1 with the audio's content id.
    await waitFor(() => events.some((e) => e.bounceId === done.id && e.state === 'done'), 'the done event');
    const mine = events.filter((e) => e.bounceId === done.id);
    expect(mine.map((e) => e.progress)).toEqual([...mine.map((e) => e.progress)].sort((a, b) => a - b));
    expect(mine.length).toBeGreaterThanOrEqual(3);
    expect(mine.at(-1)).toMatchObject({ progress: 1, state: 'done', audioCid: done.audioCid });
    const range = await call('GET', `/api/v1/bounces/${done.id}/audio`, 'vic', undefined, { range: 'bytes=0-3' });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).toString('ascii')).toBe('fLaC');
  });

  it('bounces a saved version as it was then', async () => {
    const res = await call('POST', `/api/v1/sessions/${S}/bounces`, 'ana', { versionId: firstVersion });
    expect(res.status).toBe(202);
    const done = await finished(String((await json(res)).id));
    expect(done).toMatchObject({ state: 'done', versionId: firstVersion, durationMs: 4000 });
    const file = path.join(files.dir, 'v1.flac');
    writeFileSync(file, Buffer.from(await (await call('GET', `/api/v1/bounces/${done.id}/audio`)).arrayBuffer()));
    expect(probeSeconds(file)).toBeCloseTo(4, 1);
    expect(rmsDb(file)).toBeGreaterThan(-45);
  });

  it('refuses viewers, strangers, bad bodies and unknown sessions, versions and bounces', async () => {
    expect((await call('POST', `/api/v1/sessions/${S}/bounces`, 'vic')).status).toBe(403);
    expect((await call('POST', `/api/v1/sessions/${S}/bounces`, 'eve')).status).toBe(403);
    const both = await call('POST', `/api/v1/sessions/${S}/bounces`, 'ana', { at: 1, versionId: '1' });
    expect(both.status).toBe(400);
    expect(both.headers.get('content-type')).toContain('application/problem+json');
    expect((await call('POST', `/api/v1/sessions/${S}/bounces`, 'ana', { versionId: '999999' })).status).toBe(404);
    // Before the first edit the session was empty.
    expect((await call('POST', `/api/v1/sessions/${S}/bounces`, 'ana', { at: 1 })).status).toBe(409);
    const stranger = await node.node.auth.sign({ sub: 'ana', docs: { ghost: 'owner' } });
    expect((await fetch(`${node.url}/api/v1/sessions/ghost/bounces`, { method: 'POST', headers: { authorization: `Bearer ${stranger}` } })).status).toBe(404);
    expect((await call('GET', '/api/v1/bounces/bnc_00000000000000000000000000000000')).status).toBe(404);
    expect((await call('GET', '/api/v1/bounces/nope')).status).toBe(404);
    expect((await fetch(`${node.url}/api/v1/bounces/nope`)).status).toBe(401);
  });
});

describe('bounces without fluidsynth', () => {
  it('is off with the reason and the command that installs it; its routes answer 503', async () => {
    expect(locateBounceTools({ PATH: '/nonexistent' })).toEqual({ available: false, reason: 'fluidsynth is not installed', fix: 'apt-get install fluidsynth timgm6mb-soundfont' });
    const empty = tempDir('no-sf2');
    if (tools.available) expect(locateBounceTools(process.env, empty.dir)).toMatchObject({ available: false, reason: `no General MIDI soundfont (.sf2) in ${empty.dir}` });
    empty.remove();
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    let node: TestNode;
    try {
      node = await startModules(modules);
    } finally {
      process.env.PATH = path;
    }
    try {
      expect(node.node.report.modules.find((m) => m.name === 'bounce')?.state).toEqual({ on: false, reason: 'fluidsynth is not installed', fix: 'apt-get install fluidsynth timgm6mb-soundfont' });
      const health = (await (await fetch(`${node.url}/healthz`)).json()) as Record<string, unknown>;
      expect(JSON.stringify(health)).toContain('fluidsynth is not installed');
      const token = await node.node.auth.sign({ sub: 'ana', docs: { '*': 'owner' } });
      const res = await fetch(`${node.url}/api/v1/sessions/x/bounces`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toContain('apt-get install fluidsynth timgm6mb-soundfont');
    } finally {
      await node.stop();
    }
  }, 30_000);
});
