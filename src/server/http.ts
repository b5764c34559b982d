import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { z } from 'zod';
import type { Logger } from '../log.js';
import { AuthError, type Authenticator, type Principal } from './auth.js';
import { compressible, encodeReply, keepBody, keptBytes, negotiate, StaticCodings, type KeptBody, type ReplyKind } from './compression.js';
import { badRequest, forbidden, HttpError, problemBody, statusText, tooManyRequests, unauthorized } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { DescribedRoute, RouteDoc } from './openapi.js';
import { QuotaSeam } from './quota.js';
import { checkReply } from './response-check.js';
import { RateLimiter } from './rate-limit.js';
import { checkRequestScope } from './scopes.js';
import { bearerToken, paramNames, patternMatcher, snapshotRequest, type RequestSnapshot } from './request.js';
import type { ServerSettings } from './settings.js';
import type { UsageSink } from './usage.js';
import type { HttpResponse, TemplatedApp } from './uws.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpContext extends RequestSnapshot {
  /** Set when the route asked for auth and the token verified. */
  principal: Principal | null;
  /** The tenant whose verified domain the Host header names; null on the platform's own and unknown hosts. */
  readonly hostTenant: string | null;
  readonly aborted: boolean;
  /** The whole body, at most `maxBodyBytes` (413 beyond). */
  body(): Promise<Buffer>;
  /** The body parsed as JSON and validated; 400 with the field errors otherwise. */
  json<S extends z.ZodType>(schema: S): Promise<z.output<S>>;
}

export interface HttpReply {
  status?: number;
  headers?: Record<string, string>;
  /** Serialised as JSON unless `body` is given. */
  json?: unknown;
  body?: string | Uint8Array;
  /** A JSON body encoded before it was asked for (`keepBody`): sent as kept to Brotli clients, decoded for others. */
  kept?: KeptBody;
  /** A file (or a byte range of one) streamed with backpressure instead of `body`; see files.ts. */
  file?: FileBody;
  /** `static`: the same bytes for everyone for a long while (the spec): compressed once at Brotli 11 and kept. */
  kind?: ReplyKind;
}

/** Bytes `start` to `end` inclusive of the file at `path`; `total` is the file's size. */
export interface FileBody {
  path: string;
  start: number;
  end: number;
}

export type HttpHandler = (ctx: HttpContext) => Promise<HttpReply> | HttpReply;

/** How a route is served, and what the OpenAPI spec says of it (openapi.ts). */
export interface RouteOptions extends RouteDoc {
  /** `required`: 401 without a valid token. `none`: the token is not read. */
  auth?: 'required' | 'none';
  /** Health and metrics routes skip rate limits and keep answering while draining. */
  operational?: boolean;
  /** This route's body limit, where it differs from `VEZA_MAX_BODY_BYTES` (bulk uploads). */
  maxBodyBytes?: number;
}

export interface HttpDeps {
  settings: ServerSettings;
  logger: Logger;
  auth: Authenticator;
  metrics: ServerMetrics;
  tracer: Tracer;
  quotas?: QuotaSeam;
}

/** Text files up to this size are compressed whole (and kept); larger ones stream as they are. */
const STATIC_COMPRESS_MAX_BYTES = 8 << 20;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * Small routing layer over uWS: copies the request out, reads bodies with a limit, applies rate
 * limits, auth, CORS and security headers, times the request, and turns every error into problem
 * JSON. Handlers are plain async functions of a context.
 */
export class HttpRouter {
  readonly ipLimiter: RateLimiter;
  readonly userLimiter: RateLimiter;
  /** Tenants' quotas: API requests per second at every authenticated request. */
  readonly quotas: QuotaSeam;
  private readonly routes: { method: Method; pattern: string; matcher: RegExp; auth: 'required' | 'none' | 'optional'; doc: RouteDoc }[] = [];
  private readonly statics = new StaticCodings();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private usage: UsageSink | null = null;
  draining = false;

  constructor(
    private readonly app: TemplatedApp,
    private readonly deps: HttpDeps,
  ) {
    const { rateLimitRequestsPerMinute: perMinute, rateLimitBurst: burst } = deps.settings;
    this.quotas = deps.quotas ?? new QuotaSeam();
    this.ipLimiter = new RateLimiter(perMinute, burst);
    this.userLimiter = new RateLimiter(perMinute, burst);
  }

  route(method: Method, pattern: string, handler: HttpHandler, options: RouteOptions = {}): this {
    const { summary, tag, body, bodyType, query, params, responses } = options;
    const doc = Object.fromEntries(Object.entries({ summary, tag, body, bodyType, query, params, responses }).filter(([, v]) => v !== undefined)) as RouteDoc;
    this.routes.push({ method, pattern, matcher: patternMatcher(pattern), auth: options.auth ?? 'optional', doc });
    const names = paramNames(pattern);
    const register = { GET: this.app.get, POST: this.app.post, PUT: this.app.put, PATCH: this.app.patch, DELETE: this.app.del }[method].bind(this.app);
    register(pattern, (res, req) => {
      const snapshot = snapshotRequest(res, req, names, this.deps.settings.trustProxy);
      void this.serve(res, snapshot, pattern, handler, options);
    });
    return this;
  }

  /**
   * `body` encoded once as this server's live replies are (`VEZA_BROTLI_QUALITY`), for a handler to
   * send again and again as a reply's `kept`.
   */
  keep(body: string): Promise<KeptBody> {
    return keepBody(body, this.deps.settings.brotliQuality);
  }

  /** Reports each answer to an admitted token to `sink` (the tenants module's metering). */
  meterWith(sink: UsageSink): void {
    this.usage = sink;
  }

  /** Every route registered so far, in order: what the isolation tests call, so a new route cannot be missed. */
  get registered(): readonly { method: Method; pattern: string; auth: 'required' | 'none' | 'optional' }[] {
    return this.routes.map(({ method, pattern, auth }) => ({ method, pattern, auth }));
  }

  /** Every route with its description, in order: what the OpenAPI spec is generated from. */
  get described(): readonly DescribedRoute[] {
    return this.routes.map(({ method, pattern, auth, doc }) => ({ method, pattern, auth, doc }));
  }

  /** Registers the fallbacks (404/405, CORS preflight); call after every route. */
  finish(): void {
    this.app.options('/*', (res, req) => {
      const snapshot = snapshotRequest(res, req, [], this.deps.settings.trustProxy);
      void this.serve(res, snapshot, 'preflight', () => this.preflight(snapshot), { operational: true });
    });
    this.app.any('/*', (res, req) => {
      const snapshot = snapshotRequest(res, req, [], this.deps.settings.trustProxy);
      void this.serve(res, snapshot, 'unmatched', () => this.unmatched(snapshot), {});
    });
  }

  /** Resolves once no request is being served (or at once). */
  async idle(): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  corsHeaders(origin: string | undefined): Record<string, string> {
    const allowed = this.deps.settings.corsOrigins;
    if (!origin || !(allowed.includes('*') || allowed.includes(origin))) return {};
    return {
      'access-control-allow-origin': origin,
      'access-control-expose-headers': 'x-request-id, retry-after',
      vary: 'origin',
    };
  }

  private preflight(snapshot: RequestSnapshot): HttpReply {
    const cors = this.corsHeaders(snapshot.headers.origin);
    if (!cors['access-control-allow-origin']) throw new HttpError(403, 'cors-origin', `origin ${snapshot.headers.origin ?? '(none)'} is not allowed`);
    return {
      status: 204,
      headers: {
        'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE',
        'access-control-allow-headers': 'authorization, content-type, x-request-id',
        'access-control-max-age': '600',
      },
    };
  }

  private unmatched(snapshot: RequestSnapshot): HttpReply {
    const allowed = this.routes.filter((r) => r.matcher.test(snapshot.path)).map((r) => r.method);
    if (allowed.length > 0) {
      throw new HttpError(405, 'method-not-allowed', `${snapshot.method} is not allowed on ${snapshot.path}`, { headers: { allow: allowed.join(', ') } });
    }
    throw new HttpError(404, 'not-found', `no route for ${snapshot.method} ${snapshot.path}`);
  }

  private async serve(res: HttpResponse, snapshot: RequestSnapshot, route: string, handler: HttpHandler, options: RouteOptions): Promise<void> {
    const started = process.hrtime.bigint();
    this.inFlight++;
    const state = { aborted: false, closeConnection: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    const body = BODY_METHODS.has(snapshot.method) ? collectBody(res, snapshot, options.maxBodyBytes ?? this.deps.settings.maxBodyBytes, state) : Promise.resolve(Buffer.alloc(0));
    body.catch(() => undefined); // observed by ctx.body() or never needed
    const span = this.deps.tracer.startSpan(`${snapshot.method} ${route}`, {
      attributes: { 'http.request.method': snapshot.method, 'url.path': snapshot.path, 'http.route': route, 'veza.request_id': snapshot.requestId },
    });
    let status = 500;
    let ctx: HttpContext | null = null;
    try {
      ctx = this.context(snapshot, body, state);
      await this.admit(ctx, options);
      const reply = await handler(ctx);
      status = reply.status ?? 200;
      const file = reply.file;
      if (file && status === 200 && file.end - file.start < STATIC_COMPRESS_MAX_BYTES && compressible(reply.headers?.['content-type']) && negotiate(snapshot.headers['accept-encoding']) !== 'identity') {
        // A text file (the web client's script and styles) is compressed once and kept, like the spec.
        reply.body = await readFile(file.path);
        reply.kind = 'static';
        delete reply.file;
      }
      if (reply.file) {
        this.meter(ctx, state, status, reply.file.end - reply.file.start + 1);
        this.sendFile(res, state, snapshot, status, reply.headers ?? {}, reply.file);
        return;
      }
      const { kept } = reply;
      const json = reply.body === undefined && (reply.json !== undefined || kept !== undefined);
      const text = kept ? '' : (reply.body ?? (reply.json === undefined ? '' : JSON.stringify(reply.json)));
      const type = json ? { 'content-type': 'application/json; charset=utf-8' } : {};
      if (this.deps.settings.checkResponses && json) this.checkReply(snapshot, route, status, kept ? keptBytes(kept).toString() : (text as string));
      // UTF-8 once: the meter counts these bytes, and the ETag and the compression read them.
      const payload: Uint8Array | KeptBody = kept ?? (typeof text === 'string' ? Buffer.from(text) : text);
      this.meter(ctx, state, status, kept ? kept.length : (payload as Uint8Array).byteLength);
      const encoded = await this.encode(snapshot, status, { ...type, ...reply.headers }, payload, reply.kind ?? 'live');
      this.send(res, state, snapshot, encoded.status, encoded.headers, encoded.body);
    } catch (error) {
      const httpError = this.asHttpError(error, snapshot);
      status = httpError.status;
      if (status === 413) state.closeConnection = true;
      span.setStatus({ code: SpanStatusCode.ERROR, message: httpError.message });
      const problem = JSON.stringify(problemBody(httpError, snapshot.path, snapshot.requestId));
      if (ctx) this.meter(ctx, state, status, Buffer.byteLength(problem));
      const encoded = await this.encode(snapshot, status, { 'content-type': 'application/problem+json', ...httpError.extra.headers }, problem, 'live').catch(() => null);
      this.send(res, state, snapshot, status, encoded?.headers ?? { 'content-type': 'application/problem+json', ...httpError.extra.headers }, encoded?.body ?? problem);
    } finally {
      span.setAttribute('http.response.status_code', status);
      span.end();
      const labels = { method: snapshot.method, route };
      this.deps.metrics.httpRequests.inc({ ...labels, status: String(status) });
      this.deps.metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
    }
  }

  /** Test mode: a reply that contradicts its route's description becomes a 500 naming both (response-check.ts). */
  private checkReply(snapshot: RequestSnapshot, pattern: string, status: number, payload: string): void {
    const route = this.routes.find((r) => r.pattern === pattern && r.method === snapshot.method);
    if (!route) return;
    try {
      if (checkReply(route.method, pattern, route.doc, status, payload)) this.deps.metrics.responseChecks.inc({ result: 'match' });
      else this.deps.metrics.responseChecks.inc({ result: 'undescribed' });
    } catch (error) {
      this.deps.metrics.responseChecks.inc({ result: 'mismatch' });
      this.deps.logger.error({ route: `${route.method} ${pattern}`, detail: (error as Error).message }, 'response does not match the spec');
      throw error;
    }
  }

  private encode(snapshot: RequestSnapshot, status: number, headers: Record<string, string>, body: string | Uint8Array | KeptBody, kind: ReplyKind) {
    const { compressMinBytes, brotliQuality } = this.deps.settings;
    return encodeReply(snapshot, status, headers, body, kind, { minBytes: compressMinBytes, brotliQuality, statics: this.statics });
  }

  private meter(ctx: HttpContext, state: { aborted: boolean }, status: number, bytes: number): void {
    if (this.usage && ctx.principal && !state.aborted) this.usage.answered(ctx.principal.tenantId, status, bytes);
  }

  /** Limits and auth, in the order that keeps cheap refusals first. */
  private async admit(ctx: HttpContext, options: RouteOptions): Promise<void> {
    const { settings, metrics } = this.deps;
    if (ctx.headerBytes > settings.maxHeaderBytes) {
      throw new HttpError(431, 'headers-too-large', `request headers total ${ctx.headerBytes} bytes; the limit is ${settings.maxHeaderBytes}`);
    }
    if (options.operational) return;
    const maxBodyBytes = options.maxBodyBytes ?? settings.maxBodyBytes;
    if (Number(ctx.headers['content-length'] ?? 0) > maxBodyBytes) {
      throw new HttpError(413, 'body-too-large', `request body is larger than ${maxBodyBytes} bytes`);
    }
    if (this.draining) throw new HttpError(503, 'shutting-down', 'server is shutting down', { headers: { 'retry-after': '5' } });
    const ipWait = this.ipLimiter.take(`ip:${ctx.ip}`);
    if (ipWait > 0) {
      metrics.rateLimited.inc({ kind: 'http-ip' });
      throw tooManyRequests(ipWait);
    }
    if (options.auth !== 'required') return;
    try {
      ctx.principal = await this.deps.auth.verify(bearerToken(ctx, false));
      this.deps.auth.admitOnHost(ctx.principal, ctx.headers.host, ctx.hostTenant);
    } catch (error) {
      if (error instanceof AuthError) throw error.status === 403 ? forbidden(error.message) : unauthorized(error.message);
      throw error;
    }
    checkRequestScope(ctx.principal, ctx.method, ctx.path);
    const userWait = this.userLimiter.take(`user:${ctx.principal.tenantId}/${ctx.principal.userId}`);
    if (userWait > 0) {
      metrics.rateLimited.inc({ kind: 'http-user' });
      throw tooManyRequests(userWait);
    }
    this.quotas.gate?.admitRequest(ctx.principal);
  }

  private context(snapshot: RequestSnapshot, body: Promise<Buffer>, state: { aborted: boolean }): HttpContext {
    return {
      ...snapshot,
      principal: null,
      hostTenant: this.deps.auth.tenantOfHost(snapshot.headers.host),
      get aborted() {
        return state.aborted;
      },
      body: () => body,
      json: async (schema) => {
        const type = snapshot.headers['content-type'] ?? '';
        if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
          throw new HttpError(415, 'unsupported-media-type', `expected content-type application/json, got ${type || 'none'}`);
        }
        let value: unknown;
        try {
          value = JSON.parse((await body).toString('utf8'));
        } catch (error) {
          if (error instanceof HttpError) throw error;
          throw badRequest(`body is not valid JSON: ${(error as Error).message}`);
        }
        const parsed = schema.safeParse(value);
        if (!parsed.success) {
          throw badRequest(
            'body does not match the expected shape',
            parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
          );
        }
        return parsed.data;
      },
    };
  }

  private asHttpError(error: unknown, snapshot: RequestSnapshot): HttpError {
    if (error instanceof HttpError) return error;
    this.deps.logger.error({ err: error, requestId: snapshot.requestId, path: snapshot.path }, 'request failed');
    return new HttpError(500, 'internal', `internal error; quote request id ${snapshot.requestId}`);
  }

  private sendFile(res: HttpResponse, state: { aborted: boolean; closeConnection: boolean }, snapshot: RequestSnapshot, status: number, headers: Record<string, string>, file: FileBody): void {
    if (state.aborted) return;
    const all = { ...SECURITY_HEADERS, ...this.corsHeaders(snapshot.headers.origin), 'x-request-id': snapshot.requestId, ...headers };
    streamFile(
      res,
      state,
      file,
      () => {
        res.writeStatus(`${status} ${statusText[status] ?? ''}`.trim());
        for (const [name, value] of Object.entries(all)) res.writeHeader(name, value);
      },
      (error) => this.deps.logger.error({ err: error, path: snapshot.path, requestId: snapshot.requestId }, 'file could not be sent'),
    );
  }

  private send(res: HttpResponse, state: { aborted: boolean; closeConnection: boolean }, snapshot: RequestSnapshot, status: number, headers: Record<string, string>, body: string | Uint8Array): void {
    if (state.aborted) return;
    const cors = this.corsHeaders(snapshot.headers.origin);
    const all: Record<string, string> = { ...SECURITY_HEADERS, ...cors, 'x-request-id': snapshot.requestId, ...headers };
    if (cors.vary && headers.vary) all.vary = `${cors.vary}, ${headers.vary}`;
    if (this.draining) state.closeConnection = true;
    res.cork(() => {
      res.writeStatus(`${status} ${statusText[status] ?? ''}`.trim());
      for (const [name, value] of Object.entries(all)) res.writeHeader(name, value);
      res.end(body, state.closeConnection);
    });
  }
}

/**
 * Streams a file range over the response, pausing the read while uWS's buffer is full (its
 * `tryEnd`/`onWritable` protocol). A read error after the headers went out ends the connection,
 * so the client sees a short body rather than a wrong one.
 */
function streamFile(res: HttpResponse, state: { aborted: boolean }, file: FileBody, writeHead: () => void, log: (error: Error) => void): void {
  const total = file.end - file.start + 1;
  res.cork(writeHead);
  if (total === 0) {
    res.cork(() => res.end());
    return;
  }
  const stream = createReadStream(file.path, { start: file.start, end: file.end, highWaterMark: 256 * 1024 });
  res.onAborted(() => {
    state.aborted = true;
    stream.destroy();
  });
  stream.on('error', (error) => {
    log(error);
    if (!state.aborted) res.cork(() => res.close());
  });
  stream.on('data', (data) => {
    if (state.aborted) return;
    const chunk = data as Buffer;
    const pending = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer;
    const offsetBefore = res.getWriteOffset();
    let ok = false;
    let done = false;
    res.cork(() => ([ok, done] = res.tryEnd(pending, total)));
    if (done) {
      stream.destroy();
    } else if (!ok) {
      stream.pause();
      res.onWritable((offset) => {
        let retryOk = false;
        let retryDone = false;
        res.cork(() => ([retryOk, retryDone] = res.tryEnd(pending.slice(offset - offsetBefore), total)));
        if (retryDone) stream.destroy();
        else if (retryOk) stream.resume();
        return retryOk;
      });
    }
  });
}

/** Starts reading the body at once (uWS requires it); rejects with 413 past `limit`. */
function collectBody(res: HttpResponse, snapshot: RequestSnapshot, limit: number, state: { aborted: boolean; closeConnection: boolean }): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, 'body-too-large', `request body is larger than ${limit} bytes`);
  const declared = Number(snapshot.headers['content-length'] ?? NaN);
  if (declared > limit) {
    state.closeConnection = true;
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        state.closeConnection = true;
        reject(tooLarge());
        return;
      }
      // uWS reuses the chunk's memory after this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) resolve(Buffer.concat(chunks, size));
    });
    res.onAborted(() => {
      state.aborted = true;
      reject(new HttpError(400, 'aborted', 'request aborted'));
    });
  });
}
