import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import type { types as ms } from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VezaEvent } from '../../src/events/catalog.js';
import { chromiumPath, pageApi, type TestPage } from '../helpers/browser.js';
import { builtWorker } from '../helpers/media.js';
import type { TestServer } from '../helpers/server.js';
import { startDjRig, type DjRig } from './dj-rig.js';
import type { ConsumerStats, DjApi } from './dj-peer.js';

const worker = builtWorker();
const browserPath = worker ? chromiumPath() : null;

const VIEWERS = 20;
/** Viewers share a few pages to spare the CPU; each still has its own socket, Device and RTCPeerConnection. */
const VIEWER_PAGES = 2;
/** Media flows this long to every viewer before the counts are compared. */
const MEDIA_MS = 4000;

const dj = (page: Page) => pageApi<DjApi>(page, 'vezaDj');

describe.skipIf(!worker || !browserPath)('a DJ set fanned out to 20 Chromium viewers', () => {
  let rig: DjRig;
  let server: TestServer;
  let bundle: TestPage;
  let browser: Browser;
  const events: VezaEvent[] = [];

  beforeAll(async () => {
    rig = await startDjRig(worker!, browserPath!);
    ({ server, bundle, browser } = rig);
    // stream.quality is published on demand below, not on a timer.
    await server.veza.bus.subscribe('fanout-test', (event) => {
      events.push(event);
    });
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
  });

  it('forwards the DJ\'s audio and video to every viewer without loss', { timeout: 90_000 }, async () => {
    const wsUrl = server.url.replace('http', 'ws');
    const room = `fanout-${Date.now()}`;
    const owner = await server.veza.auth.sign({ sub: 'dj', docs: { [room]: 'owner' } });
    const context = await browser.newContext();
    const logs: string[] = [];
    const pages: Page[] = [];
    for (let index = 0; index < 1 + VIEWER_PAGES; index++) {
      const page = await context.newPage();
      page.on('console', (message) => logs.push(`[page ${index}] ${message.text()}`));
      page.on('pageerror', (error) => logs.push(`[page ${index}] ${error.message}`));
      await page.goto(bundle.url);
      pages.push(page);
    }
    const [djPage, ...viewerPages] = pages as [Page, ...Page[]];

    const published = await dj(djPage)('publish', `${wsUrl}/media/${room}?token=${owner}`, { media: 'fake', cameras: 1 });
    expect(published.producers.map((p) => p.kind).sort()).toEqual(['audio', 'video']);
    const audioProducer = published.producers.find((p) => p.kind === 'audio')!.id;
    const videoProducer = published.producers.find((p) => p.kind === 'video')!.id;

    // Viewer i lives on page i % VIEWER_PAGES, as viewer number `slot` of that page.
    const viewers: { page: Page; slot: number; userId: string }[] = [];
    for (let index = 0; index < VIEWERS; index++) {
      const userId = `viewer-${index}`;
      const token = await server.veza.auth.sign({ sub: userId, docs: { [room]: 'viewer' } });
      const page = viewerPages[index % VIEWER_PAGES]!;
      const slot = await dj(page)('subscribe', `${wsUrl}/media/${room}?token=${token}`, {});
      viewers.push({ page, slot, userId });
    }

    const allStats = async (): Promise<ConsumerStats[][]> => {
      const perPage = await Promise.all(viewerPages.map((page) => dj(page)('allStats')));
      return viewers.map(({ page, slot }) => perPage[viewerPages.indexOf(page)]![slot]!);
    };
    const flowing = (stats: ConsumerStats[][]) =>
      stats.filter((consumers) => {
        const audio = consumers.find((c) => c.kind === 'audio');
        const video = consumers.find((c) => c.kind === 'video');
        return audio && video && audio.packetsReceived > 0 && video.packetsReceived > 0 && video.framesDecoded > 0;
      }).length;
    await expect.poll(async () => flowing(await allStats()), { timeout: 45_000, interval: 500 }).toBe(VIEWERS);
    await sleep(MEDIA_MS);

    // Stop forwarding at the SFU, let what is in flight land, then both ends hold still.
    await dj(djPage)('pauseOnServer');
    let settled = await allStats();
    await expect
      .poll(
        async () => {
          const now = await allStats();
          const same = JSON.stringify(now.map((v) => v.map((c) => c.packetsReceived))) === JSON.stringify(settled.map((v) => v.map((c) => c.packetsReceived)));
          settled = now;
          return same;
        },
        { timeout: 10_000, interval: 700 },
      )
      .toBe(true);

    const liveRoom = server.veza.media!.openRooms().find((r) => r.info.roomId === room)!;
    expect(liveRoom).toBeDefined();
    const sent = new Map<string, ms.ConsumerStat>();
    for (const peer of liveRoom.peers.values()) {
      for (const consumer of peer.consumers.values()) {
        const stat = (await consumer.getStats()).find((s): s is ms.ConsumerStat => s.type === 'outbound-rtp');
        if (stat) sent.set(consumer.id, stat);
      }
    }

    const summary = { audio: { received: 0, lost: 0, nacks: 0 }, video: { received: 0, lost: 0, nacks: 0, frames: 0 } };
    for (const [index, consumers] of settled.entries()) {
      const viewer = viewers[index]!;
      const report = await dj(viewer.page)('report', viewer.slot);
      expect(report.errors, logs.join('\n')).toEqual([]);
      expect(consumers.map((c) => c.kind).sort()).toEqual(['audio', 'video']);
      for (const consumer of consumers) {
        const sfu = sent.get(consumer.consumerId);
        expect(sfu, `server consumer ${consumer.consumerId} of ${viewer.userId}`).toBeDefined();
        // Every packet the SFU sent this viewer arrived, and none is missing from the sequence.
        expect({ viewer: viewer.userId, kind: consumer.kind, received: consumer.packetsReceived, lost: consumer.packetsLost, reportedLost: sfu!.packetsLost }).toEqual({
          viewer: viewer.userId,
          kind: consumer.kind,
          received: sfu!.packetCount,
          lost: 0,
          reportedLost: 0,
        });
        const totals = summary[consumer.kind as 'audio' | 'video'];
        totals.received += consumer.packetsReceived;
        totals.lost += consumer.packetsLost;
        totals.nacks += consumer.nackCount;
        if (consumer.kind === 'video') summary.video.frames += consumer.framesDecoded;
      }
      // What the server already tells a viewer: both producers, with who sent them, and the live camera.
      const newProducers = report.notifications.filter((n) => n.method === 'newProducer').map((n) => n.data);
      expect(newProducers).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ producerId: audioProducer, kind: 'audio', userId: 'dj', appData: expect.objectContaining({ source: 'music' }) }),
          expect.objectContaining({ producerId: videoProducer, kind: 'video', userId: 'dj', appData: expect.objectContaining({ source: 'camera' }) }),
        ]),
      );
      expect(report.notifications.filter((n) => n.method === 'liveCamera').at(-1)?.data).toEqual({ producerId: videoProducer });
    }
    expect(sent.size).toBe(2 * VIEWERS);

    // The events the server publishes for a live room: the stream started, each viewer joined once,
    // and a quality report whose per-consumer counts are the ones the viewers saw.
    const ofRoom = (type: VezaEvent['type']) => events.filter((e) => e.type === type && (e.payload as { roomId?: string }).roomId === room);
    expect(ofRoom('stream.started').map((e) => e.payload)).toEqual([{ roomId: room, streamerId: 'dj' }]);
    expect(ofRoom('stream.viewer.joined').map((e) => (e.payload as { viewerId: string }).viewerId).sort()).toEqual(viewers.map((v) => v.userId).sort());
    const [quality] = (await server.veza.live!.reportQuality()).filter((q) => q.roomId === room);
    await expect.poll(() => ofRoom('stream.quality').length).toBe(1);
    expect(ofRoom('stream.quality')[0]!.payload).toEqual(quality);
    const received = new Map(settled.flat().map((c) => [c.consumerId, c.packetsReceived]));
    expect(quality!.consumers).toHaveLength(2 * VIEWERS);
    for (const entry of quality!.consumers) {
      expect(entry).toMatchObject({ packetsSent: received.get(entry.consumerId), packetsLost: 0, fractionLost: 0 });
    }

    console.log(
      `fanout: ${VIEWERS} viewers x 2 consumers; audio ${summary.audio.received} packets (${Math.round(summary.audio.received / VIEWERS)}/viewer), lost ${summary.audio.lost}, nacks ${summary.audio.nacks}; ` +
        `video ${summary.video.received} packets (${Math.round(summary.video.received / VIEWERS)}/viewer), ${summary.video.frames} frames decoded, lost ${summary.video.lost}, nacks ${summary.video.nacks}; ` +
        `each viewer's count equals its server consumer's packetCount and stream.quality packetsSent`,
    );

    for (const page of viewerPages) await dj(page)('leaveViewers');
    await dj(djPage)('leaveDj');
    await expect.poll(() => server.veza.media!.existing({ tenantId: liveRoom.info.tenantId, roomId: room, kind: 'live' })).toBeNull();
    await expect.poll(() => ofRoom('stream.viewer.left').length).toBe(VIEWERS);
    expect(ofRoom('stream.ended')).toHaveLength(1);
    await context.close();
  });
});
