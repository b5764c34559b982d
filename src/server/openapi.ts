// The OpenAPI 3.1 description of the HTTP API, generated from the routes themselves: each
// `http.route(...)` may carry a summary, a tag and zod schemas for its body, query, path parameters
// and responses by status, and this file turns them into the spec with `z.toJSONSchema`. A route
// without them is still listed (its path parameters read from the pattern), so the spec never
// misses a route. Problem answers are described once, as `#/components/responses/Problem`.
import { z } from 'zod';
import { paramNames } from './request.js';

/** One response of a route: a JSON schema, or a non-JSON body by its media type. */
export interface ResponseDoc {
  description?: string;
  /** The JSON body's schema; checked against every reply in test mode. */
  schema?: z.ZodType;
  /** A non-JSON body's media type (`audio/midi`, `text/plain`, ...). */
  type?: string;
}

/** What the spec says of a route; all optional, and each part that is given is used. */
export interface RouteDoc {
  /** One line: what the route does. */
  summary?: string;
  /** The group it is listed under in the reference (one per module). */
  tag?: string;
  /** The JSON body, the very schema the handler passes to `ctx.json`. */
  body?: z.ZodType;
  /** A non-JSON request body's media type (a MIDI file, an audio upload). */
  bodyType?: string;
  /** The query string's parameters, as an object of optional strings or coercions. */
  query?: z.ZodObject;
  /** The path parameters, where they are more than strings. */
  params?: z.ZodObject;
  /** Each status the route answers with success, by number. Problem answers need not be listed. */
  responses?: Record<number, z.ZodType | ResponseDoc>;
}

export interface DescribedRoute {
  method: string;
  pattern: string;
  auth: 'required' | 'none' | 'optional';
  doc: RouteDoc;
}

type JsonSchema = Record<string, unknown>;

export function responseDoc(entry: z.ZodType | ResponseDoc): ResponseDoc {
  return entry instanceof z.ZodType ? { schema: entry } : entry;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  try {
    const converted = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
    delete converted.$schema;
    return converted;
  } catch {
    return {};
  }
}

/** `/api/v1/sessions/:id/history` → `/api/v1/sessions/{id}/history`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:(\w+)/g, '{$1}');
}

function defaultTag(pattern: string): string {
  const match = /^\/api\/v1\/([^/]+)/.exec(pattern);
  if (match) return match[1]!;
  return pattern === '/healthz' || pattern === '/readyz' || pattern === '/metrics' ? 'operations' : 'files';
}

function parameters(route: DescribedRoute): JsonSchema[] {
  const list: JsonSchema[] = [];
  const params = route.doc.params ? (jsonSchema(route.doc.params, 'input').properties as Record<string, JsonSchema> | undefined) : undefined;
  for (const name of paramNames(route.pattern)) {
    list.push({ name, in: 'path', required: true, schema: params?.[name] ?? { type: 'string' } });
  }
  if (route.doc.query) {
    const schema = jsonSchema(route.doc.query, 'input');
    const required = new Set((schema.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries((schema.properties as Record<string, JsonSchema> | undefined) ?? {})) {
      const { description, ...rest } = property;
      list.push({ name, in: 'query', required: required.has(name), schema: rest, ...(description ? { description } : {}) });
    }
  }
  return list;
}

function operation(route: DescribedRoute): JsonSchema {
  const { doc } = route;
  const responses: Record<string, unknown> = {};
  for (const [status, entry] of Object.entries(doc.responses ?? {})) {
    const response = responseDoc(entry);
    const description = response.description ?? 'success';
    if (response.schema) responses[status] = { description, content: { 'application/json': { schema: jsonSchema(response.schema, 'output') } } };
    else if (response.type) responses[status] = { description, content: { [response.type]: { schema: { type: 'string', format: 'binary' } } } };
    else responses[status] = { description };
  }
  if (Object.keys(responses).length === 0) responses['2XX'] = { description: 'success (not described yet)' };
  responses.default = { $ref: '#/components/responses/Problem' };
  const op: JsonSchema = {
    operationId: operationId(route),
    summary: doc.summary ?? `${route.method} ${route.pattern}`,
    tags: [doc.tag ?? defaultTag(route.pattern)],
    parameters: parameters(route),
    responses,
  };
  if (doc.body) op.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(doc.body, 'input') } } };
  else if (doc.bodyType) op.requestBody = { required: true, content: { [doc.bodyType]: { schema: { type: 'string', format: 'binary' } } } };
  if (route.auth === 'required') op.security = [{ bearer: [] }];
  else if (route.auth === 'none') op.security = [];
  else op.security = [{}, { bearer: [] }];
  return op;
}

/** A stable name for the typed client: method and the path's words, `getApiV1SessionsByIdHistory`. */
export function operationId(route: { method: string; pattern: string }): string {
  const words = route.pattern
    .split('/')
    .filter(Boolean)
    .map((part) => (part.startsWith(':') ? `by-${part.slice(1)}` : part))
    .join('-')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  return [route.method.toLowerCase(), ...words.map((w) => w[0]!.toUpperCase() + w.slice(1))].join('');
}

const PROBLEM = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'instance', 'requestId'],
  properties: {
    type: { type: 'string', description: '`urn:veza:problem:<kind>`' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'what went wrong, for a person' },
    instance: { type: 'string', description: 'the request path' },
    requestId: { type: 'string', description: 'also the `x-request-id` header' },
    errors: { description: 'the failing fields of a 400: `[{path, message}]`' },
  },
};

/** The whole spec for `routes` (in registration order; a path's methods share one entry). */
export function openApiSpec(routes: readonly DescribedRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const entry = (paths[openApiPath(route.pattern)] ??= {});
    entry[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Veza Studio HTTP API',
      version,
      description: 'The REST routes of a Veza Studio server. Every error is RFC 9457 problem JSON. WebSocket routes are described in the HTTP API page of the docs.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: PROBLEM },
      responses: {
        Problem: {
          description: 'an error, as RFC 9457 problem details',
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
    },
  };
}
