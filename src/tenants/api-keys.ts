// API keys for a tenant's servers: `vzk_<id>_<secret>`, the id a lookup key, the secret 256 random
// bits. The database holds an scrypt hash of the secret with its own salt, never the secret. Every
// node holds every key's record in memory (loaded at start, read again when the bus tells of a
// change), so that verification is synchronous, as WebSocket upgrades need: a map get, then scrypt
// once per secret and node (about 3 ms with the parameters below), then a cache of verified secrets.
// A rotation gives the key a new secret and keeps the previous one valid until its overlap ends.
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { z } from 'zod';
import { API_KEY_PREFIX, AuthError, type Principal } from '../server/auth.js';
import { SCOPE_PATTERN } from '../server/scopes.js';
import type { Storage } from '../storage/database.js';
import type { TenantApiKeysTable } from '../storage/schema.js';

/**
 * N = 2^10, r = 8, p = 1: 1 MiB and 3 ms per hash on the idle 2-core test machine, 6 ms loaded (bench/RESULTS.md).
 * The secret is 256 random bits, so no amount of hashing is what keeps it from being guessed; the
 * hash only keeps the stored form from being usable as a key, and a cheap cost keeps the first
 * use of a key on a node (and a flood of wrong secrets) from holding up the event loop.
 */
export const SCRYPT = { N: 1024, r: 8, p: 1, maxmem: 4 * 1024 * 1024 } as const;
const HASH_BYTES = 32;
/** Wrong secrets tried on one key id per second before that id is refused without hashing. */
const FAILURES_PER_SECOND = 20;
/** Verified secrets remembered per node. */
const VERIFIED_KEYS = 10_000;

const KEY_FORMAT = /^vzk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const keyInput = z.object({
  name: z.string().trim().min(1).max(200),
  scopes: z.array(z.string().regex(SCOPE_PATTERN, 'a scope is <area>:read or <area>:write, the area an API path segment or *')).min(1).max(50),
});

export const rotateInput = z.object({
  /** How long the previous secret stays valid, in seconds (0: revoked at once); default one day. */
  overlapSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400),
});

/** What the API shows of a key: never its secret, nor its hash. */
export interface ApiKeyView {
  id: string;
  tenantId: string;
  name: string;
  scopes: string[];
  version: number;
  createdBy: string;
  createdAt: string;
  rotatedAt: string | null;
  previousExpiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

interface Secret {
  salt: Buffer;
  hash: Buffer;
}

interface KeyRecord {
  view: ApiKeyView;
  current: Secret;
  previous: (Secret & { expires: number }) | null;
  revoked: boolean;
}

type Row = Selectable<TenantApiKeysTable>;

export class ApiKeyError extends Error {
  constructor(
    readonly code: 'not-found' | 'revoked',
    message: string,
  ) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

function hashSecret(secret: string, salt: Buffer): Buffer {
  return scryptSync(secret, salt, HASH_BYTES, SCRYPT);
}

function newSecret(): { secret: string } & Secret {
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  return { secret, salt, hash: hashSecret(secret, salt) };
}

export class ApiKeyStore {
  private records = new Map<string, KeyRecord>();
  /** Presented credential → the key id and version it proved (checked against the record at each use). */
  private readonly verified = new Map<string, { id: string; version: number; principal: Principal }>();
  private readonly failures = new Map<string, { second: number; count: number }>();
  /** Key id → when it was last used here, not yet written. */
  private readonly used = new Map<string, number>();

  constructor(private readonly storage: Storage) {}

  async load(): Promise<void> {
    const rows = await this.storage.db.selectFrom('tenant_api_keys').selectAll().execute();
    this.records = new Map(rows.map((row) => [row.id, toRecord(row)]));
  }

  /** Reads one tenant's keys again (a change notice named it). */
  async reload(tenantId: string): Promise<void> {
    const rows = await this.storage.db.selectFrom('tenant_api_keys').selectAll().where('tenant_id', '=', tenantId).execute();
    for (const [id, record] of this.records) if (record.view.tenantId === tenantId) this.records.delete(id);
    for (const row of rows) this.records.set(row.id, toRecord(row));
  }

  /** The principal of a presented key; AuthError (401) for a malformed, unknown, revoked or expired one. */
  verify(credential: string): Principal {
    const now = Date.now();
    // The common case first: a secret this node verified before, its key still valid.
    const cached = this.verified.get(credential);
    if (cached) {
      const record = this.records.get(cached.id);
      if (record && !record.revoked && this.accepts(record, cached.version, now)) {
        this.used.set(cached.id, now);
        return cached.principal;
      }
      this.verified.delete(credential);
    }
    const match = KEY_FORMAT.exec(credential);
    if (!match) throw new AuthError('API key is malformed: expected vzk_<16 hex digits>_<43 base64url characters>');
    const [, id, secret] = match as unknown as [string, string, string];
    const record = this.records.get(id);
    if (!record) throw new AuthError('API key is not known');
    if (record.revoked) throw new AuthError('API key was revoked');
    const version = this.match(record, secret, now);
    const principal: Principal = Object.freeze({
      userId: `key:${id}`,
      tenantId: record.view.tenantId,
      docs: Object.freeze({ '*': record.view.scopes.some((s) => s.endsWith(':write')) ? 'editor' : 'viewer' } as const),
      keyId: id,
      keyVersion: version,
      scopes: Object.freeze([...record.view.scopes]),
    });
    if (this.verified.size >= VERIFIED_KEYS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(credential, { id, version, principal });
    this.used.set(id, now);
    return principal;
  }

  /** Whether a principal's key still admits it: not revoked, and its secret current or within the overlap. */
  stillValid(principal: Principal, now = Date.now()): boolean {
    if (!principal.keyId) return true;
    const record = this.records.get(principal.keyId);
    return !!record && !record.revoked && this.accepts(record, principal.keyVersion ?? 0, now);
  }

  private accepts(record: KeyRecord, version: number, now: number): boolean {
    if (version === record.view.version) return true;
    return version === record.view.version - 1 && record.previous !== null && now < record.previous.expires;
  }

  /** Which version of the key the secret is; scrypt against the current and the previous hash. */
  private match(record: KeyRecord, secret: string, now: number): number {
    const id = record.view.id;
    const second = Math.floor(now / 1000);
    const failures = this.failures.get(id);
    if (failures && failures.second === second && failures.count >= FAILURES_PER_SECOND) throw new AuthError('too many wrong secrets for this API key; try again in a second');
    if (timingSafeEqual(hashSecret(secret, record.current.salt), record.current.hash)) return record.view.version;
    const previous = record.previous;
    if (previous && timingSafeEqual(hashSecret(secret, previous.salt), previous.hash)) {
      if (now < previous.expires) return record.view.version - 1;
      throw new AuthError('API key secret was rotated and its overlap has ended');
    }
    this.failures.set(id, failures && failures.second === second ? { second, count: failures.count + 1 } : { second, count: 1 });
    if (this.failures.size > VERIFIED_KEYS) this.failures.clear();
    throw new AuthError('API key secret is not valid');
  }

  list(tenantId: string): ApiKeyView[] {
    const views = [...this.records.values()].filter((r) => r.view.tenantId === tenantId).map((r) => this.view(r));
    return views.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** The tenant a key belongs to, or undefined for an unknown key. */
  tenantOf(id: string): string | undefined {
    return this.records.get(id)?.view.tenantId;
  }

  get(tenantId: string, id: string): ApiKeyView {
    const record = this.records.get(id);
    if (!record || record.view.tenantId !== tenantId) throw new ApiKeyError('not-found', `tenant ${tenantId} has no API key ${id}`);
    return this.view(record);
  }

  private view(record: KeyRecord): ApiKeyView {
    const used = this.used.get(record.view.id);
    const at = used === undefined ? null : new Date(used).toISOString();
    return at && (!record.view.lastUsedAt || at > record.view.lastUsedAt) ? { ...record.view, lastUsedAt: at } : record.view;
  }

  /** A new key; its secret is in the answer and nowhere else. */
  async create(tenantId: string, input: z.input<typeof keyInput>, createdBy: string): Promise<{ key: ApiKeyView; secret: string }> {
    const { name, scopes } = keyInput.parse(input);
    const id = randomBytes(8).toString('hex');
    const { secret, salt, hash } = newSecret();
    const row = await this.storage.db
      .insertInto('tenant_api_keys')
      .values({ id, tenant_id: tenantId, name, scopes: JSON.stringify([...new Set(scopes)]), salt, hash, created_by: createdBy })
      .returningAll()
      .executeTakeFirstOrThrow();
    const record = toRecord(row);
    this.records.set(id, record);
    return { key: record.view, secret: `${API_KEY_PREFIX}${id}_${secret}` };
  }

  /** A new secret for the key; the previous one stays valid for `overlapSeconds`. */
  async rotate(tenantId: string, id: string, input: z.input<typeof rotateInput>): Promise<{ key: ApiKeyView; secret: string }> {
    const { overlapSeconds } = rotateInput.parse(input);
    const record = this.records.get(id);
    if (!record || record.view.tenantId !== tenantId) throw new ApiKeyError('not-found', `tenant ${tenantId} has no API key ${id}`);
    if (record.revoked) throw new ApiKeyError('revoked', `API key ${id} was revoked; create a new one`);
    const { secret, salt, hash } = newSecret();
    const now = new Date();
    const row = await this.storage.db
      .updateTable('tenant_api_keys')
      .set((eb) => ({
        version: eb('version', '+', 1),
        previous_salt: eb.ref('salt'),
        previous_hash: eb.ref('hash'),
        previous_expires_at: new Date(now.getTime() + overlapSeconds * 1000),
        salt,
        hash,
        rotated_at: now,
      }))
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .where('revoked_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new ApiKeyError('not-found', `tenant ${tenantId} has no API key ${id}`);
    const next = toRecord(row);
    this.records.set(id, next);
    return { key: next.view, secret: `${API_KEY_PREFIX}${id}_${secret}` };
  }

  async revoke(tenantId: string, id: string): Promise<ApiKeyView> {
    const row = await this.storage.db
      .updateTable('tenant_api_keys')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(new Date())) }))
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new ApiKeyError('not-found', `tenant ${tenantId} has no API key ${id}`);
    const record = toRecord(row);
    this.records.set(id, record);
    return record.view;
  }

  /** Writes the last-used times gathered since the previous flush: one statement per flush. */
  async flushLastUsed(): Promise<number> {
    if (this.used.size === 0) return 0;
    const batch = [...this.used];
    this.used.clear();
    const ids = batch.map(([id]) => id);
    const times = batch.map(([, at]) => new Date(at).toISOString());
    await sql`UPDATE tenant_api_keys AS k SET last_used_at = GREATEST(k.last_used_at, u.at)
      FROM unnest(${ids}::text[], ${times}::timestamptz[]) AS u(id, at) WHERE k.id = u.id`.execute(this.storage.db);
    for (const [id, at] of batch) {
      const record = this.records.get(id);
      const iso = new Date(at).toISOString();
      if (record && (!record.view.lastUsedAt || iso > record.view.lastUsedAt)) record.view = { ...record.view, lastUsedAt: iso };
    }
    return batch.length;
  }
}

function toRecord(row: Row): KeyRecord {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    view: {
      id: row.id,
      tenantId: row.tenant_id,
      name: row.name,
      scopes: row.scopes,
      version: row.version,
      createdBy: row.created_by,
      createdAt: row.created_at.toISOString(),
      rotatedAt: iso(row.rotated_at),
      previousExpiresAt: iso(row.previous_expires_at),
      revokedAt: iso(row.revoked_at),
      lastUsedAt: iso(row.last_used_at),
    },
    current: { salt: Buffer.from(row.salt), hash: Buffer.from(row.hash) },
    previous:
      row.previous_salt && row.previous_hash && row.previous_expires_at
        ? { salt: Buffer.from(row.previous_salt), hash: Buffer.from(row.previous_hash), expires: row.previous_expires_at.getTime() }
        : null,
    revoked: row.revoked_at !== null,
  };
}
