import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as connect_ } from 'node:net';
import WebSocket from 'ws';
import { roleFor, type DocumentRole } from '../../src/server/auth.js';
import { CloseCode, forbidden } from '../../src/server/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The upgrade path with a route registered the way modules do it (server.ws.route). The route
 * records what it was asked to do, so the tests can prove that a refused upgrade touched nothing.
 */
let server: TestServer;
const authorized: string[] = [];
const opened: { user: string; doc: string; role: DocumentRole }[] = [];

beforeAll(async () => {
  server = await startTestServer({ 'max-connections-per-ip': '3', 'ws-messages-per-second': '20', 'max-ws-message-bytes': '4096' });
  server.veza.server.ws.route<{ doc: string; role: DocumentRole }>('/test-echo/:doc', {
    authorize: (ctx) => {
      const doc = ctx.params.doc ?? '';
      const role = roleFor(ctx.principal, doc);
      if (!role) throw forbidden(`no role on ${doc}`);
      authorized.push(doc);
      return { doc, role };
    },
    open: (ws) => {
      const { principal, state } = ws.getUserData();
      opened.push({ user: principal.userId, doc: state.doc, role: state.role });
    },
    message: (ws, data, isBinary) => {
      const text = Buffer.from(data).toString();
      if (text === 'explode') throw new Error('handler bug');
      ws.send(isBinary ? data : `${ws.getUserData().state.role}:${text}`, isBinary);
    },
  });
});
afterAll(() => server?.stop());

const wsUrl = (doc: string, token?: string) => `${server.url.replace('http', 'ws')}/test-echo/${doc}${token === undefined ? '' : `?token=${token}`}`;
const tokenFor = (docs: Record<string, DocumentRole>, sub = 'alice') => server.veza.auth.sign({ sub, docs });

function connect(url: string, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
}

describe('upgrade', () => {
  it('refuses a connection without a token with 401 before the route runs', async () => {
    const before = authorized.length;
    const error = (await connect(wsUrl('d1')).catch((e: unknown) => e)) as { status: number; body: string };
    expect(error.status).toBe(401);
    expect(JSON.parse(error.body)).toMatchObject({ status: 401, detail: 'missing token' });
    expect(authorized.length).toBe(before);
  });

  it('keeps a socket whose upgrade request says "Connection: close" (uWS closed it after an async upgrade)', async () => {
    const token = await tokenFor({ d1: 'editor' });
    const { port } = new URL(server.url);
    const socket = connect_(Number(port), '127.0.0.1');
    let received = Buffer.alloc(0);
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    socket.write(
      `GET /test-echo/d1?token=${token} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: close\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await waitFor(() => received.includes('\r\n\r\n'), 'the upgrade answer', 5000);
    expect(received.toString()).toMatch(/^HTTP\/1\.1 101/);
    // A masked text frame "hi"; the route answers "editor:hi" on the same socket.
    const mask = Buffer.from([1, 2, 3, 4]);
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | 2]), mask, Buffer.from([...'hi'].map((c, i) => c.charCodeAt(0) ^ mask[i % 4]!))]));
    await waitFor(() => received.includes('editor:hi'), 'the echo on the upgraded socket', 5000);
    socket.destroy();
    await ended;
  });

  it('refuses a forged token with 401', async () => {
    const token = await tokenFor({ d1: 'owner' });
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const error = (await connect(wsUrl('d1', forged)).catch((e: unknown) => e)) as { status: number };
    expect(error.status).toBe(401);
  });

  it('lets the route refuse a principal without a role (403)', async () => {
    const error = (await connect(wsUrl('d2', await tokenFor({ d1: 'owner' }))).catch((e: unknown) => e)) as { status: number; body: string };
    expect(error.status).toBe(403);
    expect(JSON.parse(error.body).detail).toBe('no role on d2');
  });

  it('opens with the principal and the state the route decided', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'viewer' }, 'erin')));
    expect(opened.at(-1)).toEqual({ user: 'erin', doc: 'd1', role: 'viewer' });
    const reply = nextMessage(ws);
    ws.send('hello');
    expect(await reply).toBe('viewer:hello');
    ws.close();
    await closed(ws);
  });

  it('takes the token from a bearer subprotocol entry and answers with the other entry, never the token', async () => {
    const token = await tokenFor({ d1: 'editor' }, 'frank');
    const ws = new WebSocket(wsUrl('d1'), ['veza', `bearer.${token}`]);
    const upgraded = once(ws, 'upgrade') as Promise<[{ headers: Record<string, string | undefined> }]>;
    await once(ws, 'open');
    const [answer] = await upgraded;
    expect(answer.headers['sec-websocket-protocol']).toBe('veza');
    expect(JSON.stringify(answer.headers)).not.toContain(token);
    expect(ws.protocol).toBe('veza');
    expect(opened.at(-1)).toEqual({ user: 'frank', doc: 'd1', role: 'editor' });
    const reply = nextMessage(ws);
    ws.send('hi');
    expect(await reply).toBe('editor:hi');
    ws.close();
    await closed(ws);
  });

  it('refuses a bearer entry offered alone (400) and a forged one (401), before the route runs', async () => {
    const token = await tokenFor({ d1: 'editor' });
    const before = authorized.length;
    const alone = (await connect(wsUrl('d1'), [`bearer.${token}`]).catch((e: unknown) => e)) as { status: number; body: string };
    expect(alone.status).toBe(400);
    expect(JSON.parse(alone.body).detail).toMatch(/offer a subprotocol beside the token's entry/);
    expect(alone.body).not.toContain(token);
    const forged = (await connect(wsUrl('d1'), ['veza', `bearer.${token.slice(0, -4)}AAAA`]).catch((e: unknown) => e)) as { status: number };
    expect(forged.status).toBe(401);
    // A bearer entry wins over the URL: a valid ?token= does not rescue a forged entry.
    const both = (await connect(wsUrl('d1', token), ['veza', 'bearer.not-a-token']).catch((e: unknown) => e)) as { status: number; body: string };
    expect(both.status).toBe(401);
    expect(JSON.parse(both.body).detail).toBe('token is malformed');
    expect(authorized.length).toBe(before);
  });

  it('answers a subprotocol offered without a token entry, signing in from the URL', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'viewer' })), ['veza']);
    expect(ws.protocol).toBe('veza');
    ws.close();
    await closed(ws);
  });

  it('caps concurrent connections per address with 429', async () => {
    const token = await tokenFor({ '*': 'editor' });
    const sockets = await Promise.all([1, 2, 3].map(() => connect(wsUrl('d1', token))));
    const error = (await connect(wsUrl('d1', token)).catch((e: unknown) => e)) as { status: number; body: string };
    expect(error.status).toBe(429);
    expect(JSON.parse(error.body).detail).toMatch(/at most 3 open connections/);
    await Promise.all(sockets.map((s) => (s.close(), closed(s))));
    const again = await connect(wsUrl('d1', token));
    again.close();
    await closed(again);
  });
});

describe('open sockets', () => {
  it('closes a socket that sends faster than its message rate with 4429', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'editor' })));
    const done = closed(ws);
    for (let i = 0; i < 100; i++) ws.send(`m${i}`);
    expect(await done).toEqual({ code: CloseCode.rateLimited, reason: 'message rate limit exceeded' });
  });

  it('closes a socket that sends a message over the size limit with 1009', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'editor' })));
    const done = closed(ws);
    ws.send(Buffer.alloc(8192));
    expect(await done).toEqual({ code: CloseCode.tooBig, reason: 'message of 8192 bytes exceeds the limit of 4096' });
  });

  it('drops a socket whose frame is far past the limit, and keeps serving', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'editor' })));
    const done = closed(ws);
    ws.send(Buffer.alloc(64 * 1024));
    expect((await done).code).not.toBe(CloseCode.normal);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('closes with 1011 when the route throws, and the server keeps serving', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'editor' })));
    const done = closed(ws);
    ws.send('explode');
    expect(await done).toEqual({ code: CloseCode.internalError, reason: 'internal error' });
    const other = await connect(wsUrl('d1', await tokenFor({ d1: 'editor' })));
    const reply = nextMessage(other);
    other.send('still here');
    expect(await reply).toBe('editor:still here');
    other.close();
    await closed(other);
  });

  it('counts open connections in the metrics', async () => {
    const ws = await connect(wsUrl('d1', await tokenFor({ d1: 'editor' })));
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/veza_ws_connections\{route="\/test-echo\/:doc"\} 1/);
    expect(text).toMatch(/veza_ws_rejected_total\{route="\/test-echo\/:doc",reason="unauthorized"\} [2-9]/);
    ws.close();
    await closed(ws);
  });
});

describe('upgrade rate', () => {
  it('answers 429 with Retry-After once an address has used its upgrades for the minute', async () => {
    const own = await startTestServer({ 'rate-limit-connections-per-minute': '8' });
    try {
      own.veza.server.ws.route('/test-rate', { authorize: () => ({}) });
      const url = `${own.url.replace('http', 'ws')}/test-rate?token=${await own.veza.auth.sign({ sub: 'x' })}`;
      const first = await Promise.all([connect(url), connect(url)]);
      const error = (await connect(url).catch((e: unknown) => e)) as { status: number; body: string };
      expect(error.status).toBe(429);
      expect(JSON.parse(error.body).detail).toBe('too many connections from this address');
      first.forEach((ws) => ws.close());
    } finally {
      await own.stop();
    }
  });
});

describe('shutdown', () => {
  it('tells connected clients the server is going away (1001)', async () => {
    const own = await startTestServer();
    own.veza.server.ws.route('/test-idle', { authorize: () => ({}) });
    const ws = await connect(`${own.url.replace('http', 'ws')}/test-idle?token=${await own.veza.auth.sign({ sub: 'x' })}`);
    const done = closed(ws);
    await own.stop();
    expect(await done).toEqual({ code: CloseCode.goingAway, reason: 'server shutting down' });
  });

  it('closes idle keep-alive HTTP connections once it is over', async () => {
    const own = await startTestServer();
    const socket = connectTcp(own.veza.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    let answers = '';
    socket.on('data', (chunk: Buffer) => (answers += chunk.toString()));
    socket.on('error', () => undefined);
    const ended = once(socket, 'close');
    await own.stop();
    // Left open, a request on it would still reach the stopped server, which answers 503.
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await ended;
    expect(answers).toBe('');
  });
});
