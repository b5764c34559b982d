// Where a tip's money comes from. A real provider (a card processor) implements `PaymentProvider`;
// the built-in one is test mode only: it records what it would have charged and moves no money,
// and every answer that involves it says so.
import { randomUUID } from 'node:crypto';
import type { Storage } from '../storage/database.js';

export interface ChargeRequest {
  tenantId: string;
  /** Stable across retries of the same tip request: the provider charges a tip id once. */
  tipId: string;
  payerId: string;
  amountMinor: number;
  currency: string;
}

export interface PaymentProvider {
  readonly name: string;
  /** True when no real money moves (the built-in provider). */
  readonly testMode: boolean;
  /** Charges once per tip id: a second call for the same tip returns the first reference. */
  charge(request: ChargeRequest): Promise<{ reference: string }>;
  /** Pays a charged tip back, once per tip id. */
  refund(request: ChargeRequest & { chargeReference: string }): Promise<{ reference: string }>;
}

/** The provider's refusal: the request conflicts with what it already holds for this tip. */
export class PaymentConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PaymentConflictError';
  }
}

export class TestModePaymentProvider implements PaymentProvider {
  readonly name = 'test';
  readonly testMode = true;

  constructor(private readonly storage: Storage) {}

  charge(request: ChargeRequest): Promise<{ reference: string }> {
    return this.record('charge', request);
  }

  refund(request: ChargeRequest & { chargeReference: string }): Promise<{ reference: string }> {
    return this.record('refund', request);
  }

  private async record(kind: 'charge' | 'refund', request: ChargeRequest): Promise<{ reference: string }> {
    return this.storage.withTenant(request.tenantId, async (trx) => {
      await trx
        .insertInto('test_payments')
        .values({ tenant_id: request.tenantId, reference: `test_${kind}_${randomUUID()}`, tip_id: request.tipId, kind, amount_minor: request.amountMinor, currency: request.currency })
        .onConflict((oc) => oc.columns(['tenant_id', 'tip_id', 'kind']).doNothing())
        .execute();
      const row = await trx.selectFrom('test_payments').select(['reference', 'amount_minor', 'currency']).where('tip_id', '=', request.tipId).where('kind', '=', kind).executeTakeFirstOrThrow();
      if (Number(row.amount_minor) !== request.amountMinor || row.currency !== request.currency) {
        throw new PaymentConflictError(`tip ${request.tipId} was already ${kind}d for ${row.amount_minor} ${row.currency}`);
      }
      return { reference: row.reference };
    });
  }
}
