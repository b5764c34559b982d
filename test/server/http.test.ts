import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VezaEvent } from '../../src/events/catalog.js';
import { rawRequest } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let token: string;
const received: VezaEvent[] = [];

beforeAll(async () => {
  server = await startTestServer({ 'cors-origins': 'https://studio.example', 'max-body-bytes': '4096', 'max-header-bytes': '2048' });
  token = await server.veza.auth.sign({ sub: 'alice', tenant: 'default', docs: { d1: 'editor' } });
  await server.veza.bus.subscribe('test-recorder', (event) => {
    received.push(event);
  });
});
afterAll(() => server?.stop());

const auth = () => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };

async function problem(res: Response) {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as { status: number; detail: string; requestId: string; type: string; errors?: unknown };
  expect(body.status).toBe(res.status);
  expect(body.requestId).toBe(res.headers.get('x-request-id'));
  return body;
}

async function stillServing() {
  const res = await fetch(`${server.url}/healthz`);
  expect(res.status).toBe(200);
}

describe('health and metrics', () => {
  it('reports native uWS, the embedded storage and the in-process bus', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', uws: 'native', storage: 'pglite', bus: 'memory', version: expect.any(String) });
  });

  it('is ready when storage and bus answer', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ready: true, checks: { storage: { ok: true }, bus: { ok: true } } });
  });

  it('exposes Prometheus metrics with per-route counters', async () => {
    await fetch(`${server.url}/healthz`);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/veza_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toContain('veza_process_cpu_seconds_total');
  });

  it('sends security headers and a request id on every answer', async () => {
    const res = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'trace-me-42' } });
    expect(res.headers.get('x-request-id')).toBe('trace-me-42');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
  });
});

describe('routing errors', () => {
  it('answers an unknown route with 404 problem JSON', async () => {
    const res = await fetch(`${server.url}/no/such/thing`);
    expect(res.status).toBe(404);
    const body = await problem(res);
    expect(body.type).toBe('urn:veza:problem:not-found');
    expect(body.detail).toContain('/no/such/thing');
  });

  it('answers a known path with the wrong method with 405 and Allow', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    await problem(res);
  });
});

describe('POST /api/v1/events', () => {
  it('accepts a valid report and publishes it with tenant and actor from the token', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { ...auth(), ...json },
      body: JSON.stringify({ type: 'track.played', payload: { trackId: 'track-9', startMs: 0, endMs: 30_000 }, tenantId: 'evil', actor: 'mallory' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const event = await waitFor(() => received.find((e) => e.id === id), 'the published event');
    expect(event).toMatchObject({ type: 'track.played', tenantId: 'default', actor: 'alice', payload: { trackId: 'track-9', endMs: 30_000 } });
  });

  it('refuses bad JSON with 400 and keeps serving', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, { method: 'POST', headers: { ...auth(), ...json }, body: '{"type": "track.played", ' });
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toMatch(/not valid JSON/);
    await stillServing();
  });

  it('refuses a body of the wrong shape with the failing fields', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { ...auth(), ...json },
      body: JSON.stringify({ type: 'track.played', payload: { trackId: 7 } }),
    });
    expect(res.status).toBe(400);
    const body = await problem(res);
    expect(JSON.stringify(body.errors)).toContain('payload.trackId');
  });

  it('refuses event types a client may not report', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { ...auth(), ...json },
      body: JSON.stringify({ type: 'tip.sent', payload: {} }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify((await problem(res)).errors)).toContain('type');
  });

  it('refuses a non-JSON content type with 415', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'hello' });
    expect(res.status).toBe(415);
    await problem(res);
  });

  it('refuses an oversize body announced by Content-Length with 413', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, { method: 'POST', headers: { ...auth(), ...json }, body: JSON.stringify({ pad: 'x'.repeat(10_000) }) });
    expect(res.status).toBe(413);
    await problem(res);
    await stillServing();
  });

  it('refuses an oversize chunked body (no Content-Length) with 413', async () => {
    const chunk = 'x'.repeat(1024);
    const res = await rawRequest(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { ...auth(), ...json, 'transfer-encoding': 'chunked' },
      chunks: Array.from({ length: 8 }, () => chunk),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ status: 413 });
    await stillServing();
  });

  it('refuses oversize headers with 431', async () => {
    const res = await rawRequest(`${server.url}/healthz`, { headers: { 'x-padding': 'p'.repeat(4096) } });
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body)).toMatchObject({ status: 431 });
    await stillServing();
  });
});

describe('authentication on requests', () => {
  const me = (headers: Record<string, string>) => fetch(`${server.url}/api/v1/me`, { headers });

  it('returns the principal for a valid token', async () => {
    const res = await me(auth());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ userId: 'alice', tenantId: 'default', docs: { d1: 'editor' } });
  });

  it('refuses a missing token with 401 and WWW-Authenticate', async () => {
    const res = await me({});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect((await problem(res)).detail).toBe('missing token');
  });

  it('refuses a token signed with another secret', async () => {
    const forged = await new SignJWT({ tid: 'default' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-server-secret-not-the-server-secret'));
    const res = await me({ authorization: `Bearer ${forged}` });
    expect(res.status).toBe(401);
    expect((await problem(res)).detail).toBe('token signature is not valid');
  });

  it('refuses an unsigned (alg none) token', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
    const res = await me({ authorization: `Bearer ${header}.${claims}.` });
    expect(res.status).toBe(401);
    await problem(res);
  });

  it('refuses an expired token', async () => {
    const expired = await server.veza.auth.sign({ sub: 'alice', ttlSeconds: -10 });
    const res = await me({ authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect((await problem(res)).detail).toBe('token expired');
  });

  it('refuses a malformed Authorization header', async () => {
    const res = await me({ authorization: 'Basic YWxpY2U6c2VjcmV0' });
    expect(res.status).toBe(401);
    await stillServing();
  });
});

describe('CORS', () => {
  it('allows a listed origin and exposes the request id', async () => {
    const res = await fetch(`${server.url}/healthz`, { headers: { origin: 'https://studio.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://studio.example');
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');
  });

  it('gives an unlisted origin no CORS headers', async () => {
    const res = await fetch(`${server.url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers preflight for a listed origin and refuses others', async () => {
    const ok = await fetch(`${server.url}/api/v1/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://studio.example', 'access-control-request-method': 'POST' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect(ok.headers.get('access-control-allow-headers')).toContain('authorization');
    const refused = await fetch(`${server.url}/api/v1/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(refused.status).toBe(403);
  });
});

describe('rate limits', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({ 'rate-limit-requests-per-minute': '60', 'rate-limit-burst': '3' });
  });
  afterAll(() => limited?.stop());

  it('answers 429 with Retry-After past the burst, and keeps health checks out of it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${limited.url}/no-route`)).status);
    expect(statuses.slice(0, 3)).toEqual([404, 404, 404]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    const res = await fetch(`${limited.url}/no-route`);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await problem(res)).type).toBe('urn:veza:problem:rate-limited');
    expect((await fetch(`${limited.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${limited.url}/metrics`)).text();
    expect(metrics).toMatch(/veza_rate_limited_total\{kind="http-ip"\} [3-9]/);
  });
});

describe('garbage on the wire', () => {
  it('survives random bytes and malformed request lines', async () => {
    const { connect } = await import('node:net');
    const { randomBytes } = await import('node:crypto');
    const payloads = [randomBytes(4096), Buffer.from('GET / HTTP/9.9\r\n\r\n'), Buffer.from('POST /api/v1/events HTTP/1.1\r\nContent-Length: -1\r\n\r\n'), Buffer.from('\r\n\r\n\r\n')];
    for (const payload of payloads) {
      await new Promise<void>((resolve) => {
        const socket = connect(server.veza.port, '127.0.0.1', () => socket.end(payload));
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
      });
    }
    await stillServing();
  });
});
