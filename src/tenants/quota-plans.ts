// The limits a tenant may be given, the plans that preset them, and how a tenant's plan and its
// overrides make its effective limits. A limit is a non-negative integer, or null for none.
import { z } from 'zod';

/** Every limit, in the order the API shows them. Rates are per second over a sliding second. */
export const LIMITS = [
  'connections',
  'joinsPerSecond',
  'messagesPerSecond',
  'bytesPerSecond',
  'channelsPerClient',
  'rooms',
  'documents',
  'participantsPerRoom',
  'storageBytes',
  'recordingMinutes',
  'requestsPerSecond',
] as const;
export type LimitName = (typeof LIMITS)[number];
export type Limits = Record<LimitName, number | null>;

/** What each limit counts, for the docs and the API's `describe`. */
export const LIMIT_MEANING: Record<LimitName, string> = {
  connections: 'WebSocket connections open at once, all nodes together',
  joinsPerSecond: 'WebSocket connections opened per second',
  messagesPerSecond: 'WebSocket messages received per second, all sockets together',
  bytesPerSecond: 'WebSocket message bytes received per second',
  channelsPerClient: 'sockets (documents, rooms) one user holds open at once, per node',
  rooms: 'live rooms (media and voice) open at once',
  documents: 'documents stored',
  participantsPerRoom: 'people in one document session or live room at once',
  storageBytes: 'bytes stored: document updates and snapshots, recordings',
  recordingMinutes: 'minutes recorded this calendar month (UTC)',
  requestsPerSecond: 'authenticated HTTP API requests per second',
};

const GiB = 2 ** 30;

export const PLANS = {
  free: {
    connections: 200,
    joinsPerSecond: 20,
    messagesPerSecond: 200,
    bytesPerSecond: 200_000,
    channelsPerClient: 10,
    rooms: 5,
    documents: 100,
    participantsPerRoom: 10,
    storageBytes: GiB,
    recordingMinutes: 60,
    requestsPerSecond: 20,
  },
  studio: {
    connections: 2_000,
    joinsPerSecond: 100,
    messagesPerSecond: 2_000,
    bytesPerSecond: 2_000_000,
    channelsPerClient: 50,
    rooms: 50,
    documents: 5_000,
    participantsPerRoom: 50,
    storageBytes: 20 * GiB,
    recordingMinutes: 1_000,
    requestsPerSecond: 100,
  },
  label: {
    connections: 20_000,
    joinsPerSecond: 500,
    messagesPerSecond: 20_000,
    bytesPerSecond: 20_000_000,
    channelsPerClient: 100,
    rooms: 500,
    documents: 200_000,
    participantsPerRoom: 200,
    storageBytes: 1024 * GiB,
    recordingMinutes: 20_000,
    requestsPerSecond: 1_000,
  },
  unlimited: Object.fromEntries(LIMITS.map((name) => [name, null])) as Limits,
} as const satisfies Record<string, Limits>;
export type PlanName = keyof typeof PLANS;
export const PLAN_NAMES = Object.keys(PLANS) as PlanName[];

/** A tenant with no plan set: the platform's own default tenant and tenants the operator has not placed. */
export const DEFAULT_PLAN: PlanName = 'unlimited';

const limitValue = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable();
export const overridesSchema = z.object(Object.fromEntries(LIMITS.map((name) => [name, limitValue.optional()])) as Record<LimitName, z.ZodOptional<typeof limitValue>>).strict();
export type Overrides = { [K in LimitName]?: number | null | undefined };

/** `PUT …/quotas`: the plan, and overrides that replace the previous ones (null: no limit). */
export const quotaInput = z
  .object({
    plan: z.enum(PLAN_NAMES as [PlanName, ...PlanName[]]),
    overrides: overridesSchema.default({}),
  })
  .strict();
export type QuotaInput = z.output<typeof quotaInput>;

export function effectiveLimits(plan: PlanName, overrides: Overrides): Limits {
  const limits = { ...PLANS[plan] } as Limits;
  for (const name of LIMITS) if (overrides[name] !== undefined) limits[name] = overrides[name];
  return limits;
}
