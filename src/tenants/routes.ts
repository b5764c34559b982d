// The operator API: the platform's tenants, for a credential distinct from tenant administrators
// (a token with the `op` claim).
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { TenantError, tenantInput, type Tenant, type TenantStatus } from './registry.js';

export interface TenantRouteDeps {
  list(): Promise<Tenant[]>;
  get(id: string): Promise<Tenant>;
  create(input: { id: string; name: string }): Promise<Tenant>;
  setStatus(id: string, status: TenantStatus): Promise<Tenant>;
}

export function operator(ctx: HttpContext): void {
  if (!ctx.principal?.operator) throw forbidden('the platform operator\'s credential is required');
}

export function answer(error: unknown): never {
  if (error instanceof TenantError) {
    if (error.code === 'not-found') throw notFound(error.message);
    if (error.code === 'invalid') throw badRequest(error.message);
    throw new HttpError(409, 'conflict', error.message);
  }
  throw error;
}

export function registerTenantRoutes(http: HttpRouter, tenants: TenantRouteDeps): void {
  const required = { auth: 'required' } as const;
  http.route(
    'GET',
    '/api/v1/platform/tenants',
    async (ctx) => {
      operator(ctx);
      return { json: { tenants: await tenants.list() } };
    },
    required,
  );
  http.route(
    'POST',
    '/api/v1/platform/tenants',
    async (ctx) => {
      operator(ctx);
      const input = await ctx.json(tenantInput);
      return { status: 201, json: await tenants.create(input).catch(answer) };
    },
    { ...required, body: tenantInput },
  );
  http.route(
    'GET',
    '/api/v1/platform/tenants/:id',
    async (ctx) => {
      operator(ctx);
      return { json: await tenants.get(ctx.params.id ?? '').catch(answer) };
    },
    required,
  );
  for (const action of ['suspend', 'resume'] as const) {
    http.route(
      'POST',
      `/api/v1/platform/tenants/:id/${action}`,
      async (ctx) => {
        operator(ctx);
        return { json: await tenants.setStatus(ctx.params.id ?? '', action === 'suspend' ? 'suspended' : 'active').catch(answer) };
      },
      required,
    );
  }
}
