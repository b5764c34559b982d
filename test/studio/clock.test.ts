import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { beatAt, ClockEstimator, clockRequest, playedSpans, preciseNow, rawBeatAt, readClockAnswer, startTransport, stopTransport } from '../../src/studio/clock.js';
import { StudioDoc } from '../../src/studio/model.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

/**
 * The shared beat clock over the real /collab socket: two clients whose clocks are off by seconds,
 * behind links with jittery delays (added in both directions by the test), estimate the server's
 * clock and must compute the same beat for the same instant.
 */
let server: TestServer;
let token: string;
const doc = 'clock-song';

beforeAll(async () => {
  server = await startTestServer();
  token = await server.veza.auth.sign({ sub: 'dj', docs: { [doc]: 'owner' } });
});
afterAll(() => server?.stop());

/** A seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A client whose clock reads `skewMs` off the true time, sending `samples` clock requests through
 * a link that delays each direction by 0 or, half the time, up to `jitterMs` more.
 */
async function estimateOffset(skewMs: number, seed: number, samples = 24, jitterMs = 30): Promise<ClockEstimator> {
  const rand = random(seed);
  const delay = () => (rand() < 0.5 ? 0 : rand() * jitterMs);
  const localNow = () => preciseNow() + skewMs;
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/collab/${doc}?token=${token}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const estimator = new ClockEstimator(samples);
  const pending = new Map<number, (answer: { sentAt: number; serverTime: number }) => void>();
  ws.on('message', (data: Buffer) => {
    const answer = readClockAnswer(new Uint8Array(data));
    if (!answer) return;
    // The downlink delay: the answer "arrives" later.
    void sleep(delay()).then(() => pending.get(answer.sentAt)?.(answer));
  });
  for (let i = 0; i < samples; i++) {
    const sentAt = localNow();
    const answered = new Promise<{ sentAt: number; serverTime: number }>((resolve) => pending.set(sentAt, resolve));
    await sleep(delay()); // uplink delay
    ws.send(clockRequest(sentAt));
    const answer = await answered;
    estimator.add({ sentAt: answer.sentAt, serverTime: answer.serverTime, receivedAt: localNow() });
  }
  ws.close();
  return estimator;
}

describe('shared beat clock', () => {
  it('two clients with clocks 4.2 s ahead and 2.7 s behind agree on the beat within 5 ms', async () => {
    const [ahead, behind] = await Promise.all([estimateOffset(4200, 1), estimateOffset(-2700, 2)]);
    expect(ahead.size).toBe(24);
    // The offset each learned is the negative of its skew, to within its round trip's uncertainty.
    expect(Math.abs(ahead.offset()! + 4200)).toBeLessThanOrEqual(ahead.uncertainty()! + 0.5);
    expect(Math.abs(behind.offset()! - 2700)).toBeLessThanOrEqual(behind.uncertainty()! + 0.5);

    // The transport lives in the document: one client starts playback at 93 bpm from beat 8.
    const writer = await connectClient(server.url, doc, token);
    const studio = new StudioDoc(writer.doc);
    studio.setTransport(startTransport(93, 8, ahead.serverNow(preciseNow() + 4200)));
    const reader = await connectClient(server.url, doc, token);
    await waitFor(() => new StudioDoc(reader.doc).transport().playing, 'the transport to reach the other client');
    const transport = new StudioDoc(reader.doc).transport();

    // The same true instant, read on each client's own (skewed) clock.
    const trueNow = preciseNow();
    const beatAhead = beatAt(transport, ahead.serverNow(trueNow + 4200));
    const beatBehind = beatAt(transport, behind.serverNow(trueNow - 2700));
    const msApart = (Math.abs(beatAhead - beatBehind) * 60_000) / transport.bpm;
    expect(msApart).toBeLessThan(5);
    expect(beatAhead).toBeGreaterThanOrEqual(8);
    writer.destroy();
    reader.destroy();
  });

  it('stops at the beat reached and restarts from it', () => {
    const studio = new StudioDoc(new Y.Doc());
    studio.setTransport(startTransport(120, 0, 1_000_000));
    expect(beatAt(studio.transport(), 1_000_000 + 1500)).toBeCloseTo(3, 9);
    studio.setTransport(stopTransport(studio.transport(), 1_000_000 + 2000));
    expect(beatAt(studio.transport(), 9_999_999)).toBeCloseTo(4, 9);
    studio.setTransport(startTransport(60, studio.transport().stoppedAtBeat, 2_000_000));
    expect(beatAt(studio.transport(), 2_000_000 + 1000)).toBeCloseTo(5, 9);
  });

  it('loops: playback that reaches the loop end goes on from its start, the same beat for everyone', () => {
    const studio = new StudioDoc(new Y.Doc());
    studio.setTransport({ looping: true, loopStart: 4, loopEnd: 8 });
    // 120 BPM: a beat every 500 ms, from beat 2.
    studio.setTransport(startTransport(120, 2, 1_000_000));
    const at = (ms: number) => beatAt(studio.transport(), 1_000_000 + ms);
    expect(at(1000)).toBeCloseTo(4, 9);
    expect(at(2999)).toBeCloseTo(7.998, 9);
    expect(at(3000)).toBeCloseTo(4, 9); // raw beat 8: the loop again
    expect(at(3000 + 4 * 500 * 10 + 250)).toBeCloseTo(4.5, 9); // ten passes later
    // Stopped inside the loop, and started again from there: it keeps looping.
    studio.setTransport(stopTransport(studio.transport(), 1_000_000 + 3750));
    expect(studio.transport().stoppedAtBeat).toBeCloseTo(5.5, 9);
    studio.setTransport(startTransport(60, studio.transport().stoppedAtBeat, 2_000_000));
    expect(beatAt(studio.transport(), 2_000_000 + 3000)).toBeCloseTo(4.5, 9);
    // Started past the loop's end, playback goes on through the timeline.
    studio.setTransport(startTransport(120, 10, 3_000_000));
    expect(beatAt(studio.transport(), 3_000_000 + 1000)).toBeCloseTo(12, 9);
    // Loop off: the timeline.
    studio.setTransport({ looping: false });
    studio.setTransport(startTransport(120, 2, 4_000_000));
    expect(beatAt(studio.transport(), 4_000_000 + 5000)).toBeCloseTo(12, 9);
  });

  it('splits a scheduling window at the loop end into spans that cover it exactly', () => {
    const studio = new StudioDoc(new Y.Doc());
    studio.setTransport({ looping: true, loopStart: 1, loopEnd: 2 });
    studio.setTransport(startTransport(120, 0, 0));
    const transport = studio.transport();
    expect(playedSpans(transport, 0.5, 1.5)).toEqual([{ from: 0.5, to: 1.5, offset: 0 }]);
    expect(playedSpans(transport, 1.75, 4.25)).toEqual([
      { from: 1.75, to: 2, offset: 0 },
      { from: 1, to: 2, offset: 1 },
      { from: 1, to: 2, offset: 2 },
      { from: 1, to: 1.25, offset: 3 },
    ]);
    // Each span's raw beats follow the last one's, and every beat heard is where beatAt says it is.
    for (const [from, to] of [[0, 7.3], [3.1, 3.4], [5.9, 6.2]] as const) {
      const spans = playedSpans(transport, from, to);
      let raw = from;
      for (const span of spans) {
        expect(span.from + span.offset).toBeCloseTo(raw, 9);
        const heardAt = (span.from + span.offset) * 500; // ms after beat 0
        expect(beatAt(transport, heardAt + 1e-6)).toBeCloseTo(span.from, 5);
        raw = span.to + span.offset;
      }
      expect(raw).toBeCloseTo(to, 9);
    }
    expect(rawBeatAt(transport, 3500)).toBeCloseTo(7, 9);
    expect(playedSpans(transport, 2, 2)).toEqual([]);
  });

  it('refuses a loop shorter than a quarter beat and a tempo outside 20–300 BPM, keeping the transport', () => {
    const studio = new StudioDoc(new Y.Doc());
    studio.setTransport({ loopStart: 8, loopEnd: 16, bpm: 100 });
    expect(() => studio.setTransport({ loopEnd: 8.1 })).toThrow('the loop must end at least 0.25 beat after it starts (8 to 8.1)');
    expect(() => studio.setTransport({ loopStart: 20 })).toThrow(/the loop must end/);
    expect(() => studio.setTransport({ bpm: 999 })).toThrow('bpm must be a number from 20 to 300, not 999');
    expect(() => studio.setTransport({ looping: 'yes' as unknown as boolean })).toThrow('looping must be true or false');
    expect(studio.transport()).toMatchObject({ bpm: 100, loopStart: 8, loopEnd: 16, looping: false });
  });

  it('answers clock requests before the document has loaded, and closes on a truncated one', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/collab/clock-fresh?token=${await server.veza.auth.sign({ sub: 'dj', docs: { '*': 'viewer' } })}`);
    const answers: number[] = [];
    ws.on('message', (data: Buffer) => {
      const answer = readClockAnswer(new Uint8Array(data));
      if (answer) answers.push(answer.sentAt);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(clockRequest(12345.5));
    await waitFor(() => answers.includes(12345.5), 'the clock answer');
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(clockRequest(1).subarray(0, 4));
    expect(await closed).toBe(1002);
  });
});

describe('message types other modules answer on /collab', () => {
  it('answers a registered type at once, passes the rest to the room, and refuses to give away y-websocket\'s types', async () => {
    const collab = server.veza.collab;
    for (const type of [0, 1, 2, 3]) expect(() => collab.registerMessageType(type, (m) => m)).toThrow(/y-websocket's own/);
    expect(() => collab.registerMessageType(100, (m) => m)).toThrow(/registered already/); // the beat clock's
    // A two-byte varuint type (300) that echoes what follows it, reversed; a message ending at the type is malformed.
    collab.registerMessageType(300, (message) => {
      const body = message.subarray(2);
      if (body.length === 0) throw new RangeError('nothing to echo');
      return Uint8Array.from([0xac, 0x02, ...[...body].reverse()]);
    });
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/collab/echo-song?token=${await server.veza.auth.sign({ sub: 'dj', docs: { '*': 'owner' } })}`);
    const received: Uint8Array[] = [];
    ws.on('message', (data: Buffer) => received.push(new Uint8Array(data)));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(Uint8Array.from([0xac, 0x02, 1, 2, 3]));
    await waitFor(() => received.some((m) => m[0] === 0xac), 'the echo');
    expect([...received.find((m) => m[0] === 0xac)!]).toEqual([0xac, 0x02, 3, 2, 1]);
    // Still a y-websocket session: the document syncs after the extension message.
    const client = await connectClient(server.url, 'echo-song', await server.veza.auth.sign({ sub: 'dj', docs: { '*': 'owner' } }));
    try {
      client.doc.getMap('m').set('k', 'v');
      const before = received.length;
      // A sync update (type 0, sub-type 2), not the new client's presence.
      await waitFor(() => received.slice(before).some((m) => m[0] === 0 && m[1] === 2), 'the edit forwarded to the first socket');
    } finally {
      client.destroy();
    }
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.send(Uint8Array.from([0xac, 0x02]));
    expect(await closed).toEqual({ code: 1002, reason: 'malformed message: nothing to echo' });
  });
});
