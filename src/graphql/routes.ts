// GraphQL over HTTP at /graphql, registered through the HTTP router (auth, limits, CORS and whatever
// compression and caching it applies): POST with a JSON body, GET with the parameters in the query
// string (persisted queries by hash are what makes GET worth it: a short, cacheable URL). Errors
// keep GraphQL's shape, `{ errors: [{ message, extensions: { code } }] }`: 400 for a request that is
// not a GraphQL request, 200 with `errors` for everything GraphQL itself refuses or fails. A POST
// body that is a JSON array is a batch (as Apollo's and mercurius's): each operation runs and the
// answer is the array of their results, in order; at most `maxBatch` of them, counted together
// against the cost limit.
import { z } from 'zod';
import type { HttpContext, HttpReply, HttpRouter } from '../server/http.js';
import type { GraphqlServices } from './context.js';
import { errorWith, requestSchema, type GraphqlEngine, type GraphqlRequest } from './engine.js';

/** GraphQL's answer: data, errors, or both (200 also when GraphQL refuses the operation). */
const graphqlResult = z.object({
  data: z.record(z.string(), z.unknown()).nullable().optional(),
  errors: z.array(z.object({ message: z.string(), path: z.array(z.union([z.string(), z.number()])).optional(), extensions: z.record(z.string(), z.unknown()).optional() }).loose()).optional(),
  extensions: z.record(z.string(), z.unknown()).optional(),
});
const graphqlQuery = z.object({
  query: z.string().optional().describe('the document; may be left out with a persisted query\'s hash'),
  operationName: z.string().optional(),
  variables: z.string().optional().describe('JSON'),
  extensions: z.string().optional().describe('JSON, e.g. {"persistedQuery":{"version":1,"sha256Hash":"…"}}'),
});

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

function badRequest(message: string): HttpReply {
  return { status: 400, headers: JSON_TYPE, body: JSON.stringify({ errors: [errorWith(message, 'BAD_REQUEST').toJSON()] }) };
}

/** A batch over the limit: a problem (RFC 9457) that also carries GraphQL's `errors`, for either kind of client. */
function batchTooLarge(size: number, maxBatch: number): HttpReply {
  const detail = `the batch holds ${size} operations; the limit is ${maxBatch}: send them in several requests`;
  return {
    status: 400,
    headers: { 'content-type': 'application/problem+json; charset=utf-8' },
    body: JSON.stringify({ type: 'about:blank', title: 'GraphQL batch too large', status: 400, detail, size, maxBatch, errors: [errorWith(detail, 'BATCH_TOO_LARGE', { size, maxBatch }).toJSON()] }),
  };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

class RequestError extends Error {}

class BatchTooLarge extends Error {
  constructor(readonly size: number) {
    super('batch too large');
  }
}

function checked(value: unknown, where = ''): GraphqlRequest {
  const parsed = requestSchema.safeParse(value);
  if (!parsed.success) throw new RequestError(`${where}not a GraphQL request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

async function fromPost(ctx: HttpContext, maxBatch: number): Promise<GraphqlRequest | GraphqlRequest[]> {
  const type = ctx.headers['content-type'] ?? '';
  if (!/^application\/(graphql-response\+)?json\b/i.test(type)) throw new RequestError(`expected content-type application/json, got ${type || 'none'}`);
  const body = parseJson((await ctx.body()).toString('utf8'), 'the body');
  if (!Array.isArray(body)) return checked(body);
  if (body.length === 0) throw new RequestError('the batch is empty: send at least one operation');
  if (body.length > maxBatch) throw new BatchTooLarge(body.length);
  return body.map((item, i) => checked(item, `operation ${i} of the batch: `));
}

function fromGet(ctx: HttpContext): GraphqlRequest {
  const value: Record<string, unknown> = {};
  const query = ctx.query.get('query');
  if (query !== null) value.query = query;
  const name = ctx.query.get('operationName');
  if (name !== null) value.operationName = name;
  for (const key of ['variables', 'extensions'] as const) {
    const raw = ctx.query.get(key);
    if (raw !== null) value[key] = parseJson(raw, key);
  }
  return checked(value);
}

export function registerGraphqlRoutes(http: HttpRouter, engine: GraphqlEngine, services: GraphqlServices, maxBatch: number): void {
  const answer = async (ctx: HttpContext, read: (ctx: HttpContext) => Promise<GraphqlRequest | GraphqlRequest[]> | GraphqlRequest): Promise<HttpReply> => {
    let request: GraphqlRequest | GraphqlRequest[];
    try {
      request = await read(ctx);
    } catch (error) {
      if (error instanceof RequestError) return badRequest(error.message);
      if (error instanceof BatchTooLarge) return batchTooLarge(error.size, maxBatch);
      throw error;
    }
    const context = engine.context(ctx.principal!, services);
    const result = Array.isArray(request) ? await engine.runBatch(request.map((r) => engine.prepare(r)), context) : await engine.run(engine.prepare(request), context);
    return { json: result };
  };
  const doc = { auth: 'required', tag: 'graphql' } as const;
  http.route('POST', '/graphql', (ctx) => answer(ctx, (c) => fromPost(c, maxBatch)), {
    ...doc,
    summary: 'A GraphQL operation as JSON, or a batch of them as a JSON array',
    body: z.union([requestSchema, z.array(requestSchema)]),
    responses: { 200: z.union([graphqlResult, z.array(graphqlResult)]) },
  });
  http.route('GET', '/graphql', (ctx) => answer(ctx, fromGet), { ...doc, summary: 'A GraphQL query in the query string (persisted queries by hash)', query: graphqlQuery, responses: { 200: graphqlResult } });
}
