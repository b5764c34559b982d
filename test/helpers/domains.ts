// Tenants' domains in tests: requests with a chosen Host header, and a tenant's own web server
// answering the domain verification path on loopback.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** A request to `url` with a chosen Host header (fetch does not let one set it). */
export function call(url: string, method: string, path: string, options: { token?: string; host?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const target = new URL(path, url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method,
        headers: {
          ...(options.host ? { host: options.host } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A tenant's own web server: answers the verification path with what `served` holds for the Host. */
export async function startTokenServer(served: Map<string, string>): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const token = served.get(host);
    if (req.url !== '/.well-known/veza-domain-verification' || token === undefined) {
      res.writeHead(404).end('no such file');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${token}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Adds `domain` for `tenant`, serves its token from `served` and verifies it; throws with the answer otherwise. */
export async function claimDomain(url: string, served: Map<string, string>, tenant: string, domain: string, adminToken: string): Promise<void> {
  const added = await call(url, 'POST', `/api/v1/tenants/${tenant}/domains`, { token: adminToken, body: { domain } });
  if (added.status !== 201) throw new Error(`adding ${domain}: ${added.status} ${JSON.stringify(added.body)}`);
  served.set(domain, added.body.token as string);
  const verified = await call(url, 'POST', `/api/v1/tenants/${tenant}/domains/${domain}/verify`, { token: adminToken });
  if (verified.status !== 200) throw new Error(`verifying ${domain}: ${verified.status} ${JSON.stringify(verified.body)}`);
}

/** Creates `tenant` through the operator API and verifies `domain` for it; returns its administrator's token. */
export async function tenantOnDomain(server: { url: string; veza: { auth: { sign(request: { sub: string; tenant?: string; admin?: boolean; operator?: boolean }): Promise<string> } } }, served: Map<string, string>, tenant: string, domain: string): Promise<string> {
  const operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
  const created = await call(server.url, 'POST', '/api/v1/platform/tenants', { token: operator, body: { id: tenant, name: tenant } });
  if (created.status !== 201) throw new Error(`creating ${tenant}: ${created.status} ${JSON.stringify(created.body)}`);
  const admin = await server.veza.auth.sign({ sub: 'ann', tenant, admin: true });
  await claimDomain(server.url, served, tenant, domain, admin);
  return admin;
}
