// The webhooks API of a tenant: its administrator (claim `adm`), or an API key whose scopes include
// `webhooks`, manages the tenant's endpoints and secrets, reads the messages and the delivery log,
// and replays a message. Nothing here reaches another tenant's endpoints or log: every query runs as
// the caller's tenant.
import { z } from 'zod';
import { formatIssues } from '../events/catalog.js';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { DeliveryLog } from './delivery-log.js';
import { endpointInput, endpointPatch, rotationInput, WebhookError, type EndpointStore } from './endpoints.js';
import { WEBHOOK_EVENT_TYPES } from './event-types.js';

export interface WebhookRouteDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
}

const replayInput = z.strictObject({ endpointId: z.string().min(1).max(100).optional() });

function tenantOf(ctx: HttpContext): string {
  const principal = ctx.principal!;
  if (!principal.admin && !principal.keyId) throw forbidden("a tenant administrator's token (claim adm) or an API key with the webhooks scope is required");
  return principal.tenantId;
}

function answer(error: unknown): never {
  if (error instanceof WebhookError) throw error.code === 'not-found' ? notFound(error.message) : badRequest(error.message);
  throw error;
}

/** The body checked against a schema, refused with every problem named in `detail`. */
async function body<S extends z.ZodType>(ctx: HttpContext, schema: S, emptyIsNothing = false): Promise<z.output<S>> {
  const raw: unknown = emptyIsNothing && (ctx.headers['content-length'] === '0' || !ctx.headers['content-type']) ? {} : await ctx.json(z.unknown());
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw badRequest(formatIssues(parsed.error), parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  return parsed.data;
}

function limitOf(ctx: HttpContext): number {
  const text = ctx.query.get('limit');
  if (text === null) return 50;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new HttpError(400, 'bad-request', 'limit must be a whole number from 1 to 500');
  return limit;
}

export function registerWebhookRoutes(http: HttpRouter, { endpoints, log }: WebhookRouteDeps): void {
  const required = { auth: 'required' } as const;
  const base = '/api/v1/webhooks';
  const noStore = { 'cache-control': 'no-store' };
  http.route('GET', `${base}/event-types`, (ctx) => (tenantOf(ctx), { json: { eventTypes: WEBHOOK_EVENT_TYPES } }), required);
  http.route('GET', `${base}/endpoints`, async (ctx) => ({ json: { endpoints: await endpoints.list(tenantOf(ctx)) } }), required);
  http.route(
    'POST',
    `${base}/endpoints`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const input = await body(ctx, endpointInput);
      return { status: 201, json: await endpoints.create(tenantId, input).catch(answer), headers: noStore };
    },
    required,
  );
  http.route('GET', `${base}/endpoints/:id`, async (ctx) => ({ json: await endpoints.get(tenantOf(ctx), ctx.params.id ?? '').catch(answer) }), required);
  http.route(
    'PATCH',
    `${base}/endpoints/:id`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const patch = await body(ctx, endpointPatch);
      return { json: await endpoints.update(tenantId, ctx.params.id ?? '', patch).catch(answer) };
    },
    required,
  );
  http.route(
    'DELETE',
    `${base}/endpoints/:id`,
    async (ctx) => {
      await endpoints.remove(tenantOf(ctx), ctx.params.id ?? '').catch(answer);
      return { status: 204 };
    },
    required,
  );
  http.route('GET', `${base}/endpoints/:id/secrets`, async (ctx) => ({ json: { secrets: await endpoints.secrets(tenantOf(ctx), ctx.params.id ?? '').catch(answer) }, headers: noStore }), required);
  http.route(
    'POST',
    `${base}/endpoints/:id/secrets/rotate`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const input = await body(ctx, rotationInput, true);
      return { json: await endpoints.rotate(tenantId, ctx.params.id ?? '', input).catch(answer), headers: noStore };
    },
    required,
  );
  http.route(
    'GET',
    `${base}/endpoints/:id/attempts`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const endpoint = await endpoints.get(tenantId, ctx.params.id ?? '').catch(answer);
      return { json: { attempts: await log.attempts(tenantId, { endpointId: endpoint.id }, limitOf(ctx)) } };
    },
    required,
  );
  http.route(
    'GET',
    `${base}/messages`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const endpointId = ctx.query.get('endpoint') ?? undefined;
      return { json: { messages: await log.messages(tenantId, { endpointId, limit: limitOf(ctx) }) } };
    },
    required,
  );
  http.route('GET', `${base}/messages/:id`, async (ctx) => ({ json: await log.message(tenantOf(ctx), ctx.params.id ?? '').catch(answer) }), required);
  http.route(
    'GET',
    `${base}/messages/:id/attempts`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const message = await log.message(tenantId, ctx.params.id ?? '').catch(answer);
      return { json: { attempts: await log.attempts(tenantId, { messageId: message.id }, limitOf(ctx)) } };
    },
    required,
  );
  http.route(
    'POST',
    `${base}/messages/:id/replay`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const input = await body(ctx, replayInput, true);
      return { status: 202, json: await log.replay(tenantId, ctx.params.id ?? '', input.endpointId).catch(answer) };
    },
    required,
  );
}
