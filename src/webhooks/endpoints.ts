// A tenant's webhook endpoints: where messages go, which event types, the secrets that sign them
// (the current one, and during a rotation the ones rotated out until they expire), and whether the
// endpoint is enabled. The sender disables one that has failed for too long; its administrator
// enables it again. Every query runs as the tenant (row-level security).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Storage } from '../storage/database.js';
import type { WebhookSecret, WhEndpointsTable } from '../storage/schema-webhooks.js';
import { literalRefused } from './address-guard.js';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from './event-types.js';
import { newSecret, validSecret } from './signing.js';

export class WebhookError extends Error {
  constructor(
    readonly code: 'not-found' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'WebhookError';
  }
}

const MAX_ENDPOINTS = 50;
/** How long a rotated-out secret keeps signing, unless the rotation says otherwise (Svix: 24 hours). */
const DEFAULT_OVERLAP_S = 86_400;

const eventTypes = z
  .array(
    z.string().superRefine((type, ctx) => {
      if (!isWebhookEventType(type)) ctx.addIssue({ code: 'custom', message: `unknown event type ${JSON.stringify(type.slice(0, 100))}; choose from ${WEBHOOK_EVENT_TYPES.join(', ')}` });
    }),
  )
  .min(1, 'name at least one event type')
  .max(WEBHOOK_EVENT_TYPES.length * 2);
const secret = z.string().refine(validSecret, 'a secret is whsec_ followed by the base64 of 24 to 64 random bytes');

export const endpointInput = z.strictObject({
  url: z.string().max(2000),
  eventTypes,
  description: z.string().max(500).optional(),
  secret: secret.optional(),
  enabled: z.boolean().optional(),
});
export const endpointPatch = z.strictObject({
  url: z.string().max(2000).optional(),
  eventTypes: eventTypes.optional(),
  description: z.string().max(500).optional(),
  enabled: z.boolean().optional(),
});
export const rotationInput = z.strictObject({
  secret: secret.optional(),
  /** Seconds the secrets rotated out keep signing (0: they stop now). */
  overlapSeconds: z.number().int().min(0).max(7 * 86_400).optional(),
});

export interface EndpointView {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
  /** Why the server disabled it (null when enabled, or disabled by its administrator). */
  disabledReason: string | null;
  /** Since when every attempt has failed; null after a success. */
  failingSince: string | null;
  /** The secrets signing now: when each was made and, for one rotated out, when it stops. */
  secrets: { createdAt: string; expiresAt: string | null }[];
  createdAt: string;
  updatedAt: string;
}

type Row = Omit<WhEndpointsTable, 'description' | 'enabled' | 'created_at' | 'updated_at' | 'event_types' | 'secrets'> & {
  description: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  event_types: string[];
  secrets: WebhookSecret[];
};

/** The secrets that sign at `now`: the current one and those rotated out that have not expired. */
export function activeSecrets(secrets: readonly WebhookSecret[], now = Date.now()): WebhookSecret[] {
  return secrets.filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now);
}

function view(row: Row): EndpointView {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since ? new Date(row.failing_since).toISOString() : null,
    secrets: activeSecrets(row.secrets).map((s) => ({ createdAt: s.createdAt, expiresAt: s.expiresAt })),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** http(s) only, no fragment, and no literal private address unless allowed (names are checked at each attempt). */
export function checkEndpointUrl(text: string, allowPrivate: boolean): string {
  if (!URL.canParse(text)) throw new WebhookError('invalid', `url ${JSON.stringify(text.slice(0, 200))} is not a URL`);
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookError('invalid', `url must use https: or http:, not ${url.protocol}`);
  if (url.hash) throw new WebhookError('invalid', 'url must not have a fragment (#…)');
  if (literalRefused(url, allowPrivate)) throw new WebhookError('invalid', `url points at ${url.hostname}, a loopback, private or reserved address; webhooks go to public addresses only`);
  return url.href;
}

export class EndpointStore {
  constructor(
    private readonly storage: Storage,
    private readonly allowPrivate: boolean,
  ) {}

  async list(tenantId: string): Promise<EndpointView[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('wh_endpoints').selectAll().orderBy('created_at').orderBy('id').execute());
    return rows.map((row) => view(row as Row));
  }

  async get(tenantId: string, id: string): Promise<EndpointView> {
    return view(await this.row(tenantId, id));
  }

  async create(tenantId: string, input: z.output<typeof endpointInput>): Promise<{ endpoint: EndpointView; secret: string }> {
    const url = checkEndpointUrl(input.url, this.allowPrivate);
    const id = `ep_${randomBytes(12).toString('hex')}`;
    const secret = input.secret ?? newSecret();
    const secrets: WebhookSecret[] = [{ secret, createdAt: new Date().toISOString(), expiresAt: null }];
    const row = await this.storage.withTenant(tenantId, async (trx) => {
      const { count } = await trx.selectFrom('wh_endpoints').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
      if (Number(count) >= MAX_ENDPOINTS) throw new WebhookError('invalid', `a tenant has at most ${MAX_ENDPOINTS} webhook endpoints`);
      return trx
        .insertInto('wh_endpoints')
        .values({
          tenant_id: tenantId,
          id,
          url,
          description: input.description ?? '',
          event_types: JSON.stringify([...new Set(input.eventTypes)]),
          secrets: JSON.stringify(secrets),
          enabled: input.enabled ?? true,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    return { endpoint: view(row as Row), secret };
  }

  async update(tenantId: string, id: string, patch: z.output<typeof endpointPatch>): Promise<EndpointView> {
    const url = patch.url === undefined ? undefined : checkEndpointUrl(patch.url, this.allowPrivate);
    const row = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .updateTable('wh_endpoints')
        .set({
          ...(url === undefined ? {} : { url }),
          ...(patch.eventTypes ? { event_types: JSON.stringify([...new Set(patch.eventTypes)]) } : {}),
          ...(patch.description === undefined ? {} : { description: patch.description }),
          // Enabled again by its administrator: its failures start counting afresh.
          ...(patch.enabled === undefined ? {} : { enabled: patch.enabled, disabled_reason: null, failing_since: null }),
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (!row) throw new WebhookError('not-found', `no webhook endpoint ${id}`);
    return view(row as Row);
  }

  /** Removes the endpoint and what was still to be delivered to it; its log stays until messages expire. */
  async remove(tenantId: string, id: string): Promise<void> {
    const removed = await this.storage.withTenant(tenantId, async (trx) => {
      const row = await trx.deleteFrom('wh_endpoints').where('id', '=', id).returning('id').executeTakeFirst();
      if (row) await trx.updateTable('wh_deliveries').set({ state: 'failed', finished_at: new Date() }).where('endpoint_id', '=', id).where('state', '=', 'pending').execute();
      return row;
    });
    if (!removed) throw new WebhookError('not-found', `no webhook endpoint ${id}`);
  }

  /** A new current secret; the ones before keep signing for the overlap, so receivers can switch. */
  async rotate(tenantId: string, id: string, input: z.output<typeof rotationInput>): Promise<{ endpoint: EndpointView; secret: string }> {
    const secret = input.secret ?? newSecret();
    const now = Date.now();
    const expiresAt = new Date(now + (input.overlapSeconds ?? DEFAULT_OVERLAP_S) * 1000).toISOString();
    const row = await this.storage.withTenant(tenantId, async (trx) => {
      const current = await trx.selectFrom('wh_endpoints').select('secrets').where('id', '=', id).forUpdate().executeTakeFirst();
      if (!current) throw new WebhookError('not-found', `no webhook endpoint ${id}`);
      const kept = activeSecrets(current.secrets, now).map((s) => ({ ...s, expiresAt: s.expiresAt === null ? expiresAt : s.expiresAt < expiresAt ? s.expiresAt : expiresAt }));
      const secrets: WebhookSecret[] = [...kept.filter((s) => Date.parse(s.expiresAt) > now), { secret, createdAt: new Date(now).toISOString(), expiresAt: null }];
      return trx.updateTable('wh_endpoints').set({ secrets: JSON.stringify(secrets), updated_at: new Date(now) }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
    });
    return { endpoint: view(row as Row), secret };
  }

  /** The secrets signing now, in full (the administrator gives them to the receiver). */
  async secrets(tenantId: string, id: string): Promise<WebhookSecret[]> {
    return activeSecrets((await this.row(tenantId, id)).secrets);
  }

  private async row(tenantId: string, id: string): Promise<Row> {
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('wh_endpoints').selectAll().where('id', '=', id).executeTakeFirst());
    if (!row) throw new WebhookError('not-found', `no webhook endpoint ${id}`);
    return row as Row;
  }
}
