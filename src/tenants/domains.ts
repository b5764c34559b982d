// Tenants' own domains. A tenant admin (or the operator) adds a domain and receives a token; the
// tenant serves it at http://<domain>/.well-known/veza-domain-verification; the server fetches it
// (a short timeout, a small size limit, no redirects, no private addresses unless allowed) and, when
// it matches, marks the domain verified. Only verified domains resolve: every node holds them in a
// map from host to tenant, so that the Host of each request and WebSocket upgrade is a lookup.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Storage } from '../storage/database.js';
import type { TenantsSettings } from './settings.js';

export const VERIFICATION_PATH = '/.well-known/veza-domain-verification';
/** Verification gives up after this long (connecting and reading together). */
const VERIFY_TIMEOUT_MS = 5_000;
/** A token is 43 characters; a body past this is not one. */
const MAX_TOKEN_BODY_BYTES = 1024;
/** At least two labels, each 1-63 letters, digits and inner hyphens; 253 characters at most. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface TenantDomain {
  domain: string;
  tenantId: string;
  verified: boolean;
  createdAt: string;
  verifiedAt: string | null;
  /** What the tenant serves, and where. */
  token: string;
  verifyUrl: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: 'invalid' | 'not-found' | 'taken' | 'verification-failed',
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** Addresses verification never fetches from unless `domainVerifyPrivate` is set. */
const PRIVATE = new BlockList();
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16]] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) PRIVATE.addSubnet(net, bits, 'ipv6');

function isPrivate(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return PRIVATE.check(mapped, 'ipv4');
  return PRIVATE.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

export function normaliseDomain(input: string): string {
  const domain = input.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN.test(domain)) throw new DomainError('invalid', `${JSON.stringify(input.slice(0, 100))} is not a domain name (labels of letters, digits and -, separated by dots)`);
  return domain;
}

type Row = { domain: string; tenant_id: string; token: string; created_at: Date; verified_at: Date | null };

export class DomainRegistry {
  /** Verified domain → tenant. */
  private hosts = new Map<string, string>();
  private readonly platformHosts: Set<string>;

  constructor(
    private readonly storage: Storage,
    private readonly settings: TenantsSettings,
  ) {
    this.platformHosts = new Set(settings.platformHosts.map((h) => h.toLowerCase()));
  }

  /** Reads every verified domain (at start, and on a schedule where no bus tells of changes). */
  async load(): Promise<void> {
    const rows = await this.storage.db.selectFrom('tenant_domains').select(['domain', 'tenant_id']).where('verified_at', 'is not', null).execute();
    this.hosts = new Map(rows.map((r) => [r.domain, r.tenant_id]));
  }

  /** Reads one domain again (a change notice named it). */
  async reload(domain: string): Promise<void> {
    const row = await this.storage.db.selectFrom('tenant_domains').select(['tenant_id', 'verified_at']).where('domain', '=', domain).executeTakeFirst();
    if (row?.verified_at) this.hosts.set(domain, row.tenant_id);
    else this.hosts.delete(domain);
  }

  /** The tenant of a verified domain; null for any other host. */
  tenantOf(host: string): string | null {
    return this.hosts.get(host) ?? null;
  }

  /** Whether a certificate may be issued for `host` (the TLS `ask`): a verified domain, or the platform's own. */
  vouchesFor(host: string): boolean {
    return this.hosts.has(host) || this.platformHosts.has(host);
  }

  async add(tenantId: string, input: string): Promise<TenantDomain> {
    const domain = normaliseDomain(input);
    if (this.platformHosts.has(domain)) throw new DomainError('taken', `${domain} is the platform's own host`);
    const row = await this.storage.db
      .insertInto('tenant_domains')
      .values({ domain, tenant_id: tenantId, token: randomBytes(32).toString('base64url') })
      .onConflict((c) => c.column('domain').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new DomainError('taken', `${domain} is already claimed`);
    return this.view(row);
  }

  async list(tenantId: string): Promise<TenantDomain[]> {
    const rows = await this.storage.db.selectFrom('tenant_domains').selectAll().where('tenant_id', '=', tenantId).orderBy('domain').execute();
    return rows.map((row) => this.view(row));
  }

  /** Fetches the token from the domain; marks it verified when it matches, throws DomainError otherwise. */
  async verify(tenantId: string, input: string): Promise<TenantDomain> {
    const row = await this.own(tenantId, input);
    const url = this.verifyUrl(row.domain);
    const served = await fetchToken(row.domain, this.settings.domainVerifyPort, this.settings.domainVerifyPrivate);
    const expected = Buffer.from(row.token);
    const got = Buffer.from(served.trim());
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new DomainError('verification-failed', `${url} did not answer this domain's verification token`);
    }
    const updated = await this.storage.db
      .updateTable('tenant_domains')
      .set({ verified_at: row.verified_at ?? new Date() })
      .where('domain', '=', row.domain)
      .where('tenant_id', '=', tenantId)
      .returningAll()
      .executeTakeFirstOrThrow();
    this.hosts.set(updated.domain, tenantId);
    return this.view(updated);
  }

  async remove(tenantId: string, input: string): Promise<string> {
    const row = await this.own(tenantId, input);
    await this.storage.db.deleteFrom('tenant_domains').where('domain', '=', row.domain).where('tenant_id', '=', tenantId).execute();
    this.hosts.delete(row.domain);
    return row.domain;
  }

  private async own(tenantId: string, input: string): Promise<Row> {
    const domain = normaliseDomain(input);
    const row = await this.storage.db.selectFrom('tenant_domains').selectAll().where('domain', '=', domain).where('tenant_id', '=', tenantId).executeTakeFirst();
    if (!row) throw new DomainError('not-found', `tenant ${tenantId} has no domain ${domain}`);
    return row;
  }

  private verifyUrl(domain: string): string {
    const port = this.settings.domainVerifyPort;
    return `http://${domain}${port === 80 ? '' : `:${port}`}${VERIFICATION_PATH}`;
  }

  private view(row: Row): TenantDomain {
    return {
      domain: row.domain,
      tenantId: row.tenant_id,
      verified: row.verified_at !== null,
      createdAt: row.created_at.toISOString(),
      verifiedAt: row.verified_at?.toISOString() ?? null,
      token: row.token,
      verifyUrl: this.verifyUrl(row.domain),
    };
  }
}

/**
 * Resolves as the system does, except `*.localhost` (always loopback, RFC 6761); refuses private
 * and loopback addresses unless allowed, so that a claimed domain cannot point the server inward.
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean | undefined }, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    const answer = (address: string, family: number) => {
      if (!allowPrivate && isPrivate(address)) return callback(new DomainError('verification-failed', `${hostname} resolves to a private address (${address})`), '', 0);
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    if (hostname === 'localhost' || hostname.endsWith('.localhost')) return answer('127.0.0.1', 4);
    dnsLookup(hostname, { family: 0 }, (error, address, family) => {
      if (error) return callback(new DomainError('verification-failed', `${hostname} does not resolve (${error.code ?? error.message})`), '', 0);
      answer(address, family);
    });
  };
}

/** GET http://<domain>:<port>/.well-known/veza-domain-verification: the body (1 KiB at most) of a 200. */
function fetchToken(domain: string, port: number, allowPrivate: boolean): Promise<string> {
  const where = `http://${domain}${port === 80 ? '' : `:${port}`}${VERIFICATION_PATH}`;
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new DomainError('verification-failed', `${where}: ${why}`));
    const req = request(
      { host: domain, port, path: VERIFICATION_PATH, method: 'GET', lookup: guardedLookup(allowPrivate), timeout: VERIFY_TIMEOUT_MS, headers: { 'user-agent': 'veza-domain-verification', accept: 'text/plain' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return fail(`answered ${res.statusCode}${res.statusCode && res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : ''}; it must answer 200 with the token`);
        }
        let size = 0;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_TOKEN_BODY_BYTES) {
            req.destroy();
            return fail(`the answer is larger than ${MAX_TOKEN_BODY_BYTES} bytes; it must be the token alone`);
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', (error) => fail(error.message));
      },
    );
    const deadline = setTimeout(() => {
      req.destroy();
      fail(`no answer within ${VERIFY_TIMEOUT_MS / 1000} s`);
    }, VERIFY_TIMEOUT_MS);
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => {
      req.destroy();
      fail(`no answer within ${VERIFY_TIMEOUT_MS / 1000} s`);
    });
    req.on('error', (error) => (error instanceof DomainError ? reject(error) : fail((error as NodeJS.ErrnoException).code ?? error.message)));
    req.end();
  });
}
