import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_MEDIA_COMMAND } from '../../src/media/worker-binary.js';
import { chromiumPath, launchChromium, serveBundle, type TestPage } from '../helpers/browser.js';
import { builtWorker } from '../helpers/media.js';
import { OPUS_RTP, RawPeer } from '../helpers/signaling-peer.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const worker = builtWorker();
const browserPath = worker ? chromiumPath() : null;

describe('the media route without a worker', () => {
  it('answers 503 at upgrade with the reason and the command that builds the worker', async () => {
    const saved = process.env.MEDIASOUP_WORKER_BIN;
    process.env.MEDIASOUP_WORKER_BIN = '/nonexistent/mediasoup-worker';
    let server: TestServer | null = null;
    try {
      server = await startTestServer();
      expect(server.veza.media).toBeNull();
      const token = await server.veza.auth.sign({ sub: 'ann', docs: { jam: 'owner' } });
      const refusal = (await RawPeer.open(`${server.url.replace('http', 'ws')}/media/jam?token=${token}`).catch((error: unknown) => error)) as { status: number; body: { detail: string } };
      expect(refusal.status).toBe(503);
      expect(refusal.body.detail).toContain('MEDIASOUP_WORKER_BIN /nonexistent/mediasoup-worker does not exist');
      expect(refusal.body.detail).toContain(BUILD_MEDIA_COMMAND);
    } finally {
      if (saved === undefined) delete process.env.MEDIASOUP_WORKER_BIN;
      else process.env.MEDIASOUP_WORKER_BIN = saved;
      await server?.stop();
    }
  });
});

describe.skipIf(!worker)('media signaling with the real worker', () => {
  let server: TestServer;
  let wsUrl: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    process.env.MEDIASOUP_WORKER_BIN = worker!;
    server = await startTestServer({ 'media-workers': '1', 'rate-limit-connections-per-minute': '0' });
    wsUrl = server.url.replace('http', 'ws');
    tokens.owner = await server.veza.auth.sign({ sub: 'ann', docs: { '*': 'owner' } });
    tokens.editor = await server.veza.auth.sign({ sub: 'bob', docs: { '*': 'editor' } });
    tokens.viewer = await server.veza.auth.sign({ sub: 'vic', docs: { '*': 'viewer' } });
    tokens.stranger = await server.veza.auth.sign({ sub: 'sam', docs: { other: 'owner' } });
  });

  afterAll(async () => {
    await server?.stop();
  });

  const open = (room: string, who: string) => RawPeer.open(`${wsUrl}/media/${room}?token=${tokens[who]}`);

  it('refuses a principal without a role on the room, and a room id that is not one', async () => {
    await expect(open('jam', 'stranger')).rejects.toMatchObject({ status: 403 });
    await expect(RawPeer.open(`${wsUrl}/media/${encodeURIComponent('a b')}?token=${tokens.owner}`)).rejects.toMatchObject({ status: 400 });
  });

  it('closes with 1002 and a reason on malformed JSON, and on a message that is not a request', async () => {
    const peer = await open('bad-json', 'owner');
    peer.ws.send('{not json');
    const closed = await peer.closed;
    expect(closed.code).toBe(1002);
    expect(closed.reason).toMatch(/^malformed request: /);
    const other = await open('bad-json', 'owner');
    other.ws.send(JSON.stringify({ method: 'produce' }));
    expect(await other.closed).toMatchObject({ code: 1002, reason: expect.stringContaining('not a request') });
  });

  it('answers bad requests with an error reply and keeps the connection, the server and the worker running', async () => {
    const pid = server.veza.media!.workers[0]!.pid;
    const owner = await open('errors', 'owner');
    const caps = await owner.ok('getRouterRtpCapabilities');
    expect((caps.codecs as { mimeType: string }[]).map((codec) => codec.mimeType)).toEqual(expect.arrayContaining(['audio/opus', 'video/VP8']));

    expect((await owner.request('fly', {})).error).toMatchObject({ code: 'unknown-method' });
    expect((await owner.request('createWebRtcTransport', { producing: 'yes' })).error).toMatchObject({ code: 'bad-request' });
    expect((await owner.request('connectWebRtcTransport', { transportId: 'nope', dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AB' }] } })).error).toMatchObject({ code: 'not-found' });
    expect((await owner.request('resumeConsumer', { consumerId: 'nope' })).error).toMatchObject({ code: 'not-found' });
    expect((await owner.request('closeProducer', { producerId: 'nope' })).error).toMatchObject({ code: 'not-found' });

    const transport = await owner.ok('createWebRtcTransport', { producing: true, consuming: false });
    expect(transport.iceCandidates).toEqual(expect.arrayContaining([expect.objectContaining({ ip: '127.0.0.1', protocol: 'udp' })]));
    const transportId = transport.id as string;
    // Malformed dtlsParameters: refused by validation before mediasoup sees them.
    expect((await owner.request('connectWebRtcTransport', { transportId, dtlsParameters: { fingerprints: [] } })).error).toMatchObject({ code: 'bad-request' });
    expect((await owner.request('connectWebRtcTransport', { transportId, dtlsParameters: { role: 'sideways', fingerprints: [{ algorithm: 'sha-256', value: 'AB' }] } })).error).toMatchObject({ code: 'bad-request' });
    // rtpParameters of the right shape that mediasoup refuses (TypeError, UnsupportedError): error replies.
    expect((await owner.request('produce', { transportId, kind: 'audio', rtpParameters: { codecs: 'opus' } })).error).toMatchObject({ code: 'bad-request' });
    const badMime = await owner.request('produce', { transportId, kind: 'audio', rtpParameters: { ...OPUS_RTP, codecs: [{ ...OPUS_RTP.codecs[0], mimeType: 'audio/' }] } });
    expect(badMime.error).toMatchObject({ code: 'invalid-parameters', message: expect.stringContaining('mimeType') });
    const unsupported = await owner.request('produce', { transportId, kind: 'audio', rtpParameters: { ...OPUS_RTP, codecs: [{ ...OPUS_RTP.codecs[0], mimeType: 'audio/NOPE' }] } });
    expect(unsupported.error).toMatchObject({ code: 'invalid-parameters' });
    const wrongKind = await owner.request('produce', { transportId, kind: 'video', rtpParameters: OPUS_RTP });
    expect(wrongKind.error).toMatchObject({ code: 'bad-request', message: expect.stringContaining('not a video codec') });
    expect((await owner.request('consume', { transportId, producerId: 'nope', rtpCapabilities: caps })).error).toMatchObject({ code: 'bad-request' });

    const viewer = await open('errors', 'viewer');
    expect((await viewer.request('createWebRtcTransport', { producing: true, consuming: false })).error).toMatchObject({ code: 'forbidden' });
    const recv = await viewer.ok('createWebRtcTransport', { producing: false, consuming: true });
    expect((await viewer.request('produce', { transportId: recv.id, kind: 'audio', rtpParameters: OPUS_RTP })).error).toMatchObject({ code: 'forbidden' });
    expect((await viewer.request('consume', { transportId: recv.id, producerId: 'nope', rtpCapabilities: caps })).error).toMatchObject({ code: 'not-found' });
    // Another peer's transport is unknown on this connection.
    expect((await viewer.request('connectWebRtcTransport', { transportId, dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AB' }] } })).error).toMatchObject({ code: 'not-found' });

    // Still answering, on the same connections and worker.
    await owner.ok('getRouterRtpCapabilities');
    await viewer.ok('getRouterRtpCapabilities');
    expect(server.veza.media!.workers[0]!.pid).toBe(pid);
    expect(server.veza.media!.workers[0]!.died).toBe(false);
    owner.close();
    viewer.close();
  });

  it('tells peers about producers, gives paused consumers, and cleans up when a peer leaves', async () => {
    const editor = await open('notify', 'editor');
    const viewer = await open('notify', 'viewer');
    const caps = await viewer.ok('getRouterRtpCapabilities');
    const send = await editor.ok('createWebRtcTransport', { producing: true, consuming: false });
    const produced = await editor.ok('produce', { transportId: send.id, kind: 'audio', rtpParameters: OPUS_RTP, appData: { source: 'mic' } });
    await expect.poll(() => viewer.notifications.find((n) => n.method === 'newProducer')).toMatchObject({ data: { producerId: produced.id, kind: 'audio', userId: 'bob', appData: { source: 'mic' } } });

    // A latecomer hears about what is already produced.
    const late = await open('notify', 'viewer');
    await expect.poll(() => late.notifications.find((n) => n.method === 'newProducer')).toMatchObject({ data: { producerId: produced.id } });

    const recv = await viewer.ok('createWebRtcTransport', { producing: false, consuming: true });
    expect((await viewer.request('consume', { transportId: recv.id, producerId: produced.id, rtpCapabilities: { codecs: [] } })).error).toMatchObject({ code: 'cannot-consume' });
    const consumer = await viewer.ok('consume', { transportId: recv.id, producerId: produced.id, rtpCapabilities: caps });
    expect(consumer).toMatchObject({ producerId: produced.id, kind: 'audio' });
    await viewer.ok('resumeConsumer', { consumerId: consumer.id });
    await viewer.ok('pauseConsumer', { consumerId: consumer.id });
    await editor.ok('pauseProducer', { producerId: produced.id });
    await editor.ok('resumeProducer', { producerId: produced.id });

    editor.close();
    await expect.poll(() => viewer.notifications.map((n) => n.method)).toEqual(expect.arrayContaining(['producerClosed', 'consumerClosed']));
    expect(viewer.notifications.find((n) => n.method === 'consumerClosed')).toMatchObject({ data: { consumerId: consumer.id, producerId: produced.id } });
    expect((await viewer.request('resumeConsumer', { consumerId: consumer.id })).error).toMatchObject({ code: 'not-found' });
    viewer.close();
    late.close();
    await expect.poll(() => server.veza.media!.roomCount).toBe(0);
  });

  it('closes the rooms of a worker that dies, starts a new worker, and keeps serving', async () => {
    const plane = server.veza.media!;
    const peer = await open('doomed', 'owner');
    await peer.ok('getRouterRtpCapabilities');
    const pid = plane.workers[0]!.pid;
    process.kill(pid, 'SIGKILL');
    expect(await peer.closed).toMatchObject({ code: 1011, reason: expect.stringContaining('media worker died') });
    await expect.poll(() => plane.workers[0]!.pid !== pid && !plane.workers[0]!.died, { timeout: 10_000 }).toBe(true);
    const again = await open('doomed', 'owner');
    await again.ok('getRouterRtpCapabilities');
    again.close();
  });

  describe.skipIf(!browserPath)('two Chromium peers', () => {
    let page: TestPage;

    beforeAll(async () => {
      page = await serveBundle(new URL('./browser-peer.ts', import.meta.url));
    });

    afterAll(async () => {
      await page?.close();
    });

    it('a publisher sends fake audio and video, and a viewer receives packets and decodes frames', { timeout: 60_000 }, async () => {
      const browser = await launchChromium(browserPath!);
      try {
        const context = await browser.newContext();
        const [publisher, viewer] = [await context.newPage(), await context.newPage()];
        const logs: string[] = [];
        for (const p of [publisher, viewer]) p.on('console', (message) => logs.push(message.text()));
        await Promise.all([publisher.goto(page.url), viewer.goto(page.url)]);
        const room = `live-${Date.now()}`;
        await viewer.evaluate(async ([url]) => (globalThis as unknown as { vezaPeer: (u: string, r: string) => Promise<void> }).vezaPeer(url!, 'consume'), [`${wsUrl}/media/${room}?token=${tokens.viewer}`]);
        await publisher.evaluate(async ([url]) => (globalThis as unknown as { vezaPeer: (u: string, r: string) => Promise<void> }).vezaPeer(url!, 'publish'), [`${wsUrl}/media/${room}?token=${tokens.owner}`]);

        type Stats = Record<string, { packetsReceived: number; framesDecoded: number }>;
        const stats = () => viewer.evaluate(() => (globalThis as unknown as { vezaStats: () => Promise<Stats> }).vezaStats());
        await expect
          .poll(async () => {
            const s = await stats();
            return (s.audio?.packetsReceived ?? 0) > 0 && (s.video?.packetsReceived ?? 0) > 0 && (s.video?.framesDecoded ?? 0) > 0;
          }, { timeout: 30_000, interval: 250 })
          .toBe(true);
        const report = await viewer.evaluate(() => (globalThis as unknown as { vezaReport: { consumers: { kind: string }[]; errors: string[] } }).vezaReport);
        expect(report.errors, logs.join('\n')).toEqual([]);
        expect(report.consumers.map((c) => c.kind).sort()).toEqual(['audio', 'video']);

        // The publisher leaves: the viewer is told its producers and consumers closed.
        await publisher.evaluate(() => (globalThis as unknown as { vezaLeave: () => void }).vezaLeave());
        await expect
          .poll(async () => {
            const r = await viewer.evaluate(() => (globalThis as unknown as { vezaReport: { notifications: { method: string }[] } }).vezaReport);
            return r.notifications.filter((n) => n.method === 'consumerClosed').length;
          }, { timeout: 10_000 })
          .toBe(2);
      } finally {
        await browser.close();
      }
    });
  });
});
