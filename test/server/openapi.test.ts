import { pbkdf2 } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generateClient } from '../../src/server/client-gen.js';
import { encodeReply, INLINE_COMPRESS_MAX_BYTES, keepBody, negotiate, StaticCodings, strongEtag, variantEtag } from '../../src/server/compression.js';
import { openApiSpec } from '../../src/server/openapi.js';
import { VERSION } from '../../src/version.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer({ 'compress-min-bytes': '256', dev: 'true' }, { env: { VEZA_CHECK_RESPONSES: 'true' } });
  token = await server.veza.auth.sign({ sub: 'alice', tenant: 'default', docs: { '*': 'owner' } });
  // A route whose reply contradicts its own description, registered like any other.
  server.veza.server.http.route('GET', '/api/v1/test-mismatch', () => ({ json: { count: 'three' } }), {
    auth: 'none',
    summary: 'answers a body its schema refuses',
    responses: { 200: z.object({ count: z.number() }) },
  });
  server.veza.server.http.route('GET', '/api/v1/test-status', () => ({ status: 202, json: { ok: true } }), {
    auth: 'none',
    responses: { 200: z.object({ ok: z.boolean() }) },
  });
}, 240_000);
afterAll(() => server?.stop());

/** A GET through node:http, which decodes nothing: the bytes as they crossed the wire. */
function wire(path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${server.url}${path}`, { headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      })
      .on('error', reject);
  });
}

interface Spec {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown>; requestBody?: unknown; security?: unknown[] }>>;
  components: { responses: Record<string, unknown> };
}

describe('the OpenAPI document', () => {
  it('lists every registered REST route, with problem answers described once', async () => {
    const res = await fetch(`${server.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const spec = (await res.json()) as Spec;
    expect(spec.openapi).toBe('3.1.0');
    for (const route of server.veza.server.http.registered) {
      const path = route.pattern.replace(/:(\w+)/g, '{$1}');
      expect(spec.paths[path]?.[route.method.toLowerCase()], `${route.method} ${route.pattern}`).toBeDefined();
    }
    const ids = Object.values(spec.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    expect(spec.components.responses.Problem).toMatchObject({ content: { 'application/problem+json': expect.any(Object) } });
    expect(spec.paths['/api/v1/me']!.get!.responses.default).toEqual({ $ref: '#/components/responses/Problem' });
    expect(spec.paths['/api/v1/me']!.get!.security).toEqual([{ bearer: [] }]);
  });

  it('describes a request body from the schema the handler validates with', async () => {
    const spec = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as Spec;
    const body = spec.paths['/api/v1/events']!.post!.requestBody as { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    expect(Object.keys(body.content['application/json']!.schema.properties)).toEqual(expect.arrayContaining(['type', 'payload']));
  });

  it('renders a self-contained reference page under a strict CSP', async () => {
    const res = await fetch(`${server.url}/api/v1/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    const page = await res.text();
    expect(page).toContain('/api/v1/sessions/{id}/history');
    expect(page).not.toMatch(/<script|https?:\/\/(?!json-schema\.org)[a-z]/i);
  });
});

describe('the typed client', () => {
  it('is committed as a fresh generation from the spec (npm run gen:client)', () => {
    const routes = server.veza.server.http.described.filter((route) => !route.pattern.startsWith('/api/v1/test-'));
    const committed = readFileSync(new URL('../../web/src/api-client.ts', import.meta.url), 'utf8');
    expect(committed, 'web/src/api-client.ts is stale: run npm run gen:client').toBe(generateClient(openApiSpec(routes, VERSION)));
  });
});

describe('the test-mode response check', () => {
  it('answers 500 naming the route and the mismatch, and counts it', async () => {
    const res = await fetch(`${server.url}/api/v1/test-mismatch`);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem.type).toBe('urn:veza:problem:response-mismatch');
    expect(problem.detail).toContain('GET /api/v1/test-mismatch');
    expect(problem.detail).toMatch(/count: .*number/i);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/veza_http_response_checks_total\{result="mismatch"\} [1-9]/);
  });

  it('refuses a status the route does not declare', async () => {
    const res = await fetch(`${server.url}/api/v1/test-status`);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/answered 202, a status its description does not declare/);
  });

  it('lets a reply that matches through, and counts it', async () => {
    const res = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/veza_http_response_checks_total\{result="match"\} [1-9]/);
  });
});

describe('compression', () => {
  it('negotiates by q-value, br winning a tie, identity when nothing is acceptable', () => {
    expect(negotiate('gzip, deflate, br')).toBe('br');
    expect(negotiate('br;q=0.5, gzip')).toBe('gzip');
    expect(negotiate('br;q=0, gzip;q=0')).toBe('identity');
    expect(negotiate('*;q=0.1, gzip;q=0')).toBe('br');
    expect(negotiate('deflate')).toBe('identity');
    expect(negotiate(undefined)).toBe('identity');
    expect(negotiate('identity;q=1, *;q=0')).toBe('identity');
  });

  it('sends Brotli to a client that prefers it, which fetch decodes', async () => {
    const res = await fetch(`${server.url}/api/v1/openapi.json`, { headers: { 'accept-encoding': 'br' } });
    expect(res.headers.get('content-encoding')).toBe('br');
    expect(res.headers.get('vary')).toMatch(/accept-encoding/i);
    expect(((await res.json()) as Spec).openapi).toBe('3.1.0');
  });

  it('sends gzip where br is refused, and identity without Accept-Encoding; the bytes decode to the same body', async () => {
    const plain = await wire('/api/v1/openapi.json', {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await wire('/api/v1/openapi.json', { 'accept-encoding': 'br;q=0, gzip;q=0.8' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const br = await wire('/api/v1/openapi.json', { 'accept-encoding': 'gzip;q=0.5, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    expect(br.body.length).toBeLessThan(gz.body.length);
    expect(gz.body.length).toBeLessThan(plain.body.length / 3);
  });

  it('compresses a small live Brotli reply at once, while the thread pool is busy; larger ones, gzip and high qualities wait for the pool', async () => {
    const rows = (count: number) => Buffer.from(JSON.stringify(Array.from({ length: count }, (_, i) => ({ id: `item-${i}`, title: `Track ${i}`, score: (i % 997) / 1000 }))));
    const small = rows(200);
    const large = rows(2000);
    expect(small.length).toBeLessThan(INLINE_COMPRESS_MAX_BYTES);
    expect(large.length).toBeGreaterThan(INLINE_COMPRESS_MAX_BYTES);
    const options = { minBytes: 1024, brotliQuality: 1, statics: new StaticCodings() };
    const encode = (body: Buffer, coding: string, brotliQuality = 1) =>
      encodeReply({ method: 'GET', headers: { 'accept-encoding': coding } }, 200, { 'content-type': 'application/json' }, body, 'live', { ...options, brotliQuality });
    // Every pool thread busy for a while (libuv's pool: 4 threads unless UV_THREADPOOL_SIZE says otherwise).
    let freed = 0;
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    for (let t = 0; t < threads; t++) pbkdf2('veza', 'salt', 400_000, 32, 'sha256', () => freed++);
    const inline = await encode(small, 'br');
    expect(freed).toBe(0);
    expect(inline.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(inline.body as Buffer).equals(small)).toBe(true);
    // Queued behind the busy threads: each is done only once one of them has finished.
    const queued = [encode(large, 'br'), encode(small, 'gzip'), encode(small, 'br', 9)].map((reply) => reply.then((encoded) => ({ encoded, freed })));
    const [big, gzipped, best] = await Promise.all(queued);
    for (const reply of [big, gzipped, best]) expect(reply!.freed).toBeGreaterThan(0);
    expect(brotliDecompressSync(big!.encoded.body as Buffer).equals(large)).toBe(true);
    expect(gunzipSync(gzipped!.encoded.body as Buffer).equals(small)).toBe(true);
    expect(brotliDecompressSync(best!.encoded.body as Buffer).equals(small)).toBe(true);
  });

  it('sends a kept body as it was kept to Brotli clients, decodes it for the others, and revalidates it by its ETag', async () => {
    const body = Buffer.from(JSON.stringify({ tracks: Array.from({ length: 100 }, (_, i) => ({ id: `track-${i}`, reason: 'because you played "Ünïcode"' })) }));
    const kept = await keepBody(body, 1);
    expect(kept).toMatchObject({ etag: strongEtag(body), length: body.length });
    // Memory of its own, no larger than the encoded body: not a view of zlib's whole output chunk.
    expect(kept.br.buffer.byteLength).toBe(kept.br.byteLength);
    const options = { minBytes: 1024, brotliQuality: 1, statics: new StaticCodings() };
    // The bytes a reply made for the request would carry, at the same quality; a large body or a high quality is compressed on the pool.
    const live = (bytes: Buffer, brotliQuality: number) => encodeReply({ method: 'GET', headers: { 'accept-encoding': 'br' } }, 200, { 'content-type': 'application/json' }, bytes, 'live', { ...options, brotliQuality });
    expect(kept.br.equals((await live(body, 1)).body as Buffer)).toBe(true);
    const large = Buffer.from(JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: `item-${i}`, score: (i % 997) / 1000 }))));
    expect(large.length).toBeGreaterThan(INLINE_COMPRESS_MAX_BYTES);
    const keptLarge = await keepBody(large, 9);
    expect(keptLarge.br.equals((await live(large, 9)).body as Buffer)).toBe(true);
    expect(brotliDecompressSync(keptLarge.br).equals(large)).toBe(true);
    const encode = (headers: Record<string, string>, method = 'GET', kind: 'live' | 'static' = 'live') =>
      encodeReply({ method, headers }, 200, { 'content-type': 'application/json' }, kept, kind, options);
    const br = await encode({ 'accept-encoding': 'br' });
    expect(br.body).toBe(kept.br);
    expect(br.headers).toMatchObject({ 'content-encoding': 'br', etag: variantEtag(kept.etag, 'br'), vary: 'accept-encoding' });
    const gzipped = await encode({ 'accept-encoding': 'gzip' });
    expect(gzipped.headers).toMatchObject({ 'content-encoding': 'gzip', etag: variantEtag(kept.etag, 'gzip') });
    expect(gunzipSync(gzipped.body as Buffer).equals(body)).toBe(true);
    // The gzip form is made once and kept with the body.
    expect((await encode({ 'accept-encoding': 'gzip, deflate' })).body).toBe(gzipped.body);
    expect(await kept.gzip).toBe(gzipped.body);
    const plain = await encode({});
    expect(plain.headers.etag).toBe(kept.etag);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(Buffer.from(plain.body as Uint8Array).equals(body)).toBe(true);
    // Static replies are recompressed at the best quality from the decoded bytes.
    const best = await encode({ 'accept-encoding': 'br' }, 'GET', 'static');
    expect(best.body).not.toBe(kept.br);
    expect(brotliDecompressSync(best.body as Buffer).equals(body)).toBe(true);
    for (const tag of [variantEtag(kept.etag, 'br'), kept.etag]) {
      expect(await encode({ 'accept-encoding': 'gzip', 'if-none-match': tag })).toMatchObject({ status: 304, body: '' });
    }
    // Below the size worth compressing, the decoded bytes go as they are.
    const small = await encodeReply({ method: 'GET', headers: { 'accept-encoding': 'br' } }, 200, { 'content-type': 'application/json' }, await keepBody('{"ok":true}', 1), 'live', options);
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(Buffer.from(small.body as Uint8Array).toString()).toBe('{"ok":true}');
  });

  it('leaves small replies alone', async () => {
    const res = await wire('/api/v1/me', { authorization: `Bearer ${token}`, 'accept-encoding': 'br, gzip' });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
  });
});

describe('ETag and If-None-Match', () => {
  it('answers 304 without a body to a client that has the reply, whatever its coding', async () => {
    const first = await wire('/api/v1/openapi.json', { 'accept-encoding': 'br' });
    const etag = first.headers.etag!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}-br"$/);
    const again = await wire('/api/v1/openapi.json', { 'accept-encoding': 'br', 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(etag);
    const plain = await wire('/api/v1/openapi.json', { 'if-none-match': etag });
    expect(plain.status).toBe(304);
  });

  it('round-trips through fetch: the ETag it got revalidates to 304', async () => {
    const first = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    const etag = first.headers.get('etag')!;
    expect(etag).toBeTruthy();
    const second = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}`, 'if-none-match': etag } });
    expect(second.status).toBe(304);
    const stale = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}`, 'if-none-match': '"not-this-one"' } });
    expect(stale.status).toBe(200);
  });

  it('gives no ETag to replies marked no-store, nor to writes', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.headers.get('etag')).toBeNull();
    const res = await fetch(`${server.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(400);
    expect(res.headers.get('etag')).toBeNull();
  });
});
