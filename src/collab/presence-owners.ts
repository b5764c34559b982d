// Whose presence is whose in one room: an awareness entry belongs to the connection that set it first.
// A connection sets and removes only its own entries, so entries of other connections (the server's
// own too) are dropped from what it sends; y-websocket clients echo the entries they receive, and
// those echoes are dropped the same way. The same user's new connection takes over its entries (a
// client that reconnects before the server saw its old socket close keeps its awareness client id).
import { awarenessEntries, encodeAwarenessEntries } from './protocol.js';

/** A connection that may hold presence: a y-websocket socket's state or a Hocuspocus peer. */
export interface AwarenessOwner {
  readonly userId: string;
}

export class PresenceOwners {
  /** Awareness client id → the connection that set it. */
  private readonly owners = new Map<number, AwarenessOwner>();

  constructor(
    /** The room's own client id, which no connection may set. */
    private readonly serverId: number,
    /** Counts the entries dropped. */
    private readonly dropped: (count: number) => void,
  ) {}

  /**
   * The part of `update` that is `conn`'s (the update itself when it holds only the sender's entries),
   * recording `conn` as their owner; null when nothing of it is the sender's.
   */
  own(conn: AwarenessOwner, update: Uint8Array): Uint8Array | null {
    const entries = awarenessEntries(update);
    const mine = entries.filter((entry) => {
      if (entry.clientId === this.serverId) return false;
      const owner = this.owners.get(entry.clientId);
      return owner === undefined || owner === conn || owner.userId === conn.userId;
    });
    for (const entry of mine) this.owners.set(entry.clientId, conn);
    if (mine.length === entries.length) return update;
    this.dropped(entries.length - mine.length);
    return mine.length === 0 ? null : encodeAwarenessEntries(mine);
  }

  /** `owner` left: of `ids`, those it still holds (the others were taken over), now owned by nobody. */
  release(owner: AwarenessOwner, ids: Iterable<number>): number[] {
    const held = [...ids].filter((id) => this.owners.get(id) === owner);
    for (const id of held) this.owners.delete(id);
    return held;
  }
}
