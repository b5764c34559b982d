// Tenants' webhooks: when a failed delivery is tried again (Svix's schedule by default), how long one
// attempt may take, after how long of failing without a break an endpoint is disabled, how long the
// delivery log is kept, and whether endpoints may point at loopback and private addresses (tests and
// closed networks only).
import { z } from 'zod';
import { bool, int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `0`, `250ms`, `5s`, `5m`, `2h`, `1d` → milliseconds; null when the text is none of those. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return null;
  const value = Number(match[1]);
  if (value !== 0 && !match[2]) return null;
  return value * (UNITS[match[2] ?? 'ms'] ?? 1);
}

const schedule = z
  .string()
  .default('0,5s,5m,30m,2h,5h,10h,10h')
  .transform((value, ctx) => {
    const steps = value.split(',').map((step) => step.trim());
    const delays: number[] = [];
    for (const step of steps) {
      const ms = parseDuration(step);
      if (ms === null) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(step)} is not a duration (0, 250ms, 5s, 5m, 2h, 1d)` });
      else delays.push(ms);
    }
    if (delays.length === 0 || delays.length > 50) ctx.addIssue({ code: 'custom', message: 'needs between 1 and 50 attempts' });
    return delays;
  });

/** What the webhooks module reads. */
export const webhooksSettings = {
  retrySchedule: {
    env: 'VEZA_WEBHOOKS_RETRY_SCHEDULE',
    flag: 'webhooks-retry-schedule',
    schema: schedule,
    doc: 'Comma-separated delays of each delivery attempt after the one before (the first after the event); after the last, the message is failed for that endpoint. Units ms, s, m, h, d',
  },
  attemptTimeoutMs: {
    env: 'VEZA_WEBHOOKS_ATTEMPT_TIMEOUT_MS',
    flag: 'webhooks-attempt-timeout-ms',
    schema: int(100, 120_000).default(15_000),
    doc: 'Longest one delivery attempt may take, connection and response included; longer counts as a failed attempt',
  },
  disableAfterS: {
    env: 'VEZA_WEBHOOKS_DISABLE_AFTER_S',
    flag: 'webhooks-disable-after-s',
    schema: int(1, 365 * 86_400).default(5 * 86_400),
    doc: 'Seconds an endpoint may fail without a single success before it is disabled (default 5 days); its administrator enables it again',
  },
  pollMs: {
    env: 'VEZA_WEBHOOKS_POLL_MS',
    flag: 'webhooks-poll-ms',
    schema: int(50, 60_000).default(1000),
    doc: 'Milliseconds between two looks at the delivery queue for attempts that have come due (new messages are sent at once)',
  },
  retentionDays: {
    env: 'VEZA_WEBHOOKS_RETENTION_DAYS',
    flag: 'webhooks-retention-days',
    schema: int(1, 3650).default(30),
    doc: 'Days a message, its deliveries and their attempts are kept in the delivery log (and can be replayed); older ones are removed',
  },
  allowPrivate: {
    env: 'VEZA_WEBHOOKS_ALLOW_PRIVATE',
    flag: 'webhooks-allow-private',
    schema: bool.default(false),
    doc: 'Let endpoints point at loopback, private and link-local addresses; for tests and closed networks only',
  },
} as const satisfies SettingsGroup;

export type WebhooksSettings = SettingsOf<typeof webhooksSettings>;
