// deploy/caddy/Caddyfile with the real `caddy` (Debian's package) and its internal CA: HTTPS and
// WebSockets to a verified tenant domain get a certificate issued on demand and reach our server,
// which answers with the tenant's branding; a name the server does not vouch for gets no certificate.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTokenServer, tenantOnDomain } from '../helpers/domains.js';
import { freePort } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const CADDY = process.env.CADDY_PATH ?? '/usr/bin/caddy';
const CADDYFILE = path.resolve(import.meta.dirname, '../../deploy/caddy/Caddyfile');

function caddyPath(): string | null {
  if (existsSync(CADDY)) return CADDY;
  const reason = `no caddy at ${CADDY}: apt-get install -y caddy (or set CADDY_PATH)`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return null;
}

const caddy = caddyPath();

/** GET over HTTPS to Caddy on loopback, for `name` (SNI and Host), trusting only Caddy's root. */
function get(port: number, name: string, ca: string, urlPath: string): Promise<{ status: number; body: string; certificate: ReturnType<TLSSocket['getPeerCertificate']> }> {
  const options: RequestOptions = { host: '127.0.0.1', port, servername: name, ca, path: urlPath, headers: { host: name } };
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const certificate = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, certificate }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(caddy === null)('Caddy in front, with on-demand TLS', { timeout: 180_000 }, () => {
  let server: TestServer;
  let tokens: { server: Server; port: number };
  let proc: ChildProcess;
  let output = '';
  let httpsPort: number;
  let rootCa: string;
  const data = tempDir('caddy');
  const served = new Map<string, string>();

  beforeAll(async () => {
    tokens = await startTokenServer(served);
    server = await startTestServer({ 'domain-verify-port': String(tokens.port), 'domain-verify-private': 'true', 'platform-hosts': 'studio.localhost', 'trust-proxy': 'true' });
    const admin = await tenantOnDomain(server, served, 'label-a', 'label-a.localhost');
    const theme = {
      name: 'Label A Records',
      colours: { background: '#ffffff', surface: '#f4f4f4', text: '#111111', muted: '#555555', accent: '#0b5394', accentText: '#ffffff' },
      fonts: { body: 'Georgia, serif', heading: 'Georgia, serif' },
    };
    expect((await call(server.url, 'PUT', '/api/v1/branding', { token: admin, body: theme })).status).toBe(200);

    httpsPort = await freePort();
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: data.dir,
      XDG_DATA_HOME: path.join(data.dir, 'data'),
      XDG_CONFIG_HOME: path.join(data.dir, 'config'),
      VEZA_UPSTREAM: `127.0.0.1:${server.veza.port}`,
      CADDY_ISSUER: 'internal',
      CADDY_ADMIN: 'off',
      CADDY_HTTP_PORT: String(await freePort()),
      CADDY_HTTPS_PORT: String(httpsPort),
    };
    proc = spawn(caddy!, ['run', '--config', CADDYFILE, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const root = path.join(env.XDG_DATA_HOME, 'caddy/pki/authorities/local/root.crt');
    await waitFor(() => proc.exitCode === null && existsSync(root) && output.includes('serving initial configuration'), 'caddy serving, with its local CA', 60_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\ncaddy said:\n${output.slice(-4000)}`);
    });
    rootCa = readFileSync(root, 'utf8');
  });
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    }
    await server?.stop();
    await new Promise((resolve) => tokens?.server.close(resolve));
    data.remove();
  });

  it('issues a certificate for a verified domain and proxies to the server, which answers with that tenant\'s branding', async () => {
    const answer = await get(httpsPort, 'label-a.localhost', rootCa, '/api/v1/branding');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ tenantId: 'label-a', custom: true, theme: { name: 'Label A Records' } });
    expect(answer.certificate.subjectaltname).toBe('DNS:label-a.localhost');
    expect(answer.certificate.issuer.CN).toMatch(/Caddy Local Authority/);
    // The platform's own host gets one too, and shows the platform's look.
    const platform = await get(httpsPort, 'studio.localhost', rootCa, '/api/v1/branding');
    expect(JSON.parse(platform.body)).toMatchObject({ tenantId: 'default', custom: false });
  });

  it('carries WebSockets to the tenant domain, and refuses another tenant\'s token there', async () => {
    const open = (token: string) =>
      new Promise<number>((resolve, reject) => {
        // Passed on to tls.connect (SNI), which ws's option types do not list.
        const tls = { ca: rootCa, servername: 'label-a.localhost', headers: { host: 'label-a.localhost' } };
        const socket = new WebSocket(`wss://127.0.0.1:${httpsPort}/collab/song`, ['veza', `bearer.${token}`], tls);
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => {
          socket.close();
          resolve(101);
        });
        socket.on('error', (error) => (error.message.includes('Unexpected server response') ? undefined : reject(error)));
      });
    expect(await open(await server.veza.auth.sign({ sub: 'ann', tenant: 'label-a', docs: { '*': 'editor' } }))).toBe(101);
    expect(await open(await server.veza.auth.sign({ sub: 'dee', docs: { '*': 'editor' } }))).toBe(403);
  });

  it('gets no certificate for a name the server does not vouch for', async () => {
    /** How often the server refused Caddy's `ask`. */
    const refusals = async () => {
      const values = (await server.veza.metrics.httpRequests.get()).values;
      return values.find((v) => v.labels.route === '/api/v1/domains/ask' && v.labels.status === '404')?.value ?? 0;
    };
    const before = await refusals();
    // Even a name that serves some token elsewhere: only verified domains count.
    served.set('stranger.localhost', 'whatever');
    const refused = await get(httpsPort, 'stranger.localhost', rootCa, '/api/v1/branding').then(
      () => null,
      (error: NodeJS.ErrnoException) => error,
    );
    expect(refused, 'a TLS handshake for an unverified name').not.toBeNull();
    expect(refused!.code ?? refused!.message).toMatch(/EPROTO|ECONNRESET|alert/i);
    // Caddy asked the server, which said no.
    expect(await refusals()).toBeGreaterThan(before);
  });
});
