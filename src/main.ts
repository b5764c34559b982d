import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { registerAutomerge } from './automerge/service.js';
import { consumerPlacement, hostConsumers, type ConsumerHost } from './consumers/host.js';
import { CollabService } from './collab/service.js';
import type { Config } from './config.js';
import type { EventBus } from './events/bus.js';
import { registerEventRoutes } from './events/http.js';
import { LinkedBus } from './events/linked-bus.js';
import { MemoryBus } from './events/memory-bus.js';
import { DatabaseParkingLot } from './events/parking.js';
import { RedisBus } from './events/redis-bus.js';
import { createLogger, type Logger } from './log.js';
import { LiveService } from './media/room-events.js';
import { MediaOutputs } from './media/outputs.js';
import { MediaPlane } from './media/plane.js';
import { registerMediaRoutes } from './media/routes.js';
import { MediaSignaling } from './media/signaling.js';
import { locateMediaWorker } from './media/worker-binary.js';
import { locateFfmpeg } from './media/ffmpeg-binary.js';
import { VezaServer } from './server/app.js';
import { Authenticator } from './server/auth.js';
import { registerHealthRoutes, registerIdentityRoute } from './server/routes.js';
import { ServerMetrics } from './server/metrics.js';
import { startTracing } from './server/tracing.js';
import { uwsImplementation, uwsUnusableReason } from './server/uws.js';
import { registerDevSignIn, registerWebClient } from './server/web.js';
import { Storage } from './storage/database.js';
import { GamificationService } from './gamification/service.js';
import { registerGamificationRoutes } from './gamification/routes.js';
import { InsightsService } from './insights/service.js';
import { registerInsightsRoutes } from './insights/routes.js';
import { RecommendationService } from './recommendations/service.js';
import { registerRecommendationRoutes } from './recommendations/routes.js';
import { answerClockRequest, CLOCK_MESSAGE, preciseNow } from './studio/clock.js';
import { ReplayService } from './studio/replay-service.js';
import { ReplayStore } from './studio/replay-store.js';
import { registerStudioRoutes } from './studio/routes.js';
import { importExampleSessions } from './sessions/examples.js';
import { registerSessionBundleRoutes } from './sessions/routes.js';
import { SessionBundles } from './sessions/store.js';
import { openUrl, shownDir, type Capability, type StartupReport } from './startup-report.js';
import { VERSION } from './version.js';

export interface Veza {
  config: Config;
  logger: Logger;
  port: number;
  storage: Storage;
  bus: EventBus;
  auth: Authenticator;
  server: VezaServer;
  metrics: ServerMetrics;
  collab: CollabService;
  /** The mediasoup workers and live rooms; null when the worker is not built (the media route answers 503). */
  media: MediaPlane | null;
  /** Recordings and HLS egress of live rooms. */
  outputs: MediaOutputs;
  /** Stream and voice events, quality stats; null without a media plane. */
  live: LiveService | null;
  /** Signals, training jobs, serving and experiments of the recommendations module. */
  recommendations: RecommendationService;
  /** Creator insights: the rollups' writer, queries and live dashboards. */
  insights: InsightsService;
  /** Achievements, quests, leaderboards and tips. */
  gamification: GamificationService;
  /** What started and what did not (printed by `veza serve` in development mode or on a terminal). */
  report: StartupReport;
  /** Stops accepting, drains requests, flushes the bus and storage. False if the deadline passed. */
  shutdown(): Promise<boolean>;
}

export interface StartOptions {
  logger?: Logger;
  /** Spans go here instead of OTLP (tests). */
  spanExporter?: SpanExporter;
  /** Called with the consumers thread each time it starts (tests end it to see it restart). */
  onConsumerThread?: (worker: Worker) => void;
}

/** Builds the whole server from a config: storage (migrated), auth, bus, routes; then listens. */
export async function startVeza(config: Config, options: StartOptions = {}): Promise<Veza> {
  const logger = options.logger ?? createLogger(config.server);
  const startedAt = Date.now();
  const bootMs = Math.round(performance.now());
  const unusable = uwsUnusableReason();
  if (unusable) throw new Error(unusable);
  const storage = await Storage.open(config.storage);
  // Closed last-opened first: the bus finishes its handlers while tracing and storage still work.
  const cleanups: (() => Promise<unknown>)[] = [() => storage.close()];
  /** When shutdown must be over (set as it begins); the cleanups that wait on children read it. */
  let stopDeadline: number | null = null;
  try {
    const storageOpenedAt = Date.now();
    const applied = await storage.migrate();
    // From the process's start to here: Node, the loader and every module's import.
    const phases: Record<string, number> = { boot: bootMs, storage: storageOpenedAt - startedAt, migrations: Date.now() - storageOpenedAt };
    if (applied.length > 0) logger.info({ applied, ms: phases.migrations }, 'migrations applied');
    const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
    if (auth.secretSource === 'generated') logger.warn({ dataDir: config.storage.dataDir }, 'using the development JWT secret from the data directory; set VEZA_JWT_SECRET in production');
    const metrics = new ServerMetrics();
    const tracing = await startTracing({ otlpEndpoint: config.server.otlpEndpoint, serviceVersion: VERSION, ...(options.spanExporter ? { exporter: options.spanExporter } : {}) });
    cleanups.push(() => tracing.shutdown());
    const busOptions = { logger, parking: new DatabaseParkingLot(storage), registry: metrics.registry, maxAttempts: config.events.maxAttempts };
    const placement = consumerPlacement(config.events, storage);
    // With the consumers on their thread, the in-process bus spans both threads.
    const linkedBus = !config.events.redisUrl && placement === 'thread' ? new LinkedBus(new MemoryBus(busOptions)) : null;
    const bus: EventBus = config.events.redisUrl
      ? await new RedisBus({ ...busOptions, url: config.events.redisUrl, stream: config.events.stream }).connect()
      : (linkedBus ?? new MemoryBus(busOptions));
    cleanups.push(() => bus.close());
    if (placement === 'none' && !config.events.redisUrl) logger.warn('no event consumers run in this process and the events bus is in-process: side modules get no events');
    let consumers: ConsumerHost | null = null;

    const server = new VezaServer({ settings: config.server, logger, auth, metrics, tracer: tracing.tracer });
    const media = locateMediaWorker();
    const ffmpeg = locateFfmpeg();
    if (!ffmpeg.available) logger.warn({ reason: ffmpeg.reason, fix: ffmpeg.fix }, `recording and HLS unavailable: ${ffmpeg.reason}`);
    if (!media.available) logger.warn({ reason: media.reason, fix: media.fix }, `media unavailable: ${media.reason}; build the mediasoup worker with: ${media.fix}`);
    registerHealthRoutes(server.http, { storage, bus, metrics, startedAt, media, consumers: () => consumers?.status() ?? null });
    registerIdentityRoute(server.http);
    registerWebClient(server.http, config.server.webDir);
    if (config.server.dev) {
      registerDevSignIn(server.http, auth);
      logger.warn('development mode: POST /api/v1/dev/token signs anyone in; never run this in production');
    }
    registerEventRoutes(server.http, bus);
    // The side modules' event consumers start now, their thread loading while this one builds the
    // rest; what they call on this thread's memory (the leaderboards it serves, the dashboards it
    // pushes) waits until those services exist. They stop first at shutdown, while those are open.
    const services = deferred<{ gamification: GamificationService; insights: InsightsService }>();
    const consumersStarting = hostConsumers(placement, {
      config,
      storage,
      bus,
      linkedBus,
      logger,
      handlers: {
        'storage.port': async () => (await storage.attachPort()) ?? Promise.reject(new Error('no storage thread')),
        'gamification.boards': async (updates) => void (await (await services.promise).gamification.leaderboards.apply(updates)),
        'insights.stored': async (events) => (await services.promise).insights.observe(events),
      },
      ...(options.onConsumerThread ? { onWorker: options.onConsumerThread } : {}),
    });
    // Should start-up fail before they are awaited below, they are closed with everything else.
    cleanups.push(async () => {
      if (!consumers) await (await consumersStarting.catch(() => null))?.close();
    });
    const collab = new CollabService({ settings: config.collab, dataDir: config.storage.dataDir, redisUrl: config.events.redisUrl, storage, bus, server, logger });
    // The studio's beat clock: clients sample the server's time over their session's socket.
    collab.registerMessageType(CLOCK_MESSAGE, (request) => answerClockRequest(request, preciseNow()));
    await collab.start();
    cleanups.push(async () => {
      if (!(await collab.close(Date.now() + config.server.shutdownTimeoutMs))) throw new Error('document updates were not all stored before the deadline');
    });
    const automerge = registerAutomerge({ maxBackpressureBytes: config.collab.maxBackpressureBytes, storage, server, logger });
    cleanups.push(() => automerge.close());
    const persisted = (tenantId: string, docId: string) => collab.persisted(tenantId, docId);
    const replay = new ReplayStore(storage, undefined, undefined, persisted);
    registerStudioRoutes(server.http, { collab, replay });
    const bundles = new SessionBundles(storage, persisted);
    registerSessionBundleRoutes(server.http, { bundles, maxBundleBytes: Math.ceil(config.collab.maxDocBytes * 1.4) + (1 << 20) });
    const importExamples = config.sessions.examples === 'auto' ? config.server.dev && storage.kind === 'pglite' : config.sessions.examples;
    const examplesAt = Date.now();
    const examples = importExamples ? await importExampleSessions(bundles, logger) : null;
    if (examples) phases.examples = Date.now() - examplesAt;
    const replayService = new ReplayService(replay, server, logger, config.collab.maxDocBytes);
    cleanups.push(async () => replayService.close());
    const mediaSignaling = new MediaSignaling({ server, logger, maxViewers: config.media.maxViewers });
    let mediaPlane: MediaPlane | null = null;
    let live: LiveService | null = null;
    const outputs = new MediaOutputs({ storage, bus, logger, dataDir: config.storage.dataDir, plane: () => mediaPlane, ffmpeg });
    if (!config.events.redisUrl) {
      const abandoned = await outputs.markAbandoned();
      if (abandoned > 0) logger.warn({ abandoned }, 'recordings or HLS runs left running by a previous process were marked failed');
    }
    registerMediaRoutes(server.http, outputs);
    const recommendations = await new RecommendationService({ settings: config.recommendations, dataDir: config.storage.dataDir, storage, bus, logger }).start();
    cleanups.push(() => recommendations.close());
    registerRecommendationRoutes(server.http, recommendations, config.recommendations.maxImportBytes);
    const insights = new InsightsService({ storage, bus, logger });
    cleanups.push(() => insights.close());
    registerInsightsRoutes(server.http, server.ws, insights);
    const gamification = await GamificationService.start({
      storage,
      bus,
      logger,
      redisUrl: config.events.redisUrl,
      leaderboardPrefix: `${config.events.stream}:lb:`,
      onRulesChanged: (tenantId) => consumers?.notify('gamification.rules-changed', tenantId),
    });
    cleanups.push(() => gamification.close());
    services.resolve({ gamification, insights });
    registerGamificationRoutes(server.http, server.ws, gamification);
    // What start-up waited for them beyond the rest of its work.
    const consumersWait = Date.now();
    consumers = await consumersStarting;
    const consumerHost = consumers;
    phases.consumers = Date.now() - consumersWait;
    cleanups.push(() => consumerHost.close());
    logger.info({ consumers: config.events.consumers, placement }, placement === 'thread' ? 'event consumers run on their own thread' : `event consumers: ${placement}`);
    const port = await server.listen(config.server.host, config.server.port);
    if (media.available) {
      const mediaAt = Date.now();
      try {
        mediaPlane = await MediaPlane.start({ settings: config.media, logger, workerBin: media.path });
        phases.media = Date.now() - mediaAt;
        const plane = mediaPlane;
        live = new LiveService({ settings: config.media, plane, bus, collab, logger });
        const liveService = live;
        // Outputs finish their files before the workers go; the room events stop first.
        cleanups.push(() => plane.close());
        cleanups.push(async () => liveService.close());
        // What is left of the shutdown deadline, less a second for the steps after this one.
        cleanups.push(() => outputs.close(stopDeadline === null ? undefined : Math.max(0, stopDeadline - Date.now() - 1000)));
        mediaSignaling.attach(plane);
      } catch (error) {
        logger.error({ err: error }, 'media plane could not start; /media answers 503');
        mediaSignaling.markUnavailable({ reason: `the mediasoup workers did not start: ${(error as Error).message}`, fix: 'see the server log; check the worker with npm run build:media' });
      }
    } else {
      mediaSignaling.markUnavailable(media);
    }
    logger.info({ port, host: config.server.host, uws: uwsImplementation, storage: storage.kind, bus: bus.kind, version: VERSION }, `veza listening on http://${config.server.host}:${port}`);
    const consumersOn = new Set<string>(config.events.consumers);
    const consumerNote = placement === 'thread' ? 'consuming events on their own thread' : placement === 'main' ? 'consuming events on the main thread' : '';
    const moduleState = (name: string): Capability =>
      consumersOn.has(name) ? { on: true, detail: consumerNote } : { on: false, reason: config.events.redisUrl ? 'its events are consumed by other processes (VEZA_CONSUMERS)' : 'not in VEZA_CONSUMERS', fix: 'VEZA_CONSUMERS=all' };
    const report: StartupReport = {
      version: VERSION,
      readyMs: Date.now() - startedAt + bootMs,
      phasesMs: phases,
      url: openUrl(config.server.host, port),
      code: import.meta.url.includes('/build/') ? 'compiled' : 'sources',
      storage:
        storage.kind === 'pglite'
          ? `embedded PGlite in ${shownDir(config.storage.dataDir)}${collab.writer.journaling ? `; edits durable in its journal within ${config.collab.flushMs} ms, in the database within ${config.collab.storeMs} ms` : ''}`
          : 'PostgreSQL',
      bus: bus.kind === 'redis' ? 'Redis Streams' : 'in-process',
      media: mediaPlane
        ? { on: true, detail: `${mediaPlane.workers.length} mediasoup worker${mediaPlane.workers.length === 1 ? '' : 's'} (voice, DJ rooms, cameras)` }
        : media.available
          ? { on: false, reason: 'the mediasoup workers did not start (see the log above)', fix: 'npm run build:media' }
          : { on: false, reason: media.reason, fix: media.fix },
      recording: ffmpeg.available ? { on: true, detail: `ffmpeg ${ffmpeg.version}` } : { on: false, reason: ffmpeg.reason, fix: ffmpeg.fix },
      modules: [
        { name: 'web client', state: existsSync(path.join(config.server.webDir, 'index.html')) ? { on: true, detail: `at ${openUrl(config.server.host, port)}/` } : { on: false, reason: 'not built', fix: 'npm run build:web' } },
        { name: 'sign-in', state: config.server.dev ? { on: true, detail: 'development: anyone signs in by name' } : { on: true, detail: 'JWT bearer tokens' } },
        { name: 'recommendations', state: moduleState('recommendations') },
        { name: 'insights', state: moduleState('insights') },
        { name: 'gamification', state: moduleState('gamification') },
        { name: 'tracing', state: config.server.otlpEndpoint ? { on: true, detail: 'OTLP/HTTP' } : { on: false, reason: 'no collector set', fix: 'OTEL_EXPORTER_OTLP_ENDPOINT=http://…:4318' } },
      ],
      examples: examples && { imported: examples.sessions.filter((e) => e.imported).length, present: examples.sessions.length, titles: examples.sessions.map((e) => e.title) },
      rssMiB: Math.round(process.memoryUsage.rss() / 2 ** 20),
    };
    logger.info({ readyMs: report.readyMs, phasesMs: phases, media: report.media.on, recording: report.recording.on, rssMiB: report.rssMiB }, 'start-up complete');

    let stopping: Promise<boolean> | null = null;
    const shutdown = () =>
      (stopping ??= (async () => {
        const deadline = Date.now() + config.server.shutdownTimeoutMs;
        stopDeadline = deadline;
        const drained = await server.drain(config.server.shutdownTimeoutMs);
        const flushed = await withDeadline(runAll(cleanups.toReversed(), logger), deadline - Date.now());
        server.close();
        return drained && flushed;
      })());
    return { config, logger, port, storage, bus, auth, server, metrics, collab, media: mediaPlane, outputs, live, recommendations, insights, gamification, report, shutdown };
  } catch (error) {
    await runAll(cleanups.toReversed(), logger);
    throw error;
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function runAll(steps: (() => Promise<unknown>)[], logger: Logger): Promise<boolean> {
  let ok = true;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      ok = false;
      logger.error({ err: error }, 'shutdown step failed');
    }
  }
  return ok;
}

async function withDeadline(work: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  const result = await Promise.race([work, late]);
  clearTimeout(timer);
  return result;
}
