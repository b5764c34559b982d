import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createEvent, type EventPayload, type EventType, type VezaEventOf } from '../../src/events/catalog.js';

/** Shared bits for the events tests (not a test file: vitest only collects *.test.ts). */
export const silentLogger = pino({ level: 'silent' });

let counter = 0;

/** A valid `track.liked` event with a readable, unique track id. */
export function liked(tenantId = 'default', label = `t${++counter}`): VezaEventOf<'track.liked'> {
  return createEvent('track.liked', { tenantId, payload: { trackId: label } });
}

export function event<T extends EventType>(type: T, payload: EventPayload<T>, tenantId = 'default'): VezaEventOf<T> {
  return createEvent(type, { tenantId, payload });
}

/** A deferred: a promise plus the function that resolves it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Deletes a test stream and every `${stream}:*` key the bus created next to it. */
export async function deleteStreamKeys(redis: Redis, stream: string): Promise<void> {
  const keys = [stream];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${stream}:*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  await redis.del(...keys);
}
