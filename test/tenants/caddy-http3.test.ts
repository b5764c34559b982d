// HTTP/3 through the Caddy edge: deploy/caddy/Caddyfile with the real `caddy` (Debian's package)
// in front of our server on loopback. A response over HTTP/2 advertises HTTP/3 (Alt-Svc), and a real
// HTTP/3 client (ngtcp2's `gtlsclient`, Debian's `ngtcp2-client`) then gets the server's answer
// over QUIC: ALPN h3, status 200, the body our server wrote. Node 20 has no HTTP/3 client and
// Debian 12's curl is built without HTTP/3, hence the separate client.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const CADDY = process.env.CADDY_PATH ?? '/usr/bin/caddy';
const H3_CLIENT = process.env.H3_CLIENT_PATH ?? '/usr/bin/gtlsclient';
const CADDYFILE = path.resolve(import.meta.dirname, '../../deploy/caddy/Caddyfile');
// The platform's own host, vouched for by VEZA_PLATFORM_HOSTS. ngtcp2's client sends the SNI
// `localhost` whenever it is given an address rather than a name, so the name it is given is that.
const HOST = 'localhost';

function tools(): boolean {
  const missing = [existsSync(CADDY) ? null : `no caddy at ${CADDY}: apt-get install -y caddy (or set CADDY_PATH)`, existsSync(H3_CLIENT) ? null : `no HTTP/3 client at ${H3_CLIENT}: apt-get install -y ngtcp2-client (or set H3_CLIENT_PATH)`].filter(
    (line) => line !== null,
  );
  if (missing.length === 0) return true;
  const reason = missing.join('; ');
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return false;
}

/** One GET over HTTP/2 (TLS to 127.0.0.1 for `HOST`, trusting only Caddy's root): status, headers, body. */
function getOverHttp2(port: number, ca: string, urlPath: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: HOST });
    session.on('error', reject);
    const request = session.request({ ':path': urlPath, ':authority': `${HOST}:${port}` });
    let body = '';
    let headers: http2.IncomingHttpHeaders = {};
    request.on('response', (h) => (headers = h));
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const alpn = session.alpnProtocol ?? false;
      session.close();
      resolve({ status: Number(headers[':status']), headers, body, alpn });
    });
    request.on('error', reject);
    request.end();
  });
}

/** One GET over HTTP/3 with ngtcp2's client, the body downloaded into `dir`. */
function getOverHttp3(port: number, urlPath: string, dir: string): Promise<{ code: number | null; output: string; body: string | null }> {
  return new Promise((resolve, reject) => {
    const args = ['--exit-on-all-streams-close', '--no-quic-dump', '--timeout=20s', `--download=${dir}`, HOST, String(port), `https://${HOST}:${port}${urlPath}`];
    const child = spawn(H3_CLIENT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const file = path.join(dir, path.basename(urlPath));
      resolve({ code, output, body: existsSync(file) ? readFileSync(file, 'utf8') : null });
    });
  });
}

describe.skipIf(!tools())('HTTP/3 through Caddy', { timeout: 300_000 }, () => {
  let server: TestServer;
  let proc: ChildProcess;
  let output = '';
  let httpsPort: number;
  let rootCa: string;
  const data = tempDir('caddy-h3');

  beforeAll(async () => {
    server = await startTestServer({ 'platform-hosts': HOST, 'trust-proxy': 'true' });
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
    proc = spawn(CADDY, ['run', '--config', CADDYFILE, '--adapter', 'caddyfile'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const root = path.join(env.XDG_DATA_HOME, 'caddy/pki/authorities/local/root.crt');
    await waitFor(() => proc.exitCode === null && existsSync(root) && output.includes('serving initial configuration'), 'caddy serving, with its local CA', 60_000).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\ncaddy said:\n${output.slice(-4000)}`);
    });
    rootCa = readFileSync(root, 'utf8');
  }, 300_000);
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    }
    await server?.stop();
    data.remove();
  });

  it('listens for HTTP/3 on UDP at the HTTPS port and advertises it over HTTP/2 with Alt-Svc', async () => {
    expect(output).toMatch(/enabling HTTP\/3 listener/);
    const answer = await getOverHttp2(httpsPort, rootCa, '/api/v1/branding');
    expect(answer.alpn).toBe('h2');
    expect(answer.status).toBe(200);
    expect(answer.headers['alt-svc']).toMatch(new RegExp(`h3=":${httpsPort}"`));
    expect(JSON.parse(answer.body)).toMatchObject({ tenantId: 'default', custom: false });
  });

  it("serves the server's answer over HTTP/3 to a real HTTP/3 client", async () => {
    const dir = tempDir('h3-download');
    try {
      // As a browser does: HTTPS over TCP first (the certificate is issued on demand then), told of
      // HTTP/3 by Alt-Svc, then HTTP/3.
      const overH2 = await getOverHttp2(httpsPort, rootCa, '/api/v1/branding');
      expect(overH2.headers['alt-svc']).toMatch(/h3=/);
      const answer = await getOverHttp3(httpsPort, '/api/v1/branding', dir.dir);
      // What the client says of the exchange, without its packet-by-packet trace.
      const said = answer.output
        .split('\n')
        .filter((line) => !/^(I\d{8} |Sent packet|Received packet|Set timer)/.test(line))
        .join('\n')
        .slice(-4000);
      expect(said).toMatch(/Negotiated ALPN is h3/);
      expect(said).toMatch(/\[:status: 200\]/);
      expect(said).toMatch(/\[server: Caddy\]/);
      expect(answer.body, said).not.toBeNull();
      expect(JSON.parse(answer.body!)).toMatchObject({ tenantId: 'default', custom: false });
      // The same over HTTP/3 as over HTTP/2: the request reached our server through Caddy.
      expect(JSON.parse(answer.body!)).toEqual(JSON.parse(overH2.body));
    } finally {
      dir.remove();
    }
  });
});
