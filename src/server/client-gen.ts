// The web client's typed API client, generated from the OpenAPI document (`npm run gen:client`
// writes web/src/api-client.ts; a test checks the committed file is a fresh generation). Each
// operation becomes an entry of `Operations`, keyed `"GET /api/v1/me"`, with its path parameters,
// query, JSON body and JSON replies by status as TypeScript types converted from the JSON Schemas;
// `call` sends one with the session's token and hands back the typed body or the problem's detail.

type Json = Record<string, unknown>;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string) => (IDENT.test(name) ? name : JSON.stringify(name));

/** A JSON Schema (draft 2020-12, as zod writes it) as a TypeScript type. */
export function tsType(schema: unknown, indent = ''): string {
  if (schema === true || schema === undefined || schema === null) return 'unknown';
  if (schema === false) return 'never';
  const s = schema as Json;
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  for (const combinator of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[combinator])) return (s[combinator] as unknown[]).map((entry) => tsType(entry, indent)).join(' | ');
  }
  if (Array.isArray(s.allOf)) return (s.allOf as unknown[]).map((entry) => tsType(entry, indent)).join(' & ');
  if (Array.isArray(s.type)) return (s.type as string[]).map((type) => tsType({ ...s, type }, indent)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      if (Array.isArray(s.prefixItems)) return `[${(s.prefixItems as unknown[]).map((entry) => tsType(entry, indent)).join(', ')}]`;
      return `Array<${tsType(s.items, indent)}>`;
    case 'object':
      return objectType(s, indent);
    default:
      return 'unknown';
  }
}

function objectType(s: Json, indent: string): string {
  const properties = (s.properties as Record<string, unknown> | undefined) ?? {};
  const required = new Set((s.required as string[] | undefined) ?? []);
  const inner = `${indent}  `;
  const lines = Object.entries(properties).map(([name, value]) => `${inner}${key(name)}${required.has(name) ? '' : '?'}: ${tsType(value, inner)};`);
  const extra = s.additionalProperties;
  if (extra !== undefined && extra !== false) lines.push(`${inner}[key: string]: ${extra === true ? 'unknown' : `${tsType(extra, inner)} | undefined`};`);
  else if (Object.keys(properties).length === 0 && extra === undefined) lines.push(`${inner}[key: string]: unknown;`);
  return lines.length === 0 ? 'Record<string, never>' : `{\n${lines.join('\n')}\n${indent}}`;
}

function jsonContent(content: unknown): unknown {
  const entry = (content as Record<string, { schema?: unknown }> | undefined)?.['application/json'];
  return entry ? (entry.schema ?? {}) : undefined;
}

function operationType(op: Json): string {
  const parameters = (op.parameters as Json[] | undefined) ?? [];
  const group = (where: string) => {
    const list = parameters.filter((p) => p.in === where);
    if (list.length === 0) return 'Record<string, never>';
    return `{ ${list.map((p) => `${key(String(p.name))}${p.required ? '' : '?'}: ${where === 'query' ? tsType(p.schema) : 'string'}`).join('; ')} }`;
  };
  const body = jsonContent((op.requestBody as Json | undefined)?.content);
  const responses = Object.entries((op.responses as Record<string, Json>) ?? {})
    .filter(([status]) => /^\d{3}$/.test(status))
    .map(([status, response]) => {
      const schema = jsonContent(response.content);
      return `      ${status}: ${schema === undefined ? 'unknown' : tsType(schema, '      ')};`;
    });
  return [
    '{',
    `    params: ${group('path')};`,
    `    query: ${group('query')};`,
    `    body: ${body === undefined ? 'never' : tsType(body, '    ')};`,
    `    responses: {${responses.length ? `\n${responses.join('\n')}\n    ` : ''}};`,
    '  }',
  ].join('\n');
}

const RUNTIME = `
export type OperationKey = keyof Operations;
type Op<K extends OperationKey> = Operations[K];
type Success<K extends OperationKey> = Op<K>['responses'][keyof Op<K>['responses'] & (200 | 201 | 202)];
type Empty = Record<string, never>;

/** What to send: path parameters, query and body, each only where the operation has them. */
export type CallArgs<K extends OperationKey> = (Op<K>['params'] extends Empty ? { params?: Empty } : { params: Op<K>['params'] }) &
  (Op<K>['query'] extends Empty ? { query?: Empty } : { query?: Op<K>['query'] }) &
  ([Op<K>['body']] extends [never] ? { body?: never } : { body: Op<K>['body'] });

/** The typed body of a success, or the server's problem (its \`detail\`) with the status. */
export type CallResult<K extends OperationKey> =
  | { ok: true; status: number; data: Success<K>; response: Response }
  | { ok: false; status: number; detail: string; response: Response };

/**
 * Sends \`"METHOD /path/{param}"\` with the token, when given, as a bearer. A network failure
 * rejects; every answer resolves, typed by the operation's declared replies.
 */
export async function call<K extends OperationKey>(token: string | null, operation: K, args: CallArgs<K>): Promise<CallResult<K>> {
  const [method, template] = (operation as string).split(' ') as [string, string];
  const params = (args.params ?? {}) as Record<string, string>;
  let path = template.replace(/\\{(\\w+)\\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
  const query = Object.entries((args.query ?? {}) as Record<string, string | number | boolean | undefined>).filter(([, v]) => v !== undefined);
  if (query.length > 0) path += \`?\${new URLSearchParams(query.map(([k, v]) => [k, String(v)])).toString()}\`;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = \`Bearer \${token}\`;
  const init: RequestInit = { method, headers };
  if (args.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(args.body);
  }
  const response = await fetch(path, init);
  if (response.ok) {
    const data = (response.headers.get('content-type') ?? '').includes('json') ? ((await response.json()) as Success<K>) : (undefined as Success<K>);
    return { ok: true, status: response.status, data, response };
  }
  let detail = \`HTTP \${response.status}\`;
  try {
    detail = ((await response.json()) as { detail?: string }).detail ?? detail;
  } catch {
    // not problem JSON: the status says it
  }
  return { ok: false, status: response.status, detail, response };
}
`;

/** The client's source for `spec`: every operation, in the spec's order. */
export function generateClient(spec: Json): string {
  const entries: string[] = [];
  for (const [path, item] of Object.entries(spec.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(item)) {
      entries.push(`  /** ${String(op.summary).replace(/\*\//g, '*\\/')} */\n  ${JSON.stringify(`${method.toUpperCase()} ${path}`)}: ${operationType(op)};`);
    }
  }
  const info = spec.info as Json;
  return [
    `// Generated by \`npm run gen:client\` from ${String(info.title)} (OpenAPI ${String(spec.openapi)}). Do not edit: change the`,
    "// routes' descriptions and generate again (a test checks this file is up to date).",
    '',
    'export interface Operations {',
    entries.join('\n'),
    '}',
    RUNTIME,
  ].join('\n');
}
