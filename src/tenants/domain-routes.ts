// Domains and branding as the tenants module runs them: the Host of every request resolved to a
// tenant (a map every node holds, told of changes through the bus), the routes of tenant admins and
// the operator, the TLS `ask` endpoint a reverse proxy consults before it obtains a certificate, and
// each tenant's theme, public by Host and cacheable.
import { z } from 'zod';
import { createEvent } from '../events/catalog.js';
import type { ModuleContext } from '../modules/contract.js';
import { hostName } from '../server/auth.js';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext } from '../server/http.js';
import { DEFAULT_TENANT } from '../storage/schema.js';
import type { ReportBrand } from '../insights/report.js';
import { BrandingStore, reportBrand, themeSchema, type Branding } from './branding.js';
import { DomainError, DomainRegistry } from './domains.js';
import { brandingReply, domainAskReply, domainListReply, domainReply } from './reply-schemas.js';
import type { TenantRegistry } from './registry.js';
import type { TenantsSettings } from './settings.js';

const askQuery = z.object({ domain: z.string().optional().describe('the host name a certificate is asked for') });
const domainInput = z.object({ domain: z.string().min(1).max(253) }).strict();

function answer(error: unknown): never {
  if (error instanceof DomainError) {
    if (error.code === 'invalid') throw badRequest(error.message);
    if (error.code === 'not-found') throw notFound(error.message);
    if (error.code === 'taken') throw new HttpError(409, 'domain-taken', error.message);
    throw new HttpError(422, 'domain-verification-failed', error.message);
  }
  throw error;
}

export interface DomainsApi {
  domains: DomainRegistry;
  branding: BrandingStore;
  /** The theme of the tenant whose domain `host` is, else the platform's (the default tenant's). */
  brandingForHost(host: string | undefined): Promise<Branding>;
  /** A tenant's theme on a report; null while it has none of its own (the report keeps its plain look). */
  reportBrand(tenantId: string, report: { creator: string; from: string; to: string }): Promise<ReportBrand | null>;
}

export async function startDomains(ctx: ModuleContext<TenantsSettings>, tenants: TenantRegistry) {
  const { storage, bus, auth, http, logger } = ctx;
  const domains = new DomainRegistry(storage, ctx.settings);
  const branding = new BrandingStore(storage);
  await domains.load();
  auth.resolveHostsWith((host) => domains.tenantOf(host));
  const subscription = await bus.subscribe(
    'tenant-domains',
    async (event) => {
      if (event.type === 'tenant.domain.changed') await domains.reload(event.payload.domain);
      else if (event.type === 'tenant.branding.changed') branding.forget(event.tenantId);
    },
    { types: ['tenant.domain.changed', 'tenant.branding.changed'], ephemeral: true },
  );
  const reload =
    storage.kind === 'postgres' && !ctx.deployment.redisUrl
      ? setInterval(() => domains.load().catch((error: unknown) => logger.warn({ err: error }, 'could not read the domains again')), 10_000)
      : null;
  reload?.unref();

  const domainChanged = (tenantId: string, domain: string, verified: boolean, removed: boolean) =>
    bus.publish(createEvent('tenant.domain.changed', { tenantId, payload: { domain, verified, removed } }));

  /** The tenant of the path, when the caller administers it (its admin) or is the operator. */
  const administered = (request: HttpContext): string => {
    const tenantId = request.params.tenant ?? '';
    const principal = request.principal!;
    if (!principal.operator && !(principal.admin && principal.tenantId === tenantId)) {
      throw forbidden(`only an administrator of tenant ${tenantId} or the operator manages its domains`);
    }
    if (tenants.status(tenantId) === undefined) throw notFound(`no tenant ${tenantId}`);
    return tenantId;
  };

  const brandingForHost = (host: string | undefined) => branding.get(auth.tenantOfHost(host) ?? DEFAULT_TENANT);

  const routes = () => {
    const required = { auth: 'required' } as const;
    const tag = 'tenants';
    const base = '/api/v1/tenants/:tenant/domains';
    http.route('GET', base, async (request) => ({ json: { domains: await domains.list(administered(request)) } }), { ...required, tag, summary: 'A tenant\'s domains (its administrator or the operator)', responses: { 200: domainListReply } });
    http.route(
      'POST',
      base,
      async (request) => {
        const tenantId = administered(request);
        const { domain } = await request.json(domainInput);
        const added = await domains.add(tenantId, domain).catch(answer);
        return { status: 201, json: added };
      },
      { ...required, tag, summary: 'Add a domain to a tenant, to be verified', body: domainInput, responses: { 201: domainReply } },
    );
    http.route(
      'POST',
      `${base}/:domain/verify`,
      async (request) => {
        const tenantId = administered(request);
        const verified = await domains.verify(tenantId, request.params.domain ?? '').catch(answer);
        await domainChanged(tenantId, verified.domain, true, false);
        return { json: verified };
      },
      { ...required, tag, summary: 'Verify a domain: the server fetches the token the tenant serves on it', responses: { 200: domainReply } },
    );
    http.route(
      'DELETE',
      `${base}/:domain`,
      async (request) => {
        const tenantId = administered(request);
        const domain = await domains.remove(tenantId, request.params.domain ?? '').catch(answer);
        await domainChanged(tenantId, domain, false, true);
        return { status: 204 };
      },
      { ...required, tag, summary: 'Remove a tenant\'s domain', responses: { 204: { description: 'removed' } } },
    );
    // Caddy's on-demand TLS asks here (`?domain=`) before it obtains a certificate for a name.
    http.route(
      'GET',
      '/api/v1/domains/ask',
      (request) => {
        const domain = hostName(request.query.get('domain') ?? undefined);
        if (domain === null) throw badRequest('give the host name as ?domain=');
        if (!domains.vouchesFor(domain)) throw notFound(`${domain} is not a verified domain of this platform`);
        return { json: { domain, tenantId: domains.tenantOf(domain) ?? DEFAULT_TENANT } };
      },
      { auth: 'none', tag, summary: 'On-demand TLS: whether a certificate may be obtained for ?domain= (404 if not)', query: askQuery, responses: { 200: domainAskReply } },
    );
    http.route(
      'GET',
      '/api/v1/branding',
      async (request) => {
        const current = await brandingForHost(request.headers.host);
        const headers = { etag: current.etag, 'cache-control': 'public, max-age=60', vary: 'host' };
        const wanted = request.headers['if-none-match'];
        if (wanted && wanted.split(',').some((tag) => tag.trim().replace(/^W\//, '') === current.etag)) return { status: 304, headers };
        return { json: { tenantId: current.tenantId, custom: current.custom, theme: current.theme }, headers };
      },
      { auth: 'none', tag, summary: 'The theme of the tenant whose domain the Host names (the platform\'s otherwise)', responses: { 200: brandingReply, 304: { description: 'not modified (If-None-Match named the current ETag)' } } },
    );
    http.route(
      'PUT',
      '/api/v1/branding',
      async (request) => {
        const principal = request.principal!;
        if (!principal.admin) throw forbidden(`only an administrator of tenant ${principal.tenantId} changes its branding`);
        const theme = await request.json(themeSchema);
        const stored = await branding.put(principal.tenantId, theme);
        await bus.publish(createEvent('tenant.branding.changed', { tenantId: principal.tenantId, payload: { etag: stored.etag } }));
        return { json: { tenantId: stored.tenantId, custom: true, theme: stored.theme }, headers: { etag: stored.etag } };
      },
      { ...required, tag, summary: 'Set the caller\'s tenant\'s theme (its administrator)', body: themeSchema, responses: { 200: brandingReply } },
    );
  };

  const api: DomainsApi = {
    domains,
    branding,
    brandingForHost,
    reportBrand: async (tenantId, report) => {
      const current = await branding.get(tenantId);
      return current.custom ? reportBrand(current.theme, report) : null;
    },
  };
  return {
    api,
    routes,
    close: async () => {
      if (reload) clearInterval(reload);
      await subscription.close();
    },
  };
}
