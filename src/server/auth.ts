import { createHmac, createPublicKey, randomBytes, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { DEFAULT_TENANT, TENANT_ID_PATTERN } from '../storage/schema.js';
import type { AuthSettings } from './settings.js';

export const documentRoles = ['owner', 'editor', 'viewer'] as const;
export type DocumentRole = (typeof documentRoles)[number];

/** Who is calling, as the token says. `docs` maps document ids (or `*`) to a role. */
export interface Principal {
  userId: string;
  tenantId: string;
  docs: Record<string, DocumentRole>;
  /** A tenant administrator (claim `adm`): defines experiments, bulk-loads history, trains models. */
  admin?: boolean;
  /** The platform's operator (claim `op`): creates, suspends and resumes tenants. Not a tenant role. */
  operator?: boolean;
  /** Set when an API key (not a token) authenticated the caller: the key's id and its rotation. */
  keyId?: string;
  keyVersion?: number;
  /** An API key's scopes (`<area>:read`, `<area>:write`, `*` for every area); checked by the routers. */
  scopes?: readonly string[];
}

/** A refused credential: 401 when it proves nothing, 403 when it is valid and its tenant may not enter. */
export class AuthError extends Error {
  constructor(
    message: string,
    readonly status: 401 | 403 = 401,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Throws AuthError when the tenant a valid token names may not enter (unknown, or suspended). */
export type TenantAdmission = (tenantId: string) => void;

/** The tenant whose verified domain a (normalised) host name is; null for any other host. */
export type HostTenants = (host: string) => string | null;

/** A Host header's name: lowercase, without the port or a trailing dot; null when it is not a name. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null;
  const name = header.trim().toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  return /^[a-z0-9.-]{1,253}$/.test(name) ? name : null;
}

/** A key of a tenant's own identity provider: an HS256 secret, or an RS256/ES256 public key of its JWKS. */
export interface TenantVerifyKey {
  alg: 'HS256' | 'RS256' | 'ES256';
  key: VerifyKey;
}

/** A tenant's own identity provider, as the tenants module holds it in memory. */
export interface TenantTokenKeys {
  /** By `kid`; an HS256 secret is under the empty kid and also verifies tokens without one. */
  keys: ReadonlyMap<string, TenantVerifyKey>;
  /** Whether tokens the platform's own key signs are still admitted for this tenant. */
  platformTokens: boolean;
  issuer?: string;
  audience?: string;
}

/** The identity provider of the tenant a token names, or undefined where it has none. */
export type TenantKeyResolver = (tenantId: string) => TenantTokenKeys | undefined;

/** The principal an API key names; throws AuthError for any other credential of its shape. */
export type ApiKeyVerifier = (credential: string) => Principal;

/** Credentials that start so are API keys, not tokens. */
export const API_KEY_PREFIX = 'vzk_';

const claimsSchema = z.object({
  sub: z.string().min(1).max(200),
  tid: z.string().regex(TENANT_ID_PATTERN).optional(),
  docs: z.record(z.string().min(1).max(200), z.enum(documentRoles)).optional(),
  adm: z.boolean().optional(),
  op: z.boolean().optional(),
});

export interface TokenRequest {
  sub: string;
  tenant?: string;
  docs?: Record<string, DocumentRole>;
  /** Tenant administrator. */
  admin?: boolean;
  /** The platform's operator. */
  operator?: boolean;
  /** Lifetime in seconds; default one day. */
  ttlSeconds?: number;
}

export interface AuthenticatorOptions {
  /** The sign-in settings; any left out count as unset. */
  settings: Partial<AuthSettings>;
  /** Where the development secret is generated when neither a secret nor a public key is set. */
  dataDir: string;
}
export type VerifyKey = Uint8Array | KeyObject;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Verified tokens remembered per server (a few hundred bytes each). */
const VERIFIED_TOKENS = 10_000;

/**
 * Verifies JWTs: HS256 with a shared secret (configured, or a development secret generated into the
 * data directory), or RS256 with a configured public key. Only the configured algorithm is
 * accepted, so an HS256 token signed with the public key as secret is refused.
 *
 * Verification is synchronous (node:crypto), so that WebSocket upgrades complete inside uWS's own
 * upgrade handler: uWS 20.30 can close a socket upgraded later, from a promise continuation
 * (uNetworking/uWebSockets PR #1929). Signing uses jose.
 */
export class Authenticator {
  private constructor(
    readonly algorithm: 'HS256' | 'RS256',
    private readonly key: VerifyKey,
    readonly secretSource: 'configured' | 'generated' | 'public-key',
    private readonly settings: Partial<AuthSettings>,
  ) {}

  static async create({ settings, dataDir }: AuthenticatorOptions): Promise<Authenticator> {
    if (settings.jwtPublicKey) {
      const pem = settings.jwtPublicKey.includes('-----BEGIN') ? settings.jwtPublicKey : readFileSync(settings.jwtPublicKey, 'utf8');
      const key = createPublicKey(pem);
      if (key.asymmetricKeyType !== 'rsa') throw new Error(`the JWT public key must be an RSA key for RS256, not ${key.asymmetricKeyType}`);
      return new Authenticator('RS256', key, 'public-key', settings);
    }
    if (settings.jwtSecret) return new Authenticator('HS256', new TextEncoder().encode(settings.jwtSecret), 'configured', settings);
    return new Authenticator('HS256', new TextEncoder().encode(developmentSecret(dataDir)), 'generated', settings);
  }

  /**
   * Tokens that verified, with the times between which they stay valid: a client sends the same
   * token with every request, and checking its signature and claims again each time costs the
   * request thread a few hundred microseconds when requests are sparse (code not yet optimised).
   * Map order is insertion order, so the oldest entry goes first when the cache is full.
   */
  private readonly verified = new Map<string, { principal: Principal; notBefore: number; expires: number }>();
  /** When each token's principal stops being valid (`exp`, Unix seconds); API keys have none. */
  private readonly expiries = new WeakMap<Principal, number>();
  private admission: TenantAdmission | null = null;
  private hostTenants: HostTenants | null = null;
  private tenantKeys: TenantKeyResolver | null = null;
  /** The tenant key (null: the platform's) that verified each token principal, for stillSigned. */
  private readonly signers = new WeakMap<Principal, { kid: string; key: TenantVerifyKey } | null>();
  private apiKeys: ApiKeyVerifier | null = null;

  /** Checked at every verification, cached tokens included: a tenant suspended now is refused now. */
  admitTenantsWith(admission: TenantAdmission): void {
    this.admission = admission;
  }

  /** How a request's Host names a tenant (its verified domain); without it, no host names one. */
  resolveHostsWith(hostTenants: HostTenants): void {
    this.hostTenants = hostTenants;
  }

  /** The tenant whose domain the request came to, from its Host header; null for the platform's and unknown hosts. */
  tenantOfHost(hostHeader: string | undefined): string | null {
    const name = this.hostTenants ? hostName(hostHeader) : null;
    return name === null ? null : this.hostTenants!(name);
  }

  /** On a tenant's own domain, only that tenant's tokens (and the operator's) are admitted: 403 otherwise. */
  admitOnHost(principal: Principal, hostHeader: string | undefined, hostTenant = this.tenantOfHost(hostHeader)): void {
    if (hostTenant === null || hostTenant === principal.tenantId || principal.operator) return;
    throw new AuthError(`a token of tenant ${principal.tenantId} is not accepted on ${hostName(hostHeader)}, a domain of tenant ${hostTenant}`, 403);
  }

  /** Tokens naming a tenant with its own identity provider are verified with that provider's keys. */
  resolveTenantKeysWith(resolver: TenantKeyResolver): void {
    this.tenantKeys = resolver;
  }

  /** Credentials starting with `vzk_` go to this verifier (synchronous, like tokens). */
  verifyApiKeysWith(verifier: ApiKeyVerifier): void {
    this.apiKeys = verifier;
  }

  /**
   * Whether the key that verified a token's principal still verifies it: after a tenant's identity
   * provider changed, an open socket whose key was removed or replaced (or signed by the platform's
   * key for a tenant that no longer admits those) is closed. Principals of API keys answer true.
   */
  stillSigned(principal: Principal): boolean {
    const signer = this.signers.get(principal);
    if (signer === undefined) return true;
    const own = this.tenantKeys?.(principal.tenantId);
    if (signer === null) return !own || own.platformTokens;
    const current = own?.keys.get(signer.kid);
    return current !== undefined && sameKey(current, signer.key);
  }

  /** When the token that named `principal` expires (Unix seconds), or undefined (an API key). */
  expiresAt(principal: Principal): number | undefined {
    return this.expiries.get(principal);
  }

  /** Drops the verified tokens of a tenant whose identity provider changed: they are checked again. */
  forgetTenant(tenantId: string): void {
    for (const [token, entry] of this.verified) if (entry.principal.tenantId === tenantId) this.verified.delete(token);
  }

  /** The principal a valid token (or API key) names; throws AuthError saying what is wrong with any other. */
  verify(token: string | undefined | null): Principal {
    if (!token) throw new AuthError('missing token');
    if (token.startsWith(API_KEY_PREFIX)) {
      if (!this.apiKeys) throw new AuthError('API keys are not accepted by this server');
      const principal = this.apiKeys(token);
      this.admission?.(principal.tenantId);
      return principal;
    }
    const cached = this.verified.get(token);
    if (cached) {
      const now = Math.floor(Date.now() / 1000);
      if (cached.notBefore <= now && now < cached.expires) {
        this.admission?.(cached.principal.tenantId);
        return cached.principal;
      }
      this.verified.delete(token);
    }
    const { principal, payload } = this.verifyUncached(token);
    if (this.verified.size >= VERIFIED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { principal, notBefore: typeof payload.nbf === 'number' ? payload.nbf : -Infinity, expires: payload.exp as number });
    this.expiries.set(principal, payload.exp as number);
    this.admission?.(principal.tenantId);
    return principal;
  }

  private verifyUncached(token: string): { principal: Principal; payload: Record<string, unknown> } {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) throw new AuthError('token is malformed');
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
    const header = decodeJson(encodedHeader);
    // No JWS extension is understood here, so none may be critical (RFC 7515 §4.1.11).
    if (header.crit !== undefined || header.b64 !== undefined) throw new AuthError('token uses unsupported header parameters');
    // Read before the signature is checked, only to choose the key: the tenant whose key verifies
    // the token is the tenant it names, and a tenant's key never grants the operator.
    const payload = decodeJson(encodedPayload);
    const named = typeof payload.tid === 'string' ? payload.tid : DEFAULT_TENANT;
    const own = this.tenantKeys?.(named);
    const signingInput = `${encodedHeader}.${encodedPayload}`;
    const signature = Buffer.from(encodedSignature, 'base64url');
    const tenantKey = own ? pickTenantKey(own, header) : undefined;
    const signedByTenant = tenantKey !== undefined && tenantSignatureValid(tenantKey.key, signingInput, signature);
    if (signedByTenant) {
      if (payload.op !== undefined) throw new AuthError(`a token signed by tenant ${named}'s identity provider cannot claim op`);
      this.checkRegisteredClaims(payload, own!);
    } else {
      // Not the tenant's own: the platform's key, where the tenant still admits what it signs.
      if (header.alg !== this.algorithm) throw new AuthError(tenantKey ? 'token signature is not valid' : 'token algorithm is not accepted');
      if (!this.signatureValid(signingInput, signature)) throw new AuthError('token signature is not valid');
      if (own && !own.platformTokens) throw new AuthError(`tenant ${named} admits only tokens signed by its own identity provider`);
      this.checkRegisteredClaims(payload, { issuer: this.settings.jwtIssuer, audience: this.settings.jwtAudience });
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new AuthError(`invalid token claims: ${claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    if ((claims.data.tid ?? DEFAULT_TENANT) !== named) throw new AuthError('token is malformed');
    const principal: Principal = {
      userId: claims.data.sub,
      tenantId: claims.data.tid ?? DEFAULT_TENANT,
      docs: Object.freeze(claims.data.docs ?? {}),
      ...(claims.data.adm === true ? { admin: true } : {}),
      ...(claims.data.op === true ? { operator: true } : {}),
    };
    // Shared by every request that presents the same token.
    Object.freeze(principal);
    this.signers.set(principal, signedByTenant ? tenantKey : null);
    return { principal, payload };
  }

  private signatureValid(signingInput: string, signature: Buffer): boolean {
    if (this.key instanceof Uint8Array) {
      const expected = createHmac('sha256', this.key).update(signingInput).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    return verifySignature('sha256', Buffer.from(signingInput), this.key, signature);
  }

  /** exp (required), nbf, iat, iss and aud as RFC 7519 §4.1 defines them, with no clock tolerance. */
  private checkRegisteredClaims(payload: Record<string, unknown>, expected: { issuer?: string | undefined; audience?: string | undefined }): void {
    const now = Math.floor(Date.now() / 1000);
    const invalid = (claim: string, reason: string) => new AuthError(`token claim ${claim} is not valid: ${reason}`);
    const numeric = (claim: string) => {
      const value = payload[claim];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw invalid(claim, 'not a number');
      return value as number | undefined;
    };
    const exp = numeric('exp');
    if (exp === undefined) throw invalid('exp', 'missing');
    if (exp <= now) throw new AuthError('token expired');
    const nbf = numeric('nbf');
    if (nbf !== undefined && nbf > now) throw invalid('nbf', 'not yet valid');
    numeric('iat');
    const { issuer, audience } = expected;
    if (issuer && payload.iss !== issuer) throw invalid('iss', 'unexpected issuer');
    if (audience) {
      const aud = payload.aud;
      if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) throw invalid('aud', 'unexpected audience');
    }
  }

  /** Signs a token this server accepts; only possible with an HS256 secret. */
  async sign(request: TokenRequest): Promise<string> {
    if (this.algorithm !== 'HS256' || !(this.key instanceof Uint8Array)) {
      throw new AuthError('this server verifies RS256 tokens with a public key; sign them with the matching private key');
    }
    const claims = claimsSchema.parse({ sub: request.sub, tid: request.tenant, docs: request.docs, adm: request.admin, op: request.operator });
    let jwt = new SignJWT({ tid: claims.tid ?? DEFAULT_TENANT, docs: claims.docs ?? {}, ...(claims.adm ? { adm: true } : {}), ...(claims.op ? { op: true } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (request.ttlSeconds ?? 86_400));
    if (this.settings.jwtIssuer) jwt = jwt.setIssuer(this.settings.jwtIssuer);
    if (this.settings.jwtAudience) jwt = jwt.setAudience(this.settings.jwtAudience);
    return jwt.sign(this.key);
  }
}

/**
 * Outside development mode, tokens should name this service: without a required issuer and audience,
 * a token another service signed with the same key is accepted here. The warning, or null.
 */
export function unboundTokensWarning(settings: { jwtIssuer?: string | undefined; jwtAudience?: string | undefined }): string | null {
  const missing = [settings.jwtIssuer ? null : 'VEZA_JWT_ISSUER', settings.jwtAudience ? null : 'VEZA_JWT_AUDIENCE'].filter((name) => name !== null);
  if (missing.length === 0) return null;
  return `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set: tokens are not checked for this service's issuer and audience, so a token signed with the same key for another service is accepted`;
}

/** The role a principal holds on a document: an exact entry wins over the `*` wildcard. */
export function roleFor(principal: Principal, docId: string): DocumentRole | null {
  return principal.docs[docId] ?? principal.docs['*'] ?? null;
}

export function canWrite(role: DocumentRole | null): boolean {
  return role === 'owner' || role === 'editor';
}

const DEV_SECRET_FILE = 'dev-jwt-secret';

/** Created once, readable by the owner only; `veza token` and `veza serve` read the same file. */
function developmentSecret(dataDir: string): string {
  const file = path.join(dataDir, DEV_SECRET_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(file, randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${file} holds a secret shorter than 32 characters; delete it to generate a new one`);
  return secret;
}

/**
 * The tenant key a token's header asks for: by `kid` in the tenant's JWKS, or its HS256 secret for
 * an HS256 token without a known kid. None when the algorithm does not match (the platform's key may
 * then be tried, where the tenant allows it).
 */
function pickTenantKey(own: TenantTokenKeys, header: Record<string, unknown>): { kid: string; key: TenantVerifyKey } | undefined {
  const named = typeof header.kid === 'string' ? header.kid : '';
  const kid = own.keys.has(named) ? named : header.alg === 'HS256' ? '' : named;
  const key = own.keys.get(kid);
  return key && key.alg === header.alg ? { kid, key } : undefined;
}

/** The same algorithm and key material (a provider set again holds new key objects). */
function sameKey(a: TenantVerifyKey, b: TenantVerifyKey): boolean {
  if (a === b) return true;
  if (a.alg !== b.alg) return false;
  if (a.key instanceof Uint8Array || b.key instanceof Uint8Array) {
    return a.key instanceof Uint8Array && b.key instanceof Uint8Array && Buffer.from(a.key).equals(b.key);
  }
  return a.key.equals(b.key);
}

function tenantSignatureValid({ alg, key }: TenantVerifyKey, signingInput: string, signature: Buffer): boolean {
  if (key instanceof Uint8Array) {
    const expected = createHmac('sha256', key).update(signingInput).digest();
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  }
  // JWS carries ES256 signatures as r||s (RFC 7518 §3.4), not DER.
  return verifySignature('sha256', Buffer.from(signingInput), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
}

/** A JWT segment that must hold a JSON object. */
function decodeJson(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new AuthError('token is malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AuthError('token is malformed');
  return value as Record<string, unknown>;
}
