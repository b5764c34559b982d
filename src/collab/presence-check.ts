// The presence timer of one room: what y-protocols runs every 3 s for every document, run here only
// while the room has presence to renew or expire.
import { getUnixTime } from 'lib0/time';
import * as awarenessProtocol from 'y-protocols/awareness';

/** How often presence is renewed and expired while a room has any (y-protocols' own period). */
const PRESENCE_CHECK_MS = awarenessProtocol.outdatedTimeout / 10;

export class PresenceCheck {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly awareness: awarenessProtocol.Awareness) {}

  /** Looks again in a while, if there is presence and no look is due already. */
  arm(): void {
    if (this.timer || this.stopped || this.awareness.getStates().size === 0) return;
    this.timer = setTimeout(this.check, PRESENCE_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** What y-protocols' own timer does: renews the server's entry halfway to its expiry, drops remote entries not renewed in time. */
  private readonly check = (): void => {
    this.timer = null;
    const { awareness } = this;
    const now = getUnixTime();
    const own = awareness.meta.get(awareness.clientID);
    if (awareness.getLocalState() !== null && own && awarenessProtocol.outdatedTimeout / 2 <= now - own.lastUpdated) awareness.setLocalState(awareness.getLocalState());
    const expired = [...awareness.meta]
      .filter(([id, meta]) => id !== awareness.clientID && awarenessProtocol.outdatedTimeout <= now - meta.lastUpdated && awareness.states.has(id))
      .map(([id]) => id);
    if (expired.length > 0) awarenessProtocol.removeAwarenessStates(awareness, expired, 'timeout');
    this.arm();
  };
}
