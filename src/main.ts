import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { automergeModule } from './automerge/module.js';
import { bounceModule } from './bounce/module.js';
import { collabModule } from './collab/module.js';
import type { CollabService } from './collab/service.js';
import type { Config } from './config.js';
import { consumerPlacement } from './consumers/host.js';
import { consumersModule } from './consumers/module.js';
import type { EventBus } from './events/bus.js';
import { LinkedBus } from './events/linked-bus.js';
import { MemoryBus } from './events/memory-bus.js';
import { eventsModule } from './events/module.js';
import { DatabaseParkingLot } from './events/parking.js';
import { RedisBus } from './events/redis-bus.js';
import { gamificationModule } from './gamification/module.js';
import { graphqlModule } from './graphql/module.js';
import { historyModule } from './history/module.js';
import type { GamificationService } from './gamification/service.js';
import { insightsModule } from './insights/module.js';
import type { InsightsService } from './insights/service.js';
import { createLogger, type Logger } from './log.js';
import { masteringModule } from './mastering/module.js';
import { mediaModule } from './media/module.js';
import { nftModule } from './nft/module.js';
import type { MediaOutputs } from './media/outputs.js';
import type { MediaPlane } from './media/plane.js';
import type { LiveService } from './media/room-events.js';
import { ModuleRunner, type AnyModule } from './modules/runner.js';
import { recommendationsModule } from './recommendations/module.js';
import type { RecommendationService } from './recommendations/service.js';
import { registerApiReference } from './server/api-reference.js';
import { VezaServer } from './server/app.js';
import { Authenticator, unboundTokensWarning } from './server/auth.js';
import { writeEndpointFile } from './server/endpoint-file.js';
import { peakResidentBytes, registerMemoryMetrics } from './server/memory-metrics.js';
import { ServerMetrics } from './server/metrics.js';
import { registerHealthRoutes, registerIdentityRoute } from './server/routes.js';
import { startTracing } from './server/tracing.js';
import { uwsImplementation, uwsUnusableReason } from './server/uws.js';
import { registerDevSignIn, registerWebClient } from './server/web.js';
import type { ExampleSessions } from './sessions/examples.js';
import { sessionsModule } from './sessions/module.js';
import { openUrl, shownDir, type StartupReport } from './startup-report.js';
import { Storage } from './storage/database.js';
import { studioModule } from './studio/module.js';
import { tenantsModule } from './tenants/module.js';
import { VERSION } from './version.js';
import { webhooksModule } from './webhooks/module.js';

/** The core (storage, auth, bus, HTTP and WebSocket routers) and the modules it was started with. */
export interface VezaNode {
  config: Config;
  logger: Logger;
  port: number;
  storage: Storage;
  bus: EventBus;
  auth: Authenticator;
  server: VezaServer;
  metrics: ServerMetrics;
  /** The started modules, in the order they were listed. */
  modules: ModuleRunner;
  /** What started and what did not (printed by `veza serve` in development mode or on a terminal). */
  report: StartupReport;
  /** Stops accepting, drains requests, closes the modules in the reverse order, then the bus and storage. False if the deadline passed. */
  shutdown(): Promise<boolean>;
}

/** The whole server: every module of `serverModules`, with the ones tests and the CLI reach by name. */
export interface Veza extends VezaNode {
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
}

export interface StartOptions {
  logger?: Logger;
  /** Spans go here instead of OTLP (tests). */
  spanExporter?: SpanExporter;
  /** Called with the consumers thread each time it starts (tests end it to see it restart). */
  onConsumerThread?: (worker: Worker) => void;
}

/**
 * The server's modules in the order they start; they stop in the reverse order. A module uses only
 * modules listed before it (`ctx.use`), so what it uses is open for as long as it runs.
 */
export function serverModules(config: Config, options: StartOptions = {}) {
  return [
    tenantsModule,
    eventsModule,
    collabModule,
    automergeModule,
    studioModule,
    historyModule,
    bounceModule,
    nftModule,
    masteringModule,
    sessionsModule,
    mediaModule,
    recommendationsModule,
    insightsModule,
    gamificationModule,
    webhooksModule,
    graphqlModule,
    // After the modules whose memory the consumers update: they stop before those close.
    consumersModule({ config, ...(options.onConsumerThread ? { onWorker: options.onConsumerThread } : {}) }),
  ] as const;
}

/** Builds the whole server from a config; then listens. */
export async function startVeza(config: Config, options: StartOptions = {}): Promise<Veza> {
  const node = await startNode(config, serverModules(config, options), options);
  const { modules } = node;
  const media = modules.api(mediaModule);
  // A deleted tenant's export reads its documents once their accepted updates are stored.
  modules.api(tenantsModule).lifecycle.beforeExport((tenantId) => modules.api(collabModule).writer.flush(tenantId));
  return {
    ...node,
    collab: modules.api(collabModule),
    media: media.plane,
    outputs: media.outputs,
    live: media.live,
    recommendations: modules.api(recommendationsModule),
    insights: modules.api(insightsModule),
    gamification: modules.api(gamificationModule),
  };
}

/**
 * Builds the core from a config (storage, migrated; auth; the events bus; the HTTP and WebSocket
 * routers with health, identity and the web client), starts the listed modules in order, then listens.
 * Tests start one module this way, with only what it uses listed before it.
 */
export async function startNode(config: Config, list: readonly AnyModule[], options: StartOptions = {}): Promise<VezaNode> {
  const logger = options.logger ?? createLogger(config.server);
  const startedAt = Date.now();
  const bootMs = Math.round(performance.now());
  const unusable = uwsUnusableReason();
  if (unusable) throw new Error(unusable);
  const storage = await Storage.open(config.storage);
  // Closed last-opened first: the bus finishes its handlers while tracing and storage still work.
  const cleanups: (() => Promise<unknown>)[] = [() => storage.close()];
  try {
    const storageOpenedAt = Date.now();
    const applied = await storage.migrate();
    // From the process's start to here: Node, the loader and every module's import.
    const phases: Record<string, number> = { boot: bootMs, storage: storageOpenedAt - startedAt, migrations: Date.now() - storageOpenedAt };
    if (applied.length > 0) logger.info({ applied, ms: phases.migrations }, 'migrations applied');
    const auth = await Authenticator.create({ settings: config.auth, dataDir: config.storage.dataDir });
    if (auth.secretSource === 'generated') logger.warn({ dataDir: config.storage.dataDir }, 'using the development JWT secret from the data directory; set VEZA_JWT_SECRET in production');
    const unbound = config.server.dev ? null : unboundTokensWarning(config.auth);
    if (unbound) logger.warn(unbound);
    const metrics = new ServerMetrics();
    registerMemoryMetrics(metrics.registry, storage);
    const tracing = await startTracing({ otlpEndpoint: config.server.otlpEndpoint, serviceVersion: VERSION, ...(options.spanExporter ? { exporter: options.spanExporter } : {}) });
    cleanups.push(() => tracing.shutdown());
    const { events } = config;
    const busOptions = { logger, parking: new DatabaseParkingLot(storage), registry: metrics.registry, maxAttempts: events.maxAttempts };
    // With the consumers on their own thread, the in-process bus spans both threads.
    const bus: EventBus = events.redisUrl
      ? await new RedisBus({ ...busOptions, url: events.redisUrl, stream: events.stream }).connect()
      : consumerPlacement(events, storage) === 'thread'
        ? new LinkedBus(new MemoryBus(busOptions))
        : new MemoryBus(busOptions);
    cleanups.push(() => bus.close());

    const server = new VezaServer({ settings: config.server, logger, auth, metrics, tracer: tracing.tracer });
    const modules = new ModuleRunner(
      list,
      { storage, auth, bus, http: server.http, ws: server.ws, logger, metrics, tracer: tracing.tracer },
      config,
      { dataDir: config.storage.dataDir, redisUrl: events.redisUrl, eventsStream: events.stream, dev: config.server.dev },
    );
    registerHealthRoutes(server.http, {
      metrics,
      startedAt,
      checks: () => [
        { name: 'storage', status: () => storage.kind, ready: () => storage.ping() },
        { name: 'bus', status: () => bus.kind, ready: () => bus.ping() },
        ...(unbound ? [{ name: 'auth', status: () => ({ warning: unbound }) }] : []),
        ...modules.health(),
      ],
    });
    registerIdentityRoute(server.http);
    registerApiReference(server.http);
    registerWebClient(server.http, config.server.webDir);
    if (config.server.dev) {
      registerDevSignIn(server.http, auth);
      logger.warn('development mode: POST /api/v1/dev/token signs anyone in; never run this in production');
    }
    await modules.start();
    // What start-up spent on a module, where it is worth telling (the example import, the media workers, the consumers thread).
    for (const [name, ms] of Object.entries(modules.startMs)) if (ms >= 100) phases[name] = ms;
    const port = await server.listen(config.server.host, config.server.port);
    logger.info({ port, host: config.server.host, uws: uwsImplementation, storage: storage.kind, bus: bus.kind, version: VERSION }, `veza listening on http://${config.server.host}:${port}`);
    const journaling = modules.has(collabModule) && modules.api(collabModule).writer.journaling;
    const url = openUrl(config.server.host, port);
    // The CLI of this data directory goes through the API while this process holds the embedded database.
    const removeEndpoint = writeEndpointFile(config.storage.dataDir, url);
    cleanups.push(async () => removeEndpoint());
    const report: StartupReport = {
      version: VERSION,
      readyMs: Date.now() - startedAt + bootMs,
      phasesMs: phases,
      url,
      code: import.meta.url.includes('/build/') ? 'compiled' : 'sources',
      storage:
        storage.kind === 'pglite'
          ? `embedded PGlite in ${shownDir(config.storage.dataDir)}${journaling ? `; edits durable in its journal within ${config.collab.flushMs} ms, in the database within ${config.collab.storeMs} ms` : ''}`
          : 'PostgreSQL',
      bus: bus.kind === 'redis' ? 'Redis Streams' : 'in-process',
      modules: [
        { name: 'web client', state: existsSync(path.join(config.server.webDir, 'index.html')) ? { on: true, detail: `at ${url}/` } : { on: false, reason: 'not built', fix: 'npm run build:web' } },
        { name: 'sign-in', state: config.server.dev ? { on: true, detail: 'development: anyone signs in by name' } : { on: true, detail: 'JWT bearer tokens' } },
        ...modules.report(),
        { name: 'tracing', state: config.server.otlpEndpoint ? { on: true, detail: 'OTLP/HTTP' } : { on: false, reason: 'no collector set', fix: 'OTEL_EXPORTER_OTLP_ENDPOINT=http://…:4318' } },
      ],
      examples: examplesReport(modules.has(sessionsModule) ? modules.api(sessionsModule).examples : null),
      ...(await memoryReport(storage)),
    };
    const on = Object.fromEntries(report.modules.map((m) => [m.name, m.state.on]));
    logger.info({ readyMs: report.readyMs, phasesMs: phases, modules: on, rssMiB: report.rssMiB }, 'start-up complete');

    let stopping: Promise<boolean> | null = null;
    const shutdown = () =>
      (stopping ??= (async () => {
        const deadline = Date.now() + config.server.shutdownTimeoutMs;
        const drained = await server.drain(config.server.shutdownTimeoutMs);
        const steps = [async () => (await modules.close(deadline)) || Promise.reject(new Error('a module did not close cleanly')), ...cleanups.toReversed()];
        const flushed = await withDeadline(runAll(steps, logger), deadline - Date.now());
        server.close();
        return drained && flushed;
      })());
    return { config, logger, port, storage, bus, auth, server, metrics, modules, report, shutdown };
  } catch (error) {
    await runAll(cleanups.toReversed(), logger);
    throw error;
  }
}

async function memoryReport(storage: Storage): Promise<Pick<StartupReport, 'rssMiB' | 'peakRssMiB' | 'databaseWasmMiB'>> {
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const peak = peakResidentBytes();
  const wasm = (await storage.memory().catch(() => null))?.wasmBytes ?? null;
  return { rssMiB: mib(process.memoryUsage.rss()), peakRssMiB: peak === null ? null : mib(peak), databaseWasmMiB: wasm === null ? null : mib(wasm) };
}

function examplesReport(examples: ExampleSessions | null): StartupReport['examples'] {
  return examples && { imported: examples.sessions.filter((e) => e.imported).length, present: examples.sessions.length, titles: examples.sessions.map((e) => e.title) };
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
