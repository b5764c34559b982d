// Requests that spend on chain (a mint, a voucher's redemption) carry an Idempotency-Key: the first
// answer is stored under (tenant, user, key) with a hash of the request; the same key answers it
// again, the same key with another request is 409. A refusal is not stored, so the same key may try
// again once the cause is gone.
import { createHash } from 'node:crypto';
import { badRequest, HttpError } from '../server/errors.js';
import type { Storage } from '../storage/database.js';

const KEY = /^[\x21-\x7e]{1,200}$/;

/** The Idempotency-Key of a request, checked (400 when absent or malformed). */
export function idempotencyKey(headers: Record<string, string | undefined>, what: string): string {
  const key = headers['idempotency-key'];
  if (key === undefined) throw badRequest(`an Idempotency-Key header is required: retries with the same key ${what} once`);
  if (!KEY.test(key)) throw badRequest('Idempotency-Key must be 1-200 visible ASCII characters');
  return key;
}

export interface IdempotentRequest {
  tenantId: string;
  userId: string;
  key: string;
  dropId: string;
  /** What identifies the request beside the key (its route and body). */
  request: unknown;
}

/** Runs `work` once per (tenant, user, key); a retry answers the stored result with `replayed: true`. */
export async function idempotent<T>(storage: Storage, r: IdempotentRequest, work: () => Promise<T>): Promise<{ result: T; replayed: boolean }> {
  const hash = createHash('sha256').update(JSON.stringify(r.request)).digest('hex');
  const { tenantId, userId, key } = r;
  const existing = await storage.withTenant(tenantId, (trx) =>
    trx.selectFrom('nft_mint_requests').select(['request_hash', 'result']).where('user_id', '=', userId).where('idempotency_key', '=', key).executeTakeFirst(),
  );
  if (existing && existing.request_hash !== hash) throw new HttpError(409, 'idempotency-key-reused', `Idempotency-Key ${key} was already used for a different request`);
  if (existing?.result) return { result: parse<T>(existing.result), replayed: true };
  if (!existing) {
    await storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('nft_mint_requests')
        .values({ tenant_id: tenantId, user_id: userId, idempotency_key: key, request_hash: hash, drop_id: r.dropId, result: null })
        .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'idempotency_key']).doNothing())
        .execute(),
    );
  }
  const result = await work();
  // A concurrent retry with the same key may have stored it first: the first stored answer stays.
  return storage.withTenant(tenantId, async (trx) => {
    const row = await trx.selectFrom('nft_mint_requests').select('result').where('user_id', '=', userId).where('idempotency_key', '=', key).forUpdate().executeTakeFirstOrThrow();
    if (row.result) return { result: parse<T>(row.result), replayed: true };
    await trx.updateTable('nft_mint_requests').set({ result: JSON.stringify(result) }).where('user_id', '=', userId).where('idempotency_key', '=', key).execute();
    return { result, replayed: false };
  });
}

function parse<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
