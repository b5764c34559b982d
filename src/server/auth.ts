import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errors as joseErrors, importSPKI, jwtVerify, SignJWT, type JWTVerifyOptions } from 'jose';
import { z } from 'zod';
import type { Config } from '../config.js';
import { DEFAULT_TENANT, TENANT_ID_PATTERN } from '../storage/schema.js';

export const documentRoles = ['owner', 'editor', 'viewer'] as const;
export type DocumentRole = (typeof documentRoles)[number];

/** Who is calling, as the token says. `docs` maps document ids (or `*`) to a role. */
export interface Principal {
  userId: string;
  tenantId: string;
  docs: Record<string, DocumentRole>;
}

export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

const claimsSchema = z.object({
  sub: z.string().min(1).max(200),
  tid: z.string().regex(TENANT_ID_PATTERN).optional(),
  docs: z.record(z.string().min(1).max(200), z.enum(documentRoles)).optional(),
});

export interface TokenRequest {
  sub: string;
  tenant?: string;
  docs?: Record<string, DocumentRole>;
  /** Lifetime in seconds; default one day. */
  ttlSeconds?: number;
}

type AuthConfig = Pick<Config, 'dataDir'> & Partial<Pick<Config, 'jwtSecret' | 'jwtPublicKey' | 'jwtIssuer' | 'jwtAudience'>>;
type VerifyKey = Uint8Array | Awaited<ReturnType<typeof importSPKI>>;

/**
 * Verifies JWTs: HS256 with a shared secret (configured, or a development secret generated into the
 * data directory), or RS256 with a configured public key. Only the configured algorithm is
 * accepted, so an HS256 token signed with the public key as secret is refused.
 */
export class Authenticator {
  private constructor(
    readonly algorithm: 'HS256' | 'RS256',
    private readonly key: VerifyKey,
    readonly secretSource: 'configured' | 'generated' | 'public-key',
    private readonly config: AuthConfig,
  ) {}

  static async create(config: AuthConfig): Promise<Authenticator> {
    if (config.jwtPublicKey) {
      const pem = config.jwtPublicKey.includes('-----BEGIN') ? config.jwtPublicKey : readFileSync(config.jwtPublicKey, 'utf8');
      return new Authenticator('RS256', await importSPKI(pem, 'RS256'), 'public-key', config);
    }
    if (config.jwtSecret) return new Authenticator('HS256', new TextEncoder().encode(config.jwtSecret), 'configured', config);
    return new Authenticator('HS256', new TextEncoder().encode(developmentSecret(config.dataDir)), 'generated', config);
  }

  async verify(token: string | undefined | null): Promise<Principal> {
    if (!token) throw new AuthError('missing token');
    const options: JWTVerifyOptions = { algorithms: [this.algorithm], requiredClaims: ['sub', 'exp'] };
    if (this.config.jwtIssuer) options.issuer = this.config.jwtIssuer;
    if (this.config.jwtAudience) options.audience = this.config.jwtAudience;
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.key, options));
    } catch (error) {
      throw new AuthError(describeJoseError(error));
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new AuthError(`invalid token claims: ${claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { userId: claims.data.sub, tenantId: claims.data.tid ?? DEFAULT_TENANT, docs: claims.data.docs ?? {} };
  }

  /** Signs a token this server accepts; only possible with an HS256 secret. */
  async sign(request: TokenRequest): Promise<string> {
    if (this.algorithm !== 'HS256' || !(this.key instanceof Uint8Array)) {
      throw new AuthError('this server verifies RS256 tokens with a public key; sign them with the matching private key');
    }
    const claims = claimsSchema.parse({ sub: request.sub, tid: request.tenant, docs: request.docs });
    let jwt = new SignJWT({ tid: claims.tid ?? DEFAULT_TENANT, docs: claims.docs ?? {} })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (request.ttlSeconds ?? 86_400));
    if (this.config.jwtIssuer) jwt = jwt.setIssuer(this.config.jwtIssuer);
    if (this.config.jwtAudience) jwt = jwt.setAudience(this.config.jwtAudience);
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

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is not valid';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `token claim ${error.claim} is not valid: ${error.reason}`;
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'token is malformed';
  return 'token is not valid';
}
