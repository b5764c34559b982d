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
type VerifyKey = Uint8Array | KeyObject;

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
  private admission: TenantAdmission | null = null;

  /** Checked at every verification, cached tokens included: a tenant suspended now is refused now. */
  admitTenantsWith(admission: TenantAdmission): void {
    this.admission = admission;
  }

  /** The principal a valid token names; throws AuthError saying what is wrong with any other. */
  verify(token: string | undefined | null): Principal {
    if (!token) throw new AuthError('missing token');
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
    this.admission?.(principal.tenantId);
    return principal;
  }

  private verifyUncached(token: string): { principal: Principal; payload: Record<string, unknown> } {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) throw new AuthError('token is malformed');
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
    const header = decodeJson(encodedHeader);
    if (header.alg !== this.algorithm) throw new AuthError('token algorithm is not accepted');
    // No JWS extension is understood here, so none may be critical (RFC 7515 §4.1.11).
    if (header.crit !== undefined || header.b64 !== undefined) throw new AuthError('token uses unsupported header parameters');
    if (!this.signatureValid(`${encodedHeader}.${encodedPayload}`, Buffer.from(encodedSignature, 'base64url'))) {
      throw new AuthError('token signature is not valid');
    }
    const payload = decodeJson(encodedPayload);
    this.checkRegisteredClaims(payload);
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new AuthError(`invalid token claims: ${claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const principal: Principal = {
      userId: claims.data.sub,
      tenantId: claims.data.tid ?? DEFAULT_TENANT,
      docs: Object.freeze(claims.data.docs ?? {}),
      ...(claims.data.adm === true ? { admin: true } : {}),
      ...(claims.data.op === true ? { operator: true } : {}),
    };
    // Shared by every request that presents the same token.
    return { principal: Object.freeze(principal), payload };
  }

  private signatureValid(signingInput: string, signature: Buffer): boolean {
    if (this.key instanceof Uint8Array) {
      const expected = createHmac('sha256', this.key).update(signingInput).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    return verifySignature('sha256', Buffer.from(signingInput), this.key, signature);
  }

  /** exp (required), nbf, iat, iss and aud as RFC 7519 §4.1 defines them, with no clock tolerance. */
  private checkRegisteredClaims(payload: Record<string, unknown>): void {
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
    const { jwtIssuer, jwtAudience } = this.settings;
    if (jwtIssuer && payload.iss !== jwtIssuer) throw invalid('iss', 'unexpected issuer');
    if (jwtAudience) {
      const aud = payload.aud;
      if (!(aud === jwtAudience || (Array.isArray(aud) && aud.includes(jwtAudience)))) throw invalid('aud', 'unexpected audience');
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
