// The API's own description, served by the API: `/api/v1/openapi.json` (OpenAPI 3.1, generated
// from the routes' descriptions) and `/api/v1/docs`, a reference page rendered here from the same
// spec. The page is one HTML document with its styles inline and no script: its CSP allows exactly
// that style (by hash) and nothing else, and it needs nothing from another origin.
import { createHash } from 'node:crypto';
import { VERSION } from '../version.js';
import type { HttpRouter } from './http.js';
import { openApiSpec } from './openapi.js';

type Json = Record<string, unknown>;

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1d24;background:#fafafc}
header{background:#1d1d24;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
main{display:flex;gap:2rem;padding:1rem 2rem}nav{min-width:12rem;position:sticky;top:1rem;align-self:flex-start}
nav a{display:block;color:#3949ab;text-decoration:none;padding:.1rem 0}section{flex:1;min-width:0}
h2{border-bottom:1px solid #ddd;padding-top:1rem}details{background:#fff;border:1px solid #e0e0e8;border-radius:6px;margin:.4rem 0;padding:.3rem .7rem}
summary{cursor:pointer}code{font-family:ui-monospace,monospace}.m{display:inline-block;width:4.2rem;font-weight:700;font-family:ui-monospace,monospace}
.GET{color:#1b7f3b}.POST{color:#1f5fbf}.PUT,.PATCH{color:#a15c00}.DELETE{color:#b3261e}.lock{color:#777;font-size:.85em}
pre{background:#f3f3f7;padding:.6rem;overflow:auto;font-size:.85em;max-height:24rem}table{border-collapse:collapse}td,th{border:1px solid #e0e0e8;padding:.2rem .5rem;text-align:left}`;

const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

function escape(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function schemaBlock(schema: unknown): string {
  return `<pre>${escape(JSON.stringify(schema, null, 2))}</pre>`;
}

function operationHtml(method: string, path: string, op: Json): string {
  const parameters = (op.parameters as Json[] | undefined) ?? [];
  const secured = Array.isArray(op.security) && (op.security as Json[]).some((entry) => 'bearer' in entry);
  const parts = [`<details id="${escape(op.operationId)}"><summary><span class="m ${method}">${method}</span> <code>${escape(path)}</code> — ${escape(op.summary)}${secured ? ' <span class="lock">(token)</span>' : ''}</summary>`];
  if (parameters.length > 0) {
    parts.push('<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>');
    for (const p of parameters) parts.push(`<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${escape(JSON.stringify(p.schema))}</code></td></tr>`);
    parts.push('</table>');
  }
  const body = op.requestBody as { content: Record<string, { schema: unknown }> } | undefined;
  if (body) for (const [type, content] of Object.entries(body.content)) parts.push(`<h4>Body <code>${escape(type)}</code></h4>${schemaBlock(content.schema)}`);
  for (const [status, response] of Object.entries((op.responses as Record<string, Json>) ?? {})) {
    if (status === 'default') continue;
    const content = response.content as Record<string, { schema: unknown }> | undefined;
    parts.push(`<h4>${escape(status)} — ${escape(response.description)}</h4>`);
    if (content) for (const [type, entry] of Object.entries(content)) parts.push(`<p><code>${escape(type)}</code></p>${schemaBlock(entry.schema)}`);
  }
  parts.push('<p>Errors: <a href="#problem">problem JSON</a>.</p></details>');
  return parts.join('');
}

/** The reference page of `spec`: operations grouped by tag, each expandable, with its schemas. */
export function referencePage(spec: Json): string {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(spec.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = ((op.tags as string[] | undefined) ?? ['other'])[0]!;
      const list = byTag.get(tag) ?? [];
      list.push(operationHtml(method.toUpperCase(), path, op));
      byTag.set(tag, list);
    }
  }
  const tags = [...byTag.keys()].sort();
  const info = spec.info as Json;
  const problem = ((spec.components as Json).schemas as Json).Problem;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(info.title)} ${escape(info.version)}</title><style>${STYLE}</style></head><body>
<header><h1>${escape(info.title)} <small>${escape(info.version)}</small></h1><p>${escape(info.description)} The machine-readable spec: <a href="/api/v1/openapi.json">openapi.json</a>.</p></header>
<main><nav>${tags.map((t) => `<a href="#tag-${escape(t)}">${escape(t)}</a>`).join('')}<a href="#problem">errors</a></nav><section>
${tags.map((t) => `<h2 id="tag-${escape(t)}">${escape(t)}</h2>${byTag.get(t)!.join('\n')}`).join('\n')}
<h2 id="problem">Errors</h2><p>Every error answers <code>application/problem+json</code> (RFC 9457):</p>${schemaBlock(problem)}
</section></main></body></html>`;
}

/** `GET /api/v1/openapi.json` and `GET /api/v1/docs`, built at the first request from every route registered by then. */
export function registerApiReference(http: HttpRouter): void {
  let cached: { routes: number; spec: string; page: string } | null = null;
  const current = () => {
    const routes = http.described;
    if (cached?.routes !== routes.length) {
      const spec = openApiSpec(routes, VERSION);
      cached = { routes: routes.length, spec: JSON.stringify(spec), page: referencePage(spec) };
    }
    return cached;
  };
  http.route(
    'GET',
    '/api/v1/openapi.json',
    () => ({ body: current().spec, kind: 'static', headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' } }),
    { auth: 'none', tag: 'reference', summary: 'This API as an OpenAPI 3.1 document', responses: { 200: { type: 'application/json', description: 'the OpenAPI document' } } },
  );
  http.route(
    'GET',
    '/api/v1/docs',
    () => ({ body: current().page, kind: 'static', headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'content-security-policy': PAGE_CSP } }),
    { auth: 'none', tag: 'reference', summary: 'This API\'s reference, as a page', responses: { 200: { type: 'text/html', description: 'the reference page' } } },
  );
}
