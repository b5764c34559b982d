// The operator API: the platform's tenants, for a credential distinct from tenant administrators
// (a token with the `op` claim).
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { TenantError, tenantInput, type Tenant, type TenantStatus } from './registry.js';
import { tenantListReply, tenantReply } from './reply-schemas.js';

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
  const tag = 'tenants';
  http.route(
    'GET',
    '/api/v1/platform/tenants',
    async (ctx) => {
      operator(ctx);
      return { json: { tenants: await tenants.list() } };
    },
    { ...required, tag, summary: 'The platform\'s tenants (operator)', responses: { 200: tenantListReply } },
  );
  http.route(
    'POST',
    '/api/v1/platform/tenants',
    async (ctx) => {
      operator(ctx);
      const input = await ctx.json(tenantInput);
      return { status: 201, json: await tenants.create(input).catch(answer) };
    },
    { ...required, tag, summary: 'Create a tenant (operator)', body: tenantInput, responses: { 201: tenantReply } },
  );
  http.route(
    'GET',
    '/api/v1/platform/tenants/:id',
    async (ctx) => {
      operator(ctx);
      return { json: await tenants.get(ctx.params.id ?? '').catch(answer) };
    },
    { ...required, tag, summary: 'A tenant (operator)', responses: { 200: tenantReply } },
  );
  for (const action of ['suspend', 'resume'] as const) {
    http.route(
      'POST',
      `/api/v1/platform/tenants/:id/${action}`,
      async (ctx) => {
        operator(ctx);
        return { json: await tenants.setStatus(ctx.params.id ?? '', action === 'suspend' ? 'suspended' : 'active').catch(answer) };
      },
      { ...required, tag, summary: action === 'suspend' ? 'Suspend a tenant: its tokens refused, its sockets closed (operator)' : 'Resume a tenant; cancels a deletion in its grace period (operator)', responses: { 200: tenantReply } },
    );
  }
}
