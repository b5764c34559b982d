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
import { endpointView, endpointWithSecret, messageView, webhookReplies as r } from './replies.js';

export interface WebhookRouteDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
}

const replayInput = z.strictObject({ endpointId: z.string().min(1).max(100).optional() });
const limitQuery = z.object({ limit: z.string().optional().describe('how many, 1-500 (default 50)') });
const messagesQuery = limitQuery.extend({ endpoint: z.string().optional().describe('only the messages sent to this endpoint') });

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
  const required = { auth: 'required', tag: 'webhooks' } as const;
  const base = '/api/v1/webhooks';
  const noStore = { 'cache-control': 'no-store' };
  http.route('GET', `${base}/event-types`, (ctx) => (tenantOf(ctx), { json: { eventTypes: WEBHOOK_EVENT_TYPES } }), { ...required, summary: 'The events an endpoint may subscribe to', responses: { 200: r.eventTypes } });
  http.route('GET', `${base}/endpoints`, async (ctx) => ({ json: { endpoints: await endpoints.list(tenantOf(ctx)) } }), { ...required, summary: 'The tenant\'s webhook endpoints', responses: { 200: r.endpoints } });
  http.route(
    'POST',
    `${base}/endpoints`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const input = await body(ctx, endpointInput);
      return { status: 201, json: await endpoints.create(tenantId, input).catch(answer), headers: noStore };
    },
    { ...required, summary: 'Add an endpoint; its signing secret is shown once', body: endpointInput, responses: { 201: endpointWithSecret } },
  );
  http.route('GET', `${base}/endpoints/:id`, async (ctx) => ({ json: await endpoints.get(tenantOf(ctx), ctx.params.id ?? '').catch(answer) }), { ...required, summary: 'One endpoint', responses: { 200: endpointView } });
  http.route(
    'PATCH',
    `${base}/endpoints/:id`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const patch = await body(ctx, endpointPatch);
      return { json: await endpoints.update(tenantId, ctx.params.id ?? '', patch).catch(answer) };
    },
    { ...required, summary: 'Change an endpoint\'s address, events or state', body: endpointPatch, responses: { 200: endpointView } },
  );
  http.route(
    'DELETE',
    `${base}/endpoints/:id`,
    async (ctx) => {
      await endpoints.remove(tenantOf(ctx), ctx.params.id ?? '').catch(answer);
      return { status: 204 };
    },
    { ...required, summary: 'Remove an endpoint', responses: { 204: { description: 'removed' } } },
  );
  http.route('GET', `${base}/endpoints/:id/secrets`, async (ctx) => ({ json: { secrets: await endpoints.secrets(tenantOf(ctx), ctx.params.id ?? '').catch(answer) }, headers: noStore }), {
    ...required,
    summary: 'The secrets signing now, in full',
    responses: { 200: r.secrets },
  });
  http.route(
    'POST',
    `${base}/endpoints/:id/secrets/rotate`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const input = await body(ctx, rotationInput, true);
      return { json: await endpoints.rotate(tenantId, ctx.params.id ?? '', input).catch(answer), headers: noStore };
    },
    { ...required, summary: 'Make a new signing secret; the old one signs on for a while', body: rotationInput, responses: { 200: endpointWithSecret } },
  );
  http.route(
    'GET',
    `${base}/endpoints/:id/attempts`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const endpoint = await endpoints.get(tenantId, ctx.params.id ?? '').catch(answer);
      return { json: { attempts: await log.attempts(tenantId, { endpointId: endpoint.id }, limitOf(ctx)) } };
    },
    { ...required, summary: 'An endpoint\'s latest delivery attempts', query: limitQuery, responses: { 200: r.attempts } },
  );
  http.route(
    'GET',
    `${base}/messages`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const endpointId = ctx.query.get('endpoint') ?? undefined;
      return { json: { messages: await log.messages(tenantId, { endpointId, limit: limitOf(ctx) }) } };
    },
    { ...required, summary: 'The latest messages and their deliveries', query: messagesQuery, responses: { 200: r.messages } },
  );
  http.route('GET', `${base}/messages/:id`, async (ctx) => ({ json: await log.message(tenantOf(ctx), ctx.params.id ?? '').catch(answer) }), {
    ...required,
    summary: 'One message and its deliveries',
    responses: { 200: messageView },
  });
  http.route(
    'GET',
    `${base}/messages/:id/attempts`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const message = await log.message(tenantId, ctx.params.id ?? '').catch(answer);
      return { json: { attempts: await log.attempts(tenantId, { messageId: message.id }, limitOf(ctx)) } };
    },
    { ...required, summary: 'A message\'s delivery attempts', query: limitQuery, responses: { 200: r.attempts } },
  );
  http.route(
    'POST',
    `${base}/messages/:id/replay`,
    async (ctx) => {
      const tenantId = tenantOf(ctx);
      const input = await body(ctx, replayInput, true);
      return { status: 202, json: await log.replay(tenantId, ctx.params.id ?? '', input.endpointId).catch(answer) };
    },
    { ...required, summary: 'Deliver a stored message again, now', body: replayInput, responses: { 202: r.replay } },
  );
}
