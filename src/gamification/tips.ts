// Superchat and tips in live rooms. A tip request carries an idempotency key: the tip id is derived
// from (tenant, sender, key), so every retry, concurrent or late, names the same tip; the provider
// charges a tip id once and the tips table holds it once. The money is recorded in a double-entry
// ledger in integer minor units: a tip moves the amount from the provider's account to what the
// platform owes the creator, a refund moves it back, and every transaction's lines sum to zero.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Storage } from '../storage/database.js';
import { derivedId, type Outbox } from './outbox.js';
import { PaymentConflictError, type PaymentProvider } from './payments.js';

const id = z.string().regex(/^[^\s]{1,200}$/, '1-200 characters without spaces');
export const MAX_TIP_MINOR = 10_000_000;
/** The ISO 4217 codes this runtime knows (Node's ICU data: the currencies in use). */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

export const tipRequestSchema = z
  .object({
    toUserId: id,
    amount: z.number().int('amount is in minor units (cents): an integer').min(1).max(MAX_TIP_MINOR),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR')
      .refine((code) => CURRENCIES.has(code), 'not an ISO 4217 currency code in use, such as EUR'),
    message: z.string().max(500).optional(),
  })
  .strict();
export type TipRequest = z.output<typeof tipRequestSchema>;

export interface Tip {
  tipId: string;
  roomId: string;
  fromUserId: string;
  toUserId: string;
  amount: number;
  currency: string;
  message: string | null;
  status: 'sent' | 'refunded';
  createdAt: string;
  refundedAt: string | null;
  /** Until when the room shows it pinned (null: not pinned), by amount as YouTube's Super Chat does. */
  pinnedUntil: string | null;
  provider: string;
  testMode: boolean;
}

/** A refusal the API maps to a status: 403, 404 or 422. */
export class TipError extends Error {
  constructor(
    readonly status: 403 | 404 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'TipError';
  }
}

/** Minutes a tip stays pinned, by its amount in major units (currencies taken at face value). */
const PIN_TIERS: [number, number][] = [
  [500, 300],
  [400, 240],
  [300, 180],
  [200, 120],
  [100, 60],
  [50, 30],
  [20, 10],
  [10, 5],
  [5, 2],
];

export function fractionDigits(currency: string): number {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

export function pinnedMinutes(amountMinor: number, currency: string): number {
  const major = amountMinor / 10 ** fractionDigits(currency);
  return PIN_TIERS.find(([atLeast]) => major >= atLeast)?.[1] ?? 0;
}

type TipRow = {
  tip_id: string;
  room_id: string;
  from_user: string;
  to_user: string;
  amount_minor: string | number;
  currency: string;
  message: string | null;
  status: 'sent' | 'refunded';
  created_at: Date;
  refunded_at: Date | null;
  provider: string;
  request_hash: string;
};
const TIP_COLUMNS = ['tip_id', 'room_id', 'from_user', 'to_user', 'amount_minor', 'currency', 'message', 'status', 'created_at', 'refunded_at', 'provider', 'request_hash'] as const;

export class TipService {
  private readonly listeners = new Set<(tenantId: string, roomId: string) => void>();

  constructor(
    private readonly storage: Storage,
    private readonly provider: PaymentProvider,
    private readonly outbox: Outbox,
  ) {}

  get providerInfo(): { name: string; testMode: boolean; note: string } {
    return {
      name: this.provider.name,
      testMode: this.provider.testMode,
      note: this.provider.testMode ? 'test mode: payments are recorded, no money moves' : 'live payments',
    };
  }

  /** Called after a tip or a refund in a room is stored (the room's live feed on this node). */
  onRoomChange(listener: (tenantId: string, roomId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a tip once per (sender, key); a retry gets the same tip back with `replayed: true`. */
  async send(tenantId: string, fromUserId: string, roomId: string, key: string, request: TipRequest): Promise<{ tip: Tip; replayed: boolean }> {
    if (request.toUserId === fromUserId) throw new TipError(422, 'a tip goes to someone else: toUserId is the sender');
    const hash = createHash('sha256').update(JSON.stringify([roomId, request.toUserId, request.amount, request.currency, request.message ?? null])).digest('hex');
    const tipId = `tip_${createHash('sha256').update(`${tenantId}\u0000${fromUserId}\u0000${key}`).digest('hex').slice(0, 32)}`;
    const existing = await this.read(tenantId, tipId);
    if (existing) return { tip: this.sameRequest(existing, hash, key), replayed: true };

    let charge: { reference: string };
    try {
      charge = await this.provider.charge({ tenantId, tipId, payerId: fromUserId, amountMinor: request.amount, currency: request.currency });
    } catch (error) {
      if (error instanceof PaymentConflictError) throw new TipError(422, `idempotency key ${key} was already used for a different tip`);
      throw error;
    }
    const now = new Date();
    const stored = await this.storage.withTenant(tenantId, async (trx) => {
      // A concurrent retry with the same key waits here on the unique key, then finds the tip.
      const inserted = await trx
        .insertInto('tips')
        .values({
          tenant_id: tenantId,
          tip_id: tipId,
          from_user: fromUserId,
          idempotency_key: key,
          request_hash: hash,
          room_id: roomId,
          to_user: request.toUserId,
          amount_minor: request.amount,
          currency: request.currency,
          message: request.message ?? null,
          status: 'sent',
          provider: this.provider.name,
          provider_ref: charge.reference,
          created_at: now,
        })
        .onConflict((oc) => oc.doNothing())
        .returning(TIP_COLUMNS)
        .executeTakeFirst();
      if (!inserted) return null;
      await this.post(trx, tenantId, `tip:${tipId}`, now, [
        [`external:${this.provider.name}`, -request.amount],
        [`payable:${request.toUserId}`, request.amount],
      ], request.currency);
      await this.outbox.add(trx, tipId, 'tip.sent', {
        tenantId,
        id: derivedId('tip.sent', tenantId, tipId),
        at: now,
        actor: fromUserId,
        payload: { tipId, roomId, fromUserId, toUserId: request.toUserId, amount: request.amount, currency: request.currency, ...(request.message ? { message: request.message } : {}) },
      });
      return { row: inserted as TipRow, events: this.outbox.taken(trx) };
    });
    if (!stored) return { tip: this.sameRequest((await this.read(tenantId, tipId))!, hash, key), replayed: true };
    await this.outbox.publishEvents(tenantId, stored.events);
    this.changed(tenantId, roomId);
    return { tip: this.view(stored.row), replayed: false };
  }

  /** Pays a tip back (its recipient or an administrator); refunding a refunded tip returns it as it is. */
  async refund(tenantId: string, tipId: string, by: { userId: string; admin: boolean }, reason: string | undefined): Promise<{ tip: Tip; replayed: boolean }> {
    const outcome = await this.storage.withTenant(tenantId, async (trx) => {
      const row = await trx.selectFrom('tips').select([...TIP_COLUMNS, 'provider_ref']).where('tip_id', '=', tipId).forUpdate().executeTakeFirst();
      if (!row) throw new TipError(404, `no tip ${tipId}`);
      if (!by.admin && by.userId !== row.to_user) throw new TipError(403, 'only the tip\'s recipient or a tenant administrator may refund it');
      if (row.status === 'refunded') return { row: row as TipRow, replayed: true };
      const amount = Number(row.amount_minor);
      await this.provider.refund({ tenantId, tipId, payerId: row.from_user, amountMinor: amount, currency: row.currency, chargeReference: row.provider_ref });
      const now = new Date();
      await trx.updateTable('tips').set({ status: 'refunded', refunded_at: now, refund_reason: reason ?? null }).where('tip_id', '=', tipId).execute();
      await this.post(trx, tenantId, `refund:${tipId}`, now, [
        [`payable:${row.to_user}`, -amount],
        [`external:${row.provider}`, amount],
      ], row.currency);
      await this.outbox.add(trx, `refund:${tipId}`, 'tip.refunded', {
        tenantId,
        id: derivedId('tip.refunded', tenantId, tipId),
        at: now,
        actor: by.userId,
        payload: { tipId, roomId: row.room_id, fromUserId: row.from_user, toUserId: row.to_user, amount, currency: row.currency, ...(reason ? { reason } : {}) },
      });
      return { row: { ...row, status: 'refunded' as const, refunded_at: now } as TipRow, replayed: false, events: this.outbox.taken(trx) };
    });
    if (!outcome.replayed) {
      await this.outbox.publishEvents(tenantId, outcome.events ?? []);
      this.changed(tenantId, outcome.row.room_id);
    }
    return { tip: this.view(outcome.row), replayed: outcome.replayed };
  }

  async get(tenantId: string, tipId: string): Promise<Tip | null> {
    const row = await this.read(tenantId, tipId);
    return row ? this.view(row) : null;
  }

  /** The room's feed: tips pinned now (biggest first, then oldest), and the latest tips. */
  async room(tenantId: string, roomId: string, limit = 50, now = new Date()): Promise<{ pinned: Tip[]; recent: Tip[] }> {
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('tips')
        .select(TIP_COLUMNS)
        .where('room_id', '=', roomId)
        // The longest pin is 5 hours: older tips cannot be pinned.
        .where('created_at', '>', new Date(now.getTime() - 5 * 3_600_000))
        .orderBy('created_at', 'desc')
        .orderBy('tip_id')
        .limit(1000)
        .execute(),
    );
    const tips = (rows as TipRow[]).map((r) => this.view(r));
    const pinned = tips
      .filter((t) => t.status === 'sent' && t.pinnedUntil !== null && Date.parse(t.pinnedUntil) > now.getTime())
      .sort((a, b) => b.amount - a.amount || Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.tipId < b.tipId ? -1 : 1));
    return { pinned, recent: tips.slice(0, limit) };
  }

  /** What the platform owes a user per currency (tips received minus refunds). */
  async balance(tenantId: string, userId: string): Promise<{ currency: string; amount: number }[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('ledger_entries')
        .select(['currency', (eb) => eb.fn.sum<string>('amount_minor').as('amount')])
        .where('account', '=', `payable:${userId}`)
        .groupBy('currency')
        .orderBy('currency')
        .execute(),
    );
    return rows.map((r) => ({ currency: r.currency, amount: Number(r.amount) }));
  }

  private async post(trx: Parameters<Parameters<Storage['withTenant']>[1]>[0], tenantId: string, transactionId: string, at: Date, lines: [string, number][], currency: string): Promise<void> {
    if (lines.reduce((sum, [, amount]) => sum + amount, 0) !== 0) throw new Error(`ledger transaction ${transactionId} does not balance`);
    await trx
      .insertInto('ledger_entries')
      .values(lines.map(([account, amount], line) => ({ tenant_id: tenantId, transaction_id: transactionId, line, account, currency, amount_minor: amount, created_at: at })))
      .execute();
  }

  private read(tenantId: string, tipId: string): Promise<TipRow | undefined> {
    return this.storage.withTenant(tenantId, (trx) => trx.selectFrom('tips').select(TIP_COLUMNS).where('tip_id', '=', tipId).executeTakeFirst()) as Promise<TipRow | undefined>;
  }

  private sameRequest(row: TipRow, hash: string, key: string): Tip {
    if (row.request_hash !== hash) throw new TipError(422, `idempotency key ${key} was already used for a different tip (${row.tip_id})`);
    return this.view(row);
  }

  private view(row: TipRow): Tip {
    const amount = Number(row.amount_minor);
    const minutes = pinnedMinutes(amount, row.currency);
    return {
      tipId: row.tip_id,
      roomId: row.room_id,
      fromUserId: row.from_user,
      toUserId: row.to_user,
      amount,
      currency: row.currency,
      message: row.message,
      status: row.status,
      createdAt: row.created_at.toISOString(),
      refundedAt: row.refunded_at?.toISOString() ?? null,
      pinnedUntil: minutes > 0 ? new Date(row.created_at.getTime() + minutes * 60_000).toISOString() : null,
      provider: row.provider,
      testMode: row.provider === 'test',
    };
  }

  private changed(tenantId: string, roomId: string): void {
    for (const listener of this.listeners) listener(tenantId, roomId);
  }
}
