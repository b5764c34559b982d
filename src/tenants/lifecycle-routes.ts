// The operator's side of deleting a tenant: the routes, and the sweeper that purges tenants whose
// grace period is over (started with the tenants module, on every node).
import { z } from 'zod';
import type { ModuleContext } from '../modules/contract.js';
import { badRequest, HttpError, notFound } from '../server/errors.js';
import { fileReply } from '../server/files.js';
import type { HttpRouter } from '../server/http.js';
import { TenantLifecycle, SWEEP_INTERVAL_MS } from './lifecycle.js';
import type { TenantRegistry } from './registry.js';
import { deletionReply } from './reply-schemas.js';
import type { TenantsSettings } from './settings.js';
import { answer, operator } from './routes.js';

const deletionInput = z.object({ graceSeconds: z.number().int().min(0).optional() }).strict();

export function startTenantLifecycle(
  ctx: ModuleContext<TenantsSettings>,
  registry: TenantRegistry,
  changed: (tenantId: string, status: 'deleting' | 'deleted') => Promise<void>,
): { lifecycle: TenantLifecycle; routes(): void; close(): Promise<void> } {
  const { storage, logger, deployment } = ctx;
  const lifecycle = new TenantLifecycle({ storage, dataDir: deployment.dataDir, registry, logger, changed, defaultGraceSeconds: ctx.settings.deletionGraceDays * 86_400 });
  const sweep = () =>
    lifecycle.sweep().catch((error: unknown) => {
      logger.warn({ err: error }, 'the sweep of deleted tenants failed; it runs again in a minute');
      return [];
    });
  const first = sweep();
  const timer = setInterval(() => void sweep(), SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    lifecycle,
    routes: () => registerLifecycleRoutes(ctx.http, lifecycle),
    close: async () => {
      clearInterval(timer);
      await first;
      await lifecycle.idle();
    },
  };
}

function registerLifecycleRoutes(http: HttpRouter, lifecycle: TenantLifecycle): void {
  const required = { auth: 'required' } as const;
  const tag = 'tenants';
  http.route(
    'DELETE',
    '/api/v1/platform/tenants/:id',
    async (ctx) => {
      operator(ctx);
      const body = await ctx.body();
      let input: z.output<typeof deletionInput> = {};
      if (body.length > 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw badRequest('the body is not JSON');
        }
        const checked = deletionInput.safeParse(parsed);
        if (!checked.success) throw badRequest(checked.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
        input = checked.data;
      }
      const { deletion } = await lifecycle.request(ctx.params.id ?? '', { by: ctx.principal!.userId, ...input }).catch(answer);
      return { status: 202, json: deletion };
    },
    { ...required, tag, summary: 'Delete a tenant: its export is written, then its grace period runs (operator; body {graceSeconds} optional)', responses: { 202: deletionReply } },
  );
  http.route(
    'GET',
    '/api/v1/platform/tenants/:id/deletion',
    async (ctx) => {
      operator(ctx);
      const deletion = await lifecycle.latest(ctx.params.id ?? '');
      if (!deletion) throw notFound(`tenant ${ctx.params.id} has no deletion`);
      return { json: deletion };
    },
    { ...required, tag, summary: 'A tenant\'s latest deletion (operator)', responses: { 200: deletionReply } },
  );
  http.route(
    'GET',
    '/api/v1/platform/tenants/:id/export',
    async (ctx) => {
      operator(ctx);
      const id = ctx.params.id ?? '';
      const file = await lifecycle.archiveFile(id);
      if (!file) {
        const latest = await lifecycle.latest(id);
        if (latest?.state === 'exporting') throw new HttpError(409, 'conflict', `tenant ${id}'s export is still being written`);
        throw notFound(`tenant ${id} has no export`);
      }
      return fileReply(ctx, file, { 'content-type': 'application/gzip', 'content-disposition': `attachment; filename="${file.split('/').pop()}"` });
    },
    {
      ...required,
      tag,
      summary: 'A tenant\'s export archive (operator)',
      responses: { 200: { type: 'application/gzip', description: 'the archive' }, 206: { type: 'application/gzip', description: 'the byte range asked for (Range)' } },
    },
  );
}
