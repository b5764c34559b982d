// Each tenant's own identity provider: an HS256 secret, or a JWKS document of RS256 and ES256
// public keys, each with its `kid`. Every node holds every provider's keys in memory (loaded at
// start, read again on a bus notice), so that the Authenticator verifies a tenant's tokens
// synchronously with that tenant's keys.
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { TenantTokenKeys, TenantVerifyKey } from '../server/auth.js';
import type { Storage } from '../storage/database.js';

const jwk = z
  .object({
    kid: z.string().min(1).max(200),
    kty: z.enum(['RSA', 'EC']),
    alg: z.enum(['RS256', 'ES256']).optional(),
    use: z.literal('sig').optional(),
  })
  .passthrough();

export const providerInput = z
  .object({
    /** A shared secret of at least 32 characters, for HS256 tokens. */
    hs256Secret: z.string().min(32).max(1000).optional(),
    /** A JWKS document: `{keys: [...]}`, public RSA (RS256) and P-256 (ES256) keys, each with a kid. */
    jwks: z.object({ keys: z.array(jwk).min(1).max(20) }).optional(),
    /** Whether the platform's own key still signs tokens for this tenant (`veza token`); default true. */
    platformTokens: z.boolean().default(true),
    /** When set, the tenant's tokens must carry this `iss` (and `aud`). */
    issuer: z.string().min(1).max(500).optional(),
    audience: z.string().min(1).max(500).optional(),
  })
  .refine((p) => (p.hs256Secret === undefined) !== (p.jwks === undefined), { message: 'give exactly one of hs256Secret and jwks' });

export type ProviderInput = z.input<typeof providerInput>;

/** What the API shows of a provider: the kids and algorithms, never the HS256 secret. */
export interface ProviderView {
  tenantId: string;
  kind: 'hs256' | 'jwks';
  keys: { kid: string; alg: string }[];
  platformTokens: boolean;
  issuer: string | null;
  audience: string | null;
  updatedAt: string;
}

export class ProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** The verification keys of a JWKS document; refuses private keys, duplicate kids and other curves. */
export function jwksKeys(document: { keys: z.infer<typeof jwk>[] }): Map<string, TenantVerifyKey> {
  const keys = new Map<string, TenantVerifyKey>();
  for (const entry of document.keys) {
    if ('d' in entry) throw new ProviderError(`key ${entry.kid} is a private key; give only the public keys`);
    if (keys.has(entry.kid)) throw new ProviderError(`kid ${entry.kid} appears twice`);
    const alg = entry.kty === 'RSA' ? 'RS256' : 'ES256';
    if (entry.alg && entry.alg !== alg) throw new ProviderError(`key ${entry.kid} is ${entry.kty}, which cannot sign ${entry.alg}`);
    if (entry.kty === 'EC' && entry.crv !== 'P-256') throw new ProviderError(`key ${entry.kid}: ES256 needs the P-256 curve`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: entry as JsonWebKey, format: 'jwk' });
    } catch (error) {
      throw new ProviderError(`key ${entry.kid} is not a valid public key: ${(error as Error).message}`);
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (alg === 'RS256' && (bits === undefined || bits < 2048)) throw new ProviderError(`key ${entry.kid}: an RSA key needs at least 2048 bits`);
    keys.set(entry.kid, { alg, key });
  }
  return keys;
}

type Row = {
  tenant_id: string;
  hs256_secret: string | null;
  jwks: unknown;
  platform_tokens: boolean;
  issuer: string | null;
  audience: string | null;
  updated_at: Date;
};

export class TenantTokenKeyStore {
  private providers = new Map<string, { keys: TenantTokenKeys; view: ProviderView }>();

  constructor(private readonly storage: Storage) {}

  async load(): Promise<void> {
    const rows = await this.storage.db.selectFrom('tenant_identity_providers').selectAll().execute();
    const next = new Map<string, { keys: TenantTokenKeys; view: ProviderView }>();
    for (const row of rows) next.set(row.tenant_id, fromRow(row as Row));
    this.providers = next;
  }

  async reload(tenantId: string): Promise<void> {
    const row = await this.storage.db.selectFrom('tenant_identity_providers').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
    if (row) this.providers.set(tenantId, fromRow(row as Row));
    else this.providers.delete(tenantId);
  }

  /** The Authenticator's resolver: a map get. */
  keysFor(tenantId: string): TenantTokenKeys | undefined {
    return this.providers.get(tenantId)?.keys;
  }

  view(tenantId: string): ProviderView | null {
    return this.providers.get(tenantId)?.view ?? null;
  }

  /** Validates the input here (the JWKS keys are parsed, so errors say which key is wrong). */
  async set(tenantId: string, input: unknown): Promise<ProviderView> {
    const parsed = providerInput.safeParse(input);
    if (!parsed.success) throw new ProviderError(parsed.error.issues.map((i) => `${i.path.join('.') || 'provider'}: ${i.message}`).join('; '));
    const p = parsed.data;
    if (p.jwks) jwksKeys(p.jwks);
    const values = {
      hs256_secret: p.hs256Secret ?? null,
      jwks: p.jwks ? JSON.stringify(p.jwks) : null,
      platform_tokens: p.platformTokens,
      issuer: p.issuer ?? null,
      audience: p.audience ?? null,
      updated_at: new Date(),
    };
    const row = await this.storage.db
      .insertInto('tenant_identity_providers')
      .values({ tenant_id: tenantId, ...values })
      .onConflict((c) => c.column('tenant_id').doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow();
    const entry = fromRow(row as Row);
    this.providers.set(tenantId, entry);
    return entry.view;
  }

  /** Removes the tenant's provider: only the platform's key signs for it again. */
  async remove(tenantId: string): Promise<boolean> {
    const result = await this.storage.db.deleteFrom('tenant_identity_providers').where('tenant_id', '=', tenantId).executeTakeFirst();
    this.providers.delete(tenantId);
    return Number(result.numDeletedRows) > 0;
  }
}

function fromRow(row: Row): { keys: TenantTokenKeys; view: ProviderView } {
  const keys = row.hs256_secret !== null ? new Map([['', { alg: 'HS256' as const, key: new TextEncoder().encode(row.hs256_secret) }]]) : jwksKeys(row.jwks as { keys: z.infer<typeof jwk>[] });
  return {
    keys: {
      keys,
      platformTokens: row.platform_tokens,
      ...(row.issuer ? { issuer: row.issuer } : {}),
      ...(row.audience ? { audience: row.audience } : {}),
    },
    view: {
      tenantId: row.tenant_id,
      kind: row.hs256_secret !== null ? 'hs256' : 'jwks',
      keys: [...keys].map(([kid, key]) => ({ kid, alg: key.alg })),
      platformTokens: row.platform_tokens,
      issuer: row.issuer,
      audience: row.audience,
      updatedAt: row.updated_at.toISOString(),
    },
  };
}
