// The authorship of a session that closed, published as `session.authorship` for the side modules
// (insights weighs collaboration by it): the log replayed off the realtime path, by the `history`
// consumer. Its id follows the closing event's, so a redelivered `session.closed` publishes the same
// event again, which the bus drops.
import { createHash } from 'node:crypto';
import type { EventBus, Subscription } from '../events/bus.js';
import { createEvent } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';
import { MAX_UNIX_MS } from '../shared/time.js';
import { ReplayStore } from '../studio/replay-store.js';
import { HistoryService } from './service.js';

/** Users an event names at most (those with most updates); the rest are counted in `omitted`. */
export const MAX_EVENT_SHARES = 200;

/** The `session.authorship` id that answers a `session.closed` one (event ids are at most 100 characters). */
export function authorshipEventId(closedId: string): string {
  const id = `authorship-${closedId}`;
  return id.length <= 100 ? id : `authorship-${createHash('sha256').update(closedId).digest('hex')}`;
}

/** The `history.authorship` group: each closed session's authorship, published. */
export function publishAuthorshipOnClose(bus: EventBus, storage: Storage): Promise<Subscription> {
  // Closed sessions are read once each: nothing is worth keeping in memory.
  const history = new HistoryService(new ReplayStore(storage), storage, { cachedSessions: 0 });
  return bus.subscribe(
    'history.authorship',
    async (event) => {
      if (event.type !== 'session.closed') return;
      const { sessionId } = event.payload;
      const moment = await history.momentAt(event.tenantId, sessionId, MAX_UNIX_MS);
      if (moment.uptoId === null) return;
      const report = await history.authorship(event.tenantId, sessionId, moment);
      const shares = report.shares
        .map((s) => ({ userId: s.userId, notes: s.notes.count, tracks: s.tracks.count, edits: s.edits.count }))
        .sort((a, b) => b.edits - a.edits || a.userId.localeCompare(b.userId));
      await bus.publish(
        createEvent('session.authorship', {
          id: authorshipEventId(event.id),
          tenantId: event.tenantId,
          payload: { sessionId, uptoId: moment.uptoId, shares: shares.slice(0, MAX_EVENT_SHARES), omitted: Math.max(0, shares.length - MAX_EVENT_SHARES) },
        }),
      );
    },
    { types: ['session.closed'] },
  );
}
