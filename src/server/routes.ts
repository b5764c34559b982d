import { z } from 'zod';
import { VERSION } from '../version.js';
import type { HttpRouter } from './http.js';
import type { ServerMetrics } from './metrics.js';
import { uwsImplementation } from './uws.js';

/** One entry of `/healthz` and, with `ready`, one check of `/readyz`: storage, the bus, and what modules add. */
export interface HealthCheck {
  name: string;
  /** What `/healthz` shows under this name. */
  status?: () => unknown;
  /** Rejects with the reason when this part cannot serve now (`/readyz` answers 503). */
  ready?: () => Promise<void>;
}

interface HealthDeps {
  metrics: ServerMetrics;
  startedAt: number;
  /** Read at each request: modules add theirs as they start. */
  checks: () => readonly HealthCheck[];
}

async function check(fn: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  try {
    await fn();
    return { ok: true };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

export const principalSchema = z.object({
  userId: z.string(),
  tenantId: z.string(),
  docs: z.record(z.string(), z.enum(['owner', 'editor', 'viewer'])),
  admin: z.boolean().optional(),
  operator: z.boolean().optional(),
  keyId: z.string().optional(),
  keyVersion: z.number().int().optional(),
  scopes: z.array(z.string()).optional(),
});

const health = z.looseObject({ status: z.enum(['ok', 'draining']), version: z.string(), uws: z.enum(['native', 'fallback']), uptimeSeconds: z.number() });
const readiness = z.object({ ready: z.boolean(), draining: z.boolean(), checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })) });

/** Who the token says the caller is: lets a client check its token before opening anything. */
export function registerIdentityRoute(http: HttpRouter): void {
  http.route('GET', '/api/v1/me', (ctx) => ({ json: ctx.principal }), {
    auth: 'required',
    tag: 'identity',
    summary: 'The principal the token carries',
    responses: { 200: principalSchema },
  });
}

/** Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics). */
export function registerHealthRoutes(http: HttpRouter, deps: HealthDeps): void {
  const operational = { operational: true };
  http.route(
    'GET',
    '/healthz',
    () => {
      const json: Record<string, unknown> = { status: http.draining ? 'draining' : 'ok', version: VERSION, uws: uwsImplementation };
      for (const entry of deps.checks()) if (entry.status) json[entry.name] = entry.status();
      json.uptimeSeconds = Math.round((Date.now() - deps.startedAt) / 1000);
      return { json, headers: { 'cache-control': 'no-store' } };
    },
    { ...operational, tag: 'operations', summary: 'Liveness, version and each part\'s state', responses: { 200: health } },
  );
  http.route(
    'GET',
    '/readyz',
    async () => {
      const entries = deps.checks().filter((entry) => entry.ready);
      const results = await Promise.all(entries.map((entry) => check(entry.ready!)));
      const checks = Object.fromEntries(entries.map((entry, i) => [entry.name, results[i]!]));
      const ready = results.every((r) => r.ok) && !http.draining;
      return { status: ready ? 200 : 503, json: { ready, draining: http.draining, checks }, headers: { 'cache-control': 'no-store' } };
    },
    { ...operational, tag: 'operations', summary: 'Readiness: storage, bus and consumers answer', responses: { 200: readiness, 503: readiness } },
  );
  http.route(
    'GET',
    '/metrics',
    async () => ({ body: await deps.metrics.registry.metrics(), headers: { 'content-type': deps.metrics.registry.contentType } }),
    { ...operational, tag: 'operations', summary: 'Prometheus metrics', responses: { 200: { type: 'text/plain', description: 'Prometheus text format' } } },
  );
}
