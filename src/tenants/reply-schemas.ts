// What the tenants module's routes answer, as zod: the OpenAPI spec's schemas and, in test mode, the
// check of every reply (src/server/response-check.ts). They mirror registry.ts (a tenant), domains.ts,
// branding.ts, lifecycle.ts (a deletion), invoices.ts, quotas.ts and the credential views.
import { z } from 'zod';
import { themeSchema } from './branding.js';
import { USAGE_METRICS } from './metering.js';
import { LIMITS, PLAN_NAMES, type LimitName, type PlanName } from './quota-plans.js';

const isoTime = z.string().describe('ISO 8601');
const planName = z.enum(PLAN_NAMES as [PlanName, ...PlanName[]]);
const usageMetric = z.enum(USAGE_METRICS);

export const tenantReply = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(['active', 'suspended', 'deleting']).describe('suspended and deleting tenants\' tokens are refused'),
  createdAt: isoTime,
  statusChangedAt: isoTime,
});
export const tenantListReply = z.object({ tenants: z.array(tenantReply) });

export const domainReply = z.object({
  domain: z.string(),
  tenantId: z.string(),
  verified: z.boolean(),
  createdAt: isoTime,
  verifiedAt: isoTime.nullable(),
  token: z.string().describe('what the tenant serves at verifyUrl to prove it holds the domain'),
  verifyUrl: z.string(),
});
export const domainListReply = z.object({ domains: z.array(domainReply) });
export const domainAskReply = z.object({ domain: z.string(), tenantId: z.string().describe('the tenant whose verified domain it is') });

export const brandingReply = z.object({
  tenantId: z.string(),
  custom: z.boolean().describe('false while the tenant uses the default theme'),
  theme: themeSchema,
});

export const deletionReply = z.object({
  id: z.string(),
  tenant: z.string(),
  state: z.enum(['exporting', 'pending', 'cancelled', 'purged', 'failed']),
  requestedBy: z.string(),
  requestedAt: isoTime,
  graceSeconds: z.number().int(),
  purgeAfter: isoTime.nullable().describe('when the sweeper may purge (set once the archive is written)'),
  archive: z.string().nullable().describe('the archive, relative to the data directory; download it with GET /api/v1/platform/tenants/:id/export'),
  archiveBytes: z.number().int().nullable(),
  error: z.string().nullable(),
  finishedAt: isoTime.nullable(),
  progress: z
    .object({ step: z.enum(['tables', 'documents', 'files', 'done']), item: z.string().optional().describe('what was just written: a table, a document, a file'), done: z.number().int(), total: z.number().int() })
    .optional()
    .describe('while exporting, on the node that writes the archive'),
});

export const tenantUsageReply = z.object({
  tenantId: z.string(),
  from: isoTime,
  to: isoTime,
  granularity: z.enum(['minute', 'hour', 'day']),
  buckets: z.array(z.object({ start: isoTime, usage: z.partialRecord(usageMetric, z.number()).describe('each metric counted in the bucket') })),
  totals: z.partialRecord(usageMetric, z.number()).describe('each metric over the whole span'),
});

export const tenantInvoiceReply = z
  .object({
    tenantId: z.string(),
    period: z.string().describe('YYYY-MM'),
    from: isoTime,
    to: isoTime,
    plan: planName,
    currency: z.string(),
    final: z.boolean().describe('whether the period is over'),
    lines: z.array(
      z.object({
        metric: usageMetric,
        unit: z.string().describe('the billed unit'),
        quantity: z.number().describe('the raw quantity (calls, bytes, milliseconds)'),
        units: z.number().int(),
        included: z.number().int(),
        billable: z.number().int(),
        unitPrice: z.number().describe('minor units of the currency per billed unit'),
        amount: z.number().describe('minor units of the currency'),
      }),
    ),
    total: z.number().describe('minor units of the currency'),
  })
  .describe('the invoice; as text/csv instead with ?format=csv or Accept: text/csv');

const limitsReply = z.object(Object.fromEntries(LIMITS.map((name) => [name, z.number().int().nullable()])) as Record<LimitName, z.ZodNullable<z.ZodNumber>>).describe('null: no limit');
const rate = z.object({ local: z.number(), cluster: z.number() }).describe('over the last second: this node, all nodes');
const gauge = z.object({ node: z.number().int(), cluster: z.number().int() });

export const plansReply = z.object({
  plans: z.record(planName, limitsReply),
  limits: z.record(z.enum(LIMITS), z.string()).describe('what each limit counts'),
});

export const quotaReply = z.object({
  tenant: z.string(),
  plan: planName,
  overrides: z.partialRecord(z.enum(LIMITS), z.number().int().nullable()).describe('limits set apart from the plan\'s'),
  updatedAt: isoTime.nullable().describe('null while the tenant was never placed on a plan'),
  limits: limitsReply.describe('the effective limits: the plan\'s with the overrides; null: no limit'),
  usage: z.object({
    connections: gauge,
    rooms: gauge,
    messagesPerSecond: rate,
    bytesPerSecond: rate,
    joinsPerSecond: rate,
    requestsPerSecond: rate,
    documents: z.number().int(),
    storageBytes: z.number(),
    recordingMinutes: z.number(),
    storedUsageReadAt: isoTime.nullable(),
    refusals: z.partialRecord(z.enum(LIMITS), z.number().int()).describe('refusals over each limit since this node started'),
  }),
});

export const apiKeyReply = z.object({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  version: z.number().int(),
  createdBy: z.string(),
  createdAt: isoTime,
  rotatedAt: isoTime.nullable(),
  previousExpiresAt: isoTime.nullable().describe('until then the secret before the last rotation is still taken'),
  revokedAt: isoTime.nullable(),
  lastUsedAt: isoTime.nullable(),
});
export const apiKeyListReply = z.object({ keys: z.array(apiKeyReply) });
export const apiKeySecretReply = z.object({ key: apiKeyReply, secret: z.string().describe('shown this once only') });

export const providerReply = z.object({
  tenantId: z.string(),
  kind: z.enum(['hs256', 'jwks']),
  keys: z.array(z.object({ kid: z.string(), alg: z.string() })),
  platformTokens: z.boolean().describe('whether the platform\'s own key still signs tokens for this tenant'),
  issuer: z.string().nullable(),
  audience: z.string().nullable(),
  updatedAt: isoTime,
});
