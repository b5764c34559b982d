// `session.updated` for the rooms being edited: one timer for all of them, each room reported at
// most every REPORT_EVERY_MS, a few rooms per turn of the event loop.
import type { Room } from './room.js';

/**
 * How often `session.updated` is published for a room being edited (per author, what changed since
 * the last one). Every report is an event that each side module handles and stores: at low edit rates
 * reports, not edits, are most of what the modules do, and at one a second they doubled the server's
 * CPU at 100 edits a second (bench/RESULTS.md, Run 8). Five seconds is as fresh as co-editing
 * signals, points and insights need.
 */
const REPORT_EVERY_MS = 5000;
/**
 * Rooms reported per turn of the event loop: the sockets' messages are handled between slices, so
 * a server with many rooms being edited never holds an update back for all their reports at once.
 */
const REPORT_SLICE = 8;

export class UpdateReports {
  /** Rooms with changes not yet reported. */
  private readonly unreported = new Set<Room>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  /** `afterRound` runs once every room of a round was reported. */
  constructor(private readonly afterRound: () => void) {}

  /** The room has changes to report (`Room.reportUpdates`). */
  readonly changed = (room: Room): void => {
    this.unreported.add(room);
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const rooms = [...this.unreported];
      this.unreported.clear();
      this.slice(rooms, 0);
    }, REPORT_EVERY_MS);
    this.timer.unref();
  };

  /** The room is gone (it reported what it had when it was destroyed). */
  forget(room: Room): void {
    this.unreported.delete(room);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.unreported.clear();
  }

  private slice(rooms: Room[], from: number): void {
    if (this.closed) return;
    const to = Math.min(rooms.length, from + REPORT_SLICE);
    for (let i = from; i < to; i++) rooms[i]!.reportUpdates();
    if (to < rooms.length) setImmediate(() => this.slice(rooms, to));
    else this.afterRound();
  }
}
