// The credentials API: a tenant's administrator (claim `adm`) manages its own tenant's API keys; the
// operator (claim `op`) manages any tenant's keys and sets its identity provider. An API key is
// neither, so no key can make or change credentials.
import { z } from 'zod';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { ApiKeyError, keyInput, rotateInput, type ApiKeyView } from './api-keys.js';
import { ProviderError, type ProviderView } from './token-keys.js';
import { apiKeyListReply, apiKeyReply, apiKeySecretReply, providerReply } from './reply-schemas.js';
import { operator } from './routes.js';

export interface CredentialRouteDeps {
  exists(tenantId: string): boolean;
  listKeys(tenantId: string): ApiKeyView[];
  createKey(tenantId: string, input: { name: string; scopes: string[] }, createdBy: string): Promise<{ key: ApiKeyView; secret: string }>;
  rotateKey(tenantId: string, id: string, input: { overlapSeconds?: number }): Promise<{ key: ApiKeyView; secret: string }>;
  revokeKey(tenantId: string, id: string): Promise<ApiKeyView>;
  provider(tenantId: string): ProviderView | null;
  setProvider(tenantId: string, input: unknown): Promise<ProviderView>;
  removeProvider(tenantId: string): Promise<boolean>;
}

// Checked by the provider store, where the JWKS keys are parsed: its errors say which key is wrong.
const providerBody = z.record(z.string(), z.unknown());

function answer(error: unknown): never {
  if (error instanceof ApiKeyError) throw error.code === 'not-found' ? notFound(error.message) : new HttpError(409, 'conflict', error.message);
  if (error instanceof ProviderError) throw badRequest(error.message);
  throw error;
}

/** The tenant a request manages: its own for a tenant administrator, the path's for the operator. */
type Scope = (ctx: HttpContext) => string;

const ownTenant: Scope = (ctx) => {
  if (!ctx.principal?.admin || ctx.principal.keyId) throw forbidden('a tenant administrator\'s token (claim adm) is required');
  return ctx.principal.tenantId;
};

export function registerCredentialRoutes(http: HttpRouter, deps: CredentialRouteDeps): void {
  const required = { auth: 'required' } as const;
  const tag = 'tenants';
  const anyTenant: Scope = (ctx) => {
    operator(ctx);
    const id = ctx.params.id ?? '';
    if (!deps.exists(id)) throw notFound(`no tenant ${id}`);
    return id;
  };
  const keyRoutes = (base: string, tenantOf: Scope, who: string) => {
    http.route('GET', base, (ctx) => ({ json: { keys: deps.listKeys(tenantOf(ctx)) } }), { ...required, tag, summary: `${who}: the API keys`, responses: { 200: apiKeyListReply } });
    http.route(
      'POST',
      base,
      async (ctx) => {
        const tenantId = tenantOf(ctx);
        const input = await ctx.json(keyInput);
        const createdBy = ctx.principal!.operator ? `operator:${ctx.principal!.userId}` : ctx.principal!.userId;
        return { status: 201, json: await deps.createKey(tenantId, input, createdBy).catch(answer), headers: { 'cache-control': 'no-store' } };
      },
      { ...required, tag, summary: `${who}: create an API key (its secret shown once)`, body: keyInput, responses: { 201: apiKeySecretReply } },
    );
    http.route(
      'POST',
      `${base}/:key/rotate`,
      async (ctx) => {
        const tenantId = tenantOf(ctx);
        const input = ctx.headers['content-length'] === '0' || !ctx.headers['content-type'] ? {} : await ctx.json(rotateInput);
        return { json: await deps.rotateKey(tenantId, ctx.params.key ?? '', input).catch(answer), headers: { 'cache-control': 'no-store' } };
      },
      { ...required, tag, summary: `${who}: rotate an API key's secret, the previous one taken for an overlap`, body: rotateInput, responses: { 200: apiKeySecretReply } },
    );
    http.route('POST', `${base}/:key/revoke`, async (ctx) => ({ json: await deps.revokeKey(tenantOf(ctx), ctx.params.key ?? '').catch(answer) }), { ...required, tag, summary: `${who}: revoke an API key`, responses: { 200: apiKeyReply } });
  };
  keyRoutes('/api/v1/tenant/api-keys', ownTenant, 'The caller\'s tenant (its administrator)');
  keyRoutes('/api/v1/platform/tenants/:id/api-keys', anyTenant, 'A tenant (operator)');

  const provider = '/api/v1/platform/tenants/:id/identity-provider';
  http.route(
    'GET',
    provider,
    (ctx) => {
      const tenantId = anyTenant(ctx);
      const view = deps.provider(tenantId);
      if (!view) throw notFound(`tenant ${tenantId} has no identity provider of its own`);
      return { json: view };
    },
    { ...required, tag, summary: 'A tenant\'s own identity provider: its keys\' ids, never a secret (operator)', responses: { 200: providerReply } },
  );
  http.route(
    'PUT',
    provider,
    async (ctx) => {
      const tenantId = anyTenant(ctx);
      const input = await ctx.json(providerBody);
      return { json: await deps.setProvider(tenantId, input).catch(answer) };
    },
    { ...required, tag, summary: 'Set a tenant\'s identity provider: an HS256 secret or a JWKS (operator)', body: providerBody, responses: { 200: providerReply } },
  );
  http.route(
    'DELETE',
    provider,
    async (ctx) => {
      const tenantId = anyTenant(ctx);
      if (!(await deps.removeProvider(tenantId))) throw notFound(`tenant ${tenantId} has no identity provider of its own`);
      return { status: 204 };
    },
    { ...required, tag, summary: 'Remove a tenant\'s identity provider (operator)', responses: { 204: { description: 'removed' } } },
  );
}
