// GraphQL over HTTP at /graphql, registered through the HTTP router (auth, limits, CORS and whatever
// compression and caching it applies): POST with a JSON body, GET with the parameters in the query
// string (persisted queries by hash are what makes GET worth it: a short, cacheable URL). Errors
// keep GraphQL's shape, `{ errors: [{ message, extensions: { code } }] }`: 400 for a request that is
// not a GraphQL request, 200 with `errors` for everything GraphQL itself refuses or fails.
import type { ExecutionResult } from 'graphql';
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

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

class RequestError extends Error {}

function checked(value: unknown): GraphqlRequest {
  const parsed = requestSchema.safeParse(value);
  if (!parsed.success) throw new RequestError(`not a GraphQL request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

async function fromPost(ctx: HttpContext): Promise<GraphqlRequest> {
  const type = ctx.headers['content-type'] ?? '';
  if (!/^application\/(graphql-response\+)?json\b/i.test(type)) throw new RequestError(`expected content-type application/json, got ${type || 'none'}`);
  return checked(parseJson((await ctx.body()).toString('utf8'), 'the body'));
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

export function registerGraphqlRoutes(http: HttpRouter, engine: GraphqlEngine, services: GraphqlServices): void {
  const answer = async (ctx: HttpContext, read: (ctx: HttpContext) => Promise<GraphqlRequest> | GraphqlRequest): Promise<HttpReply> => {
    let request: GraphqlRequest;
    try {
      request = await read(ctx);
    } catch (error) {
      if (error instanceof RequestError) return badRequest(error.message);
      throw error;
    }
    const prepared = engine.prepare(request);
    const result: ExecutionResult = await engine.run(prepared, engine.context(ctx.principal!, services));
    return { headers: JSON_TYPE, body: JSON.stringify(result) };
  };
  const doc = { auth: 'required', tag: 'graphql', responses: { 200: graphqlResult } } as const;
  http.route('POST', '/graphql', (ctx) => answer(ctx, fromPost), { ...doc, summary: 'A GraphQL operation as JSON', body: requestSchema });
  http.route('GET', '/graphql', (ctx) => answer(ctx, fromGet), { ...doc, summary: 'A GraphQL query in the query string (persisted queries by hash)', query: graphqlQuery });
}
