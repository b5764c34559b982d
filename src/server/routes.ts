import type { ConsumerStatus } from '../consumers/host.js';
import type { EventBus } from '../events/bus.js';
import type { MediaWorkerBinary } from '../media/worker-binary.js';
import type { Storage } from '../storage/database.js';
import { VERSION } from '../version.js';
import type { HttpRouter } from './http.js';
import type { ServerMetrics } from './metrics.js';
import { uwsImplementation } from './uws.js';

interface HealthDeps {
  storage: Storage;
  bus: EventBus;
  metrics: ServerMetrics;
  startedAt: number;
  /** Whether the mediasoup worker binary was found at start, and if not why and how to build it. */
  media: MediaWorkerBinary;
  /** Where the side modules' event consumers run, and whether they run now (null while starting). */
  consumers: () => ConsumerStatus | null;
}

async function check(fn: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  try {
    await fn();
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Who the token says the caller is: lets a client check its token before opening anything. */
export function registerIdentityRoute(http: HttpRouter): void {
  http.route('GET', '/api/v1/me', (ctx) => ({ json: ctx.principal }), { auth: 'required' });
}

/** Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics). */
export function registerHealthRoutes(http: HttpRouter, deps: HealthDeps): void {
  const operational = { operational: true };
  const media = deps.media.available ? { available: true } : { available: false, reason: deps.media.reason, fix: deps.media.fix };
  http.route(
    'GET',
    '/healthz',
    () => ({
      json: {
        status: http.draining ? 'draining' : 'ok',
        version: VERSION,
        uws: uwsImplementation,
        storage: deps.storage.kind,
        bus: deps.bus.kind,
        uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
        media,
        consumers: deps.consumers(),
      },
      headers: { 'cache-control': 'no-store' },
    }),
    operational,
  );
  http.route(
    'GET',
    '/readyz',
    async () => {
      const [storage, bus, consumers] = await Promise.all([
        check(() => deps.storage.ping()),
        check(() => deps.bus.ping()),
        check(async () => {
          const status = deps.consumers();
          if (status && status.placement !== 'none' && !status.running) throw new Error('the event consumers are restarting');
        }),
      ]);
      const ready = storage.ok && bus.ok && consumers.ok && !http.draining;
      return { status: ready ? 200 : 503, json: { ready, draining: http.draining, checks: { storage, bus, consumers } }, headers: { 'cache-control': 'no-store' } };
    },
    operational,
  );
  http.route(
    'GET',
    '/metrics',
    async () => ({ body: await deps.metrics.registry.metrics(), headers: { 'content-type': deps.metrics.registry.contentType } }),
    operational,
  );
}
