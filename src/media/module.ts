// Live media: mediasoup workers and rooms (voice in studios, DJ sets with cameras), the /media
// signaling socket, recordings and HLS through ffmpeg, and the stream events of live rooms.
import { collabModule } from '../collab/module.js';
import { defineModule } from '../modules/contract.js';
import type { Capability } from '../startup-report.js';
import { locateFfmpeg } from '../shared/ffmpeg-binary.js';
import { MediaOutputs } from './outputs.js';
import { MediaPlane } from './plane.js';
import { LiveService } from './room-events.js';
import { registerMediaRoutes } from './routes.js';
import { MediaSignaling } from './signaling.js';
import { locateMediaWorker } from './worker-binary.js';

export interface MediaApi {
  /** The mediasoup workers and live rooms; null when the worker is not built or did not start (/media answers 503). */
  plane: MediaPlane | null;
  /** Recordings and HLS egress of live rooms. */
  outputs: MediaOutputs;
  /** Stream and voice events, quality stats; null without a plane. */
  live: LiveService | null;
}

export const mediaModule = defineModule({
  name: 'media',
  settings: 'media',
  async start(ctx) {
    const { settings, deployment, storage, bus, logger } = ctx;
    const collab = ctx.use(collabModule);
    const binary = locateMediaWorker();
    const ffmpeg = locateFfmpeg();
    if (!ffmpeg.available) logger.warn({ reason: ffmpeg.reason, fix: ffmpeg.fix }, `recording and HLS unavailable: ${ffmpeg.reason}`);
    if (!binary.available) logger.warn({ reason: binary.reason, fix: binary.fix }, `media unavailable: ${binary.reason}; build the mediasoup worker with: ${binary.fix}`);
    const api: MediaApi = { plane: null, outputs: new MediaOutputs({ storage, bus, logger, dataDir: deployment.dataDir, plane: () => api.plane, ffmpeg }), live: null };
    // With Redis another node may be recording right now; alone, what is left running was abandoned.
    if (!deployment.redisUrl) {
      const abandoned = await api.outputs.markAbandoned();
      if (abandoned > 0) logger.warn({ abandoned }, 'recordings or HLS runs left running by a previous process were marked failed');
    }
    const signaling = new MediaSignaling({ ws: ctx.ws, logger, maxViewers: settings.maxViewers });
    let failure: string | null = null;
    if (binary.available) {
      try {
        api.plane = await MediaPlane.start({ settings, logger, workerBin: binary.path });
        api.live = new LiveService({ settings, plane: api.plane, bus, collab, logger });
        signaling.attach(api.plane);
        // Live rooms open on this node, for the tenants' rooms quota.
        api.plane.onRoom((room) => {
          ctx.ws.quotas.entered(room.info.tenantId, 'rooms');
          room.observe({ closed: () => ctx.ws.quotas.left(room.info.tenantId, 'rooms') });
        });
      } catch (error) {
        failure = (error as Error).message;
        logger.error({ err: error }, 'media plane could not start; /media answers 503');
        signaling.markUnavailable({ reason: `the mediasoup workers did not start: ${failure}`, fix: 'see the server log; check the worker with npm run build:media' });
      }
    } else {
      signaling.markUnavailable(binary);
    }
    const mediaState = (): Capability => {
      if (api.plane) return { on: true, detail: `${api.plane.workers.length} mediasoup worker${api.plane.workers.length === 1 ? '' : 's'} (voice, DJ rooms, cameras)` };
      if (binary.available) return { on: false, reason: 'the mediasoup workers did not start (see the log above)', fix: 'npm run build:media' };
      return { on: false, reason: binary.reason, fix: binary.fix };
    };
    const health = binary.available ? { available: true } : { available: false, reason: binary.reason, fix: binary.fix };
    return {
      api,
      routes: () => {
        signaling.registerRoutes();
        registerMediaRoutes(ctx.http, api.outputs);
      },
      health: [{ name: 'media', status: () => health }],
      report: () => [
        { name: 'live media', state: mediaState() },
        { name: 'recording, HLS', state: ffmpeg.available ? { on: true, detail: `ffmpeg ${ffmpeg.version}` } : { on: false, reason: ffmpeg.reason, fix: ffmpeg.fix } },
      ],
      // Outputs finish their files first, within what is left of the deadline less a second for the
      // steps after this one; then the room events stop, and the workers go last.
      close: async (deadline) => {
        await api.outputs.close(Math.max(0, deadline - Date.now() - 1000));
        api.live?.close();
        await api.plane?.close();
      },
    };
  },
});
