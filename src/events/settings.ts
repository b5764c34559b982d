// The events bus (in-process, or Redis Streams when REDIS_URL is set) and which side modules' event
// consumers this process runs, and where. REDIS_URL is the bus's; the modules that also use Redis
// (collab's cross-node sync, the leaderboards) are handed it by name.
import { z } from 'zod';
import { CONSUMER_NAMES, type ConsumerName } from '../consumers/names.js';
import { bool, int, optionalUrl, splitList, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** The events bus and the consumers this process runs. */
export const eventsSettings = {
  redisUrl: { env: 'REDIS_URL', flag: 'redis-url', schema: optionalUrl(['redis:', 'rediss:']), doc: 'Redis connection string; set it to use the Redis Streams events bus' },
  stream: { env: 'VEZA_EVENTS_STREAM', flag: 'events-stream', schema: z.string().min(1).default('veza:events'), doc: 'Redis stream key of the events bus' },
  maxAttempts: { env: 'VEZA_EVENTS_MAX_ATTEMPTS', flag: 'events-max-attempts', schema: int(1, 100).default(5), doc: 'Deliveries of one event to a failing consumer before it is parked' },
  consumers: {
    env: 'VEZA_CONSUMERS',
    flag: 'consumers',
    schema: z
      .string()
      .default('all')
      .transform((value, ctx) => {
        const names = value === 'all' ? [...CONSUMER_NAMES] : value === 'none' ? [] : splitList(value);
        for (const name of names) if (!(CONSUMER_NAMES as readonly string[]).includes(name)) ctx.addIssue({ code: 'custom', message: `unknown consumer ${name}; choose from all, none, ${CONSUMER_NAMES.join(', ')}` });
        return names as ConsumerName[];
      }),
    doc: `Side modules whose event consumers this process runs: all, none, or a list of ${CONSUMER_NAMES.join(', ')} (with REDIS_URL, other processes can run the rest)`,
  },
  consumerThread: { env: 'VEZA_CONSUMER_THREAD', flag: 'consumer-thread', schema: bool.default(true), doc: 'Run the event consumers and their database work on their own thread, off the realtime path (needs the storage thread; otherwise they share the main thread)' },
  consumerThreadStart: {
    env: 'VEZA_CONSUMER_THREAD_START',
    flag: 'consumer-thread-start',
    schema: z.enum(['first-event', 'at-start']).default('first-event'),
    doc: "When the consumers' thread starts with the in-process bus: at the first event published (events are held for it meanwhile; at once when a consumer has work waiting, such as alerts to check), or at start-up",
  },
} as const satisfies SettingsGroup;

export type EventsSettings = SettingsOf<typeof eventsSettings>;
