import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VezaEvent } from '../../src/events/catalog.js';
import { chromiumPath, launchChromium, serveBundle, type TestPage } from '../helpers/browser.js';
import { builtWorker } from '../helpers/media.js';
import { ffmpegAvailable, startRtpSource, type RtpSource } from '../helpers/rtp-source.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { OPUS_RTP, RawPeer } from '../helpers/signaling-peer.js';
import { connectClient, type Client } from '../helpers/yjs.js';

const worker = builtWorker();
const browserPath = worker ? chromiumPath() : null;
const withFfmpeg = worker !== null && ffmpegAvailable();

/** VP8 RTP parameters a raw peer can produce a camera with (no media flows). */
const vp8 = (ssrc: number) => ({
  mid: String(ssrc),
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc }],
  rtcp: { cname: 'raw-peer', reducedSize: true },
});

type PeerWindow = { vezaPeer: (url: string, role: string) => Promise<void>; vezaLeave: () => void; vezaStats: () => Promise<Record<string, { packetsReceived: number; framesDecoded: number }>> };
const peerOn = (page: Page, url: string, role: string) => page.evaluate(([u, r]) => (globalThis as unknown as PeerWindow).vezaPeer(u!, r!), [url, role]);

describe.skipIf(!worker)('live rooms: stream events, DJ rules, the live camera', () => {
  let server: TestServer;
  let wsUrl: string;
  const tokens: Record<string, string> = {};
  const events: VezaEvent[] = [];
  const of = (type: string, roomId: string) => events.filter((e) => e.type === type && 'roomId' in e.payload && e.payload.roomId === roomId);

  beforeAll(async () => {
    process.env.MEDIASOUP_WORKER_BIN = worker!;
    server = await startTestServer({ 'media-workers': '1', 'rate-limit-connections-per-minute': '0', 'media-stats-interval-ms': '0' });
    wsUrl = server.url.replace('http', 'ws');
    tokens.owner = await server.veza.auth.sign({ sub: 'dj', docs: { '*': 'owner' } });
    tokens.guest = await server.veza.auth.sign({ sub: 'guest', docs: { '*': 'editor' } });
    tokens.viewer = await server.veza.auth.sign({ sub: 'fan', docs: { '*': 'viewer' } });
    await server.veza.bus.subscribe('live-test', async (event) => void events.push(event));
  });

  afterAll(async () => {
    await server?.stop();
  });

  const open = (room: string, who: string, path = 'media') => RawPeer.open(`${wsUrl}/${path}/${room}?token=${tokens[who]}`);

  it('publishes stream.started/ended and viewers joining and leaving, once per user', async () => {
    const dj = await open('show', 'owner');
    const fan = await open('show', 'viewer');
    const fanAgain = await open('show', 'viewer');
    await expect.poll(() => of('stream.viewer.joined', 'show')).toHaveLength(1);
    expect(of('stream.viewer.joined', 'show')[0]).toMatchObject({ actor: 'fan', payload: { viewerId: 'fan' } });
    expect(of('stream.started', 'show')).toHaveLength(0);

    const send = await dj.ok('createWebRtcTransport', { producing: true, consuming: false });
    const music = await dj.ok('produce', { transportId: send.id, kind: 'audio', rtpParameters: OPUS_RTP, appData: { source: 'music' } });
    await expect.poll(() => of('stream.started', 'show')).toHaveLength(1);
    expect(of('stream.started', 'show')[0]).toMatchObject({ actor: 'dj', payload: { streamerId: 'dj' } });

    fanAgain.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(of('stream.viewer.left', 'show')).toHaveLength(0);
    fan.close();
    await expect.poll(() => of('stream.viewer.left', 'show')).toHaveLength(1);
    // How long the fan watched, from its first connection to its last one closing (it stayed through the wait above).
    const left = of('stream.viewer.left', 'show')[0]!.payload as { viewerId: string; watchedMs: number };
    expect(left.viewerId).toBe('fan');
    expect(left.watchedMs).toBeGreaterThanOrEqual(200);

    await dj.ok('closeProducer', { producerId: music.id });
    await expect.poll(() => of('stream.ended', 'show')).toHaveLength(1);
    expect((of('stream.ended', 'show')[0]!.payload as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
    dj.close();
  });

  it('lets the owner publish up to four cameras and guests only their voice; voice rooms carry audio only', async () => {
    const dj = await open('rules', 'owner');
    const guest = await open('rules', 'guest');
    const djSend = await dj.ok('createWebRtcTransport', { producing: true, consuming: false });
    const guestSend = await guest.ok('createWebRtcTransport', { producing: true, consuming: false });

    expect((await guest.request('produce', { transportId: guestSend.id, kind: 'video', rtpParameters: vp8(1), appData: { source: 'camera' } })).error).toMatchObject({ code: 'forbidden' });
    await guest.ok('produce', { transportId: guestSend.id, kind: 'audio', rtpParameters: OPUS_RTP, appData: { source: 'mic' } });
    expect((await dj.request('produce', { transportId: djSend.id, kind: 'video', rtpParameters: vp8(2), appData: { source: 'screen' } })).error).toMatchObject({ code: 'bad-request', message: expect.stringContaining('camera') });
    for (let i = 0; i < 4; i++) await dj.ok('produce', { transportId: djSend.id, kind: 'video', rtpParameters: vp8(10 + i), appData: { source: 'camera' } });
    expect((await dj.request('produce', { transportId: djSend.id, kind: 'video', rtpParameters: vp8(20), appData: { source: 'camera' } })).error).toMatchObject({ code: 'limit', message: expect.stringContaining('4 cameras') });

    const voice = await open('song', 'guest', 'voice');
    const voiceSend = await voice.ok('createWebRtcTransport', { producing: true, consuming: false });
    expect((await voice.request('produce', { transportId: voiceSend.id, kind: 'video', rtpParameters: vp8(30), appData: { source: 'camera' } })).error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('audio only') });
    await voice.ok('produce', { transportId: voiceSend.id, kind: 'audio', rtpParameters: OPUS_RTP });
    expect((await voice.request('setLiveCamera', { producerId: 'x' })).error).toMatchObject({ code: 'bad-request' });
    for (const peer of [dj, guest, voice]) peer.close();
  });

  it('keeps viewers on the live camera and switches all of them when the owner says so', async () => {
    const dj = await open('cams', 'owner');
    const fan = await open('cams', 'viewer');
    const send = await dj.ok('createWebRtcTransport', { producing: true, consuming: false });
    const cam1 = (await dj.ok('produce', { transportId: send.id, kind: 'video', rtpParameters: vp8(41), appData: { source: 'camera' } })).id as string;
    const cam2 = (await dj.ok('produce', { transportId: send.id, kind: 'video', rtpParameters: vp8(42), appData: { source: 'camera' } })).id as string;
    // The first camera went live by itself, and the viewer was told.
    await expect.poll(() => fan.notifications.find((n) => n.method === 'liveCamera')).toMatchObject({ data: { producerId: cam1 } });

    const caps = await fan.ok('getRouterRtpCapabilities');
    const recv = await fan.ok('createWebRtcTransport', { producing: false, consuming: true });
    const c1 = await fan.ok('consume', { transportId: recv.id, producerId: cam1, rtpCapabilities: caps });
    const c2 = await fan.ok('consume', { transportId: recv.id, producerId: cam2, rtpCapabilities: caps });
    expect(await fan.ok('resumeConsumer', { consumerId: c1.id })).toEqual({ paused: false });
    // Asked for, but held until it is live.
    expect(await fan.ok('resumeConsumer', { consumerId: c2.id })).toEqual({ paused: true });

    const room = server.veza.media!.existing({ tenantId: 'default', roomId: 'cams', kind: 'live' })!;
    const serverConsumer = (id: unknown) => [...room.peers.values()].flatMap((p) => [...p.consumers.values()]).find((c) => c.id === id)!;

    expect((await fan.request('setLiveCamera', { producerId: cam2 })).error).toMatchObject({ code: 'forbidden' });
    expect((await dj.request('setLiveCamera', { producerId: 'nope' })).error).toMatchObject({ code: 'not-found' });
    const mic = (await dj.ok('produce', { transportId: send.id, kind: 'audio', rtpParameters: OPUS_RTP, appData: { source: 'music' } })).id;
    expect((await dj.request('setLiveCamera', { producerId: mic })).error).toMatchObject({ code: 'bad-request' });
    expect((await fan.request('setPreferredLayers', { consumerId: c1.id, spatialLayer: 0 })).error).toMatchObject({ code: 'bad-request', message: expect.stringContaining('simple') });

    await dj.ok('setLiveCamera', { producerId: cam2 });
    await expect.poll(() => fan.notifications.filter((n) => n.method === 'liveCamera').at(-1)).toMatchObject({ data: { producerId: cam2 } });
    await expect.poll(() => [serverConsumer(c1.id).paused, serverConsumer(c2.id).paused]).toEqual([true, false]);

    // A viewer that paused a camera keeps it paused when it goes live.
    await fan.ok('pauseConsumer', { consumerId: c1.id });
    await dj.ok('setLiveCamera', { producerId: cam1 });
    await expect.poll(() => [serverConsumer(c1.id).paused, serverConsumer(c2.id).paused]).toEqual([true, true]);

    // The live camera closing hands over to the next one.
    await dj.ok('closeProducer', { producerId: cam1 });
    await expect.poll(() => fan.notifications.filter((n) => n.method === 'liveCamera').at(-1)).toMatchObject({ data: { producerId: cam2 } });
    expect(room.liveCamera).toBe(cam2);
    await expect.poll(() => serverConsumer(c2.id).paused).toBe(false);
    dj.close();
    fan.close();
  });

  it('has a room chat for everyone, kept for latecomers, and sends viewers past VEZA_MEDIA_MAX_VIEWERS to HLS', async () => {
    const small = await startTestServer({ 'media-workers': '1', 'media-max-viewers': '1', 'rate-limit-connections-per-minute': '0', 'media-stats-interval-ms': '0' });
    const url = (who: string) => `${small.url.replace('http', 'ws')}/media/club?token=${who}`;
    const fanToken = await small.veza.auth.sign({ sub: 'fan', docs: { '*': 'viewer' } });
    const otherToken = await small.veza.auth.sign({ sub: 'other', docs: { '*': 'viewer' } });
    const djToken = await small.veza.auth.sign({ sub: 'dj', docs: { '*': 'owner' } });
    try {
      const dj = await RawPeer.open(url(djToken));
      const fan = await RawPeer.open(url(fanToken));
      const other = await RawPeer.open(url(otherToken));
      await fan.ok('createWebRtcTransport', { producing: false, consuming: true });
      const refused = await other.request('createWebRtcTransport', { producing: false, consuming: true });
      expect(refused.error).toMatchObject({ code: 'room-full', message: expect.stringContaining('/api/v1/rooms/club/hls') });
      // The owner is not a viewer: it may still receive.
      await dj.ok('createWebRtcTransport', { producing: false, consuming: true });

      // The viewer sent to HLS still chats on its connection.
      await other.ok('chat', { text: '  what a set  ' });
      for (const peer of [dj, fan, other]) await expect.poll(() => peer.notifications.find((n) => n.method === 'chat')).toMatchObject({ data: { userId: 'other', text: 'what a set' } });
      expect((await other.request('chat', { text: '   ' })).error).toMatchObject({ code: 'bad-request' });
      expect((await other.request('chat', { text: 'x'.repeat(501) })).error).toMatchObject({ code: 'bad-request' });
      const late = await RawPeer.open(url(fanToken));
      await expect.poll(() => late.notifications.filter((n) => n.method === 'chat').map((n) => n.data!.text)).toEqual(['what a set']);
      for (const peer of [dj, fan, other, late]) peer.close();
    } finally {
      await small.stop();
    }
  });

  describe.skipIf(!browserPath)('with Chromium', () => {
    let page: TestPage;
    let browser: Browser;

    beforeAll(async () => {
      page = await serveBundle(new URL('./browser-peer.ts', import.meta.url));
      browser = await launchChromium(browserPath!);
    }, 30_000);

    afterAll(async () => {
      await browser?.close();
      await page?.close();
    });

    it('shows who talks in the studio session: awareness from the voice room, and voice.speaker.changed events', { timeout: 60_000 }, async () => {
      const session = `jam-${Date.now()}`;
      let listener: Client | null = null;
      const context = await browser.newContext();
      try {
        // A collaborator with the session open (a y-websocket client) watches the awareness.
        listener = await connectClient(server.url, session, tokens.viewer!);
        const voiceState = () => {
          for (const state of listener!.provider.awareness.getStates().values()) if (state.voice) return state.voice as { inCall: string[]; speaking: string[]; activeSpeaker: string | null };
          return null;
        };
        const talker = await context.newPage();
        await talker.goto(page.url);
        // The guest talks into the fake microphone (Chromium's beeps).
        await peerOn(talker, `${wsUrl}/voice/${session}?token=${tokens.guest}`, 'publish-audio');
        await expect.poll(() => voiceState()?.inCall, { timeout: 10_000 }).toEqual(['guest']);
        await expect.poll(() => voiceState()?.activeSpeaker, { timeout: 20_000 }).toBe('guest');
        await expect.poll(() => events.find((e) => e.type === 'voice.speaker.changed' && e.payload.sessionId === session)).toMatchObject({ actor: 'guest', payload: { userId: 'guest' } });
        await expect.poll(() => voiceState()?.speaking, { timeout: 20_000 }).toContain('guest');

        await talker.evaluate(() => (globalThis as unknown as PeerWindow).vezaLeave());
        // The room empties and closes: the server's entry goes away, and nobody is speaking.
        await expect.poll(() => voiceState(), { timeout: 10_000 }).toBeNull();
        await expect.poll(() => events.filter((e) => e.type === 'voice.speaker.changed' && e.payload.sessionId === session).at(-1)?.payload).toMatchObject({ userId: null });
      } finally {
        listener?.destroy();
        await context.close();
      }
    });

    it.skipIf(!withFfmpeg)('moves viewers past a router\'s limit to a router on another worker (pipeToRouter) and reports their quality', { timeout: 90_000 }, async () => {
      const overflow = await startTestServer({ 'media-workers': '2', 'media-router-max-consumers': '1', 'rate-limit-connections-per-minute': '0', 'media-stats-interval-ms': '0' });
      const viewerToken = await overflow.veza.auth.sign({ sub: 'fan', docs: { '*': 'viewer' } });
      const sources: RtpSource[] = [];
      const context = await browser.newContext();
      try {
        // The DJ's set arrives over plain RTP from ffmpeg (an encoder pushing to the room).
        const room = await overflow.veza.media!.room({ tenantId: 'default', roomId: 'big', kind: 'live' });
        sources.push(await startRtpSource(room, 'audio', { userId: 'dj', role: 'owner' }), await startRtpSource(room, 'video', { userId: 'dj', role: 'owner' }));
        const url = `${overflow.url.replace('http', 'ws')}/media/big?token=${viewerToken}`;
        const viewers = [await context.newPage(), await context.newPage()];
        for (const viewer of viewers) {
          await viewer.goto(page.url);
          await peerOn(viewer, url, 'consume');
          await expect.poll(async () => (await viewer.evaluate(() => (globalThis as unknown as PeerWindow).vezaStats())).video?.framesDecoded ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
        }
        expect(room.routers).toHaveLength(2);
        const workers = overflow.veza.media!.workers;
        expect(new Set(workers.map((w) => w.pid)).size).toBe(2);
        // Each viewer's frames came through its own router; the second one's through the pipe.
        const second = await viewers[1]!.evaluate(() => (globalThis as unknown as PeerWindow).vezaStats());
        expect(second.audio?.packetsReceived).toBeGreaterThan(0);
        const piped = (await room.routers[1]!.dump()) as unknown as { transportIds: string[] };
        expect(piped.transportIds.length).toBeGreaterThanOrEqual(2); // the viewer's WebRTC transport and the pipe

        const quality = await overflow.veza.live!.reportQuality();
        const entries = quality.find((q) => q.roomId === 'big')!.consumers;
        expect(entries.map((e) => e.kind).sort()).toEqual(['audio', 'audio', 'video', 'video']);
        for (const entry of entries) {
          expect(entry).toMatchObject({ userId: 'fan', fractionLost: 0 });
          expect(entry.packetsSent).toBeGreaterThan(0);
          expect(entry.bitrate).toBeGreaterThan(0);
          expect(entry.jitterMs).toBeGreaterThanOrEqual(0);
        }
        const published: VezaEvent[] = [];
        await overflow.veza.bus.subscribe('quality', async (event) => void published.push(event), { types: ['stream.quality'] });
        await overflow.veza.live!.reportQuality();
        await expect.poll(() => published.length).toBeGreaterThan(0);
      } finally {
        await context.close();
        for (const source of sources) await source.stop();
        await overflow.stop();
      }
    });
  });
});
