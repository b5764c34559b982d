// What WebSocket subscribers see move: a leaderboard's top entries, and a live room's tips (pinned
// and latest). Changes arrive from the leaderboard store (which hears every node through Redis
// pub/sub) and from tips stored on this node; a burst of changes becomes one frame per feed.
import { boardKey, periodKey, type BoardRef, type Entry, type LeaderboardStore, type Period } from './leaderboards.js';
import type { Tip, TipService } from './tips.js';

/** At most this many frames a second per feed. */
const FRAME_EVERY_MS = 200;

export interface LeaderboardFrame {
  type: 'snapshot' | 'update';
  board: BoardRef;
  period: Period;
  periodKey: string;
  entries: Entry[];
}

export interface TipsFrame {
  type: 'snapshot' | 'update';
  roomId: string;
  pinned: Tip[];
  recent: Tip[];
}

/** A set of subscribers that share one computed frame, sent at most every FRAME_EVERY_MS. */
class Feed<F> {
  readonly subscribers = new Set<(frame: F) => void>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;

  constructor(
    private readonly compute: (type: 'snapshot' | 'update') => Promise<F>,
    private readonly onError: (error: unknown) => void,
  ) {}

  async add(send: (frame: F) => void): Promise<void> {
    send(await this.compute('snapshot'));
    this.subscribers.add(send);
  }

  changed(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.timer ??= setTimeout(() => void this.push(), FRAME_EVERY_MS);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private async push(): Promise<void> {
    this.timer = null;
    this.running = true;
    try {
      const frame = await this.compute('update');
      for (const send of this.subscribers) send(frame);
    } catch (error) {
      this.onError(error);
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.changed();
      }
    }
  }
}

export class LiveFeeds {
  private readonly boards = new Map<string, Feed<LeaderboardFrame>>();
  private readonly rooms = new Map<string, Feed<TipsFrame>>();
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly leaderboards: LeaderboardStore,
    private readonly tips: TipService,
    private readonly onError: (error: unknown) => void,
  ) {
    this.stops.push(
      leaderboards.onChange((board, keys) => {
        // Feeds are keyed by board and period instance, then the page size.
        const changed = keys.map((k) => `${boardKey(board, k)}|`);
        for (const [key, feed] of this.boards) if (changed.some((prefix) => key.startsWith(prefix))) feed.changed();
        // A room's supporter board moves with every tip and refund, on whichever node took it.
        if (board.scope.startsWith('room:')) this.rooms.get(JSON.stringify([board.tenantId, board.scope.slice(5)]))?.changed();
      }),
      tips.onRoomChange((tenantId, roomId) => this.rooms.get(JSON.stringify([tenantId, roomId]))?.changed()),
    );
  }

  /** Subscribes to a board's top `limit` entries in the current period; returns the unsubscribe. */
  async leaderboard(board: BoardRef, period: Period, limit: number, send: (frame: LeaderboardFrame) => void): Promise<() => void> {
    const current = periodKey(period, new Date());
    // The period instance is part of the key: at midnight a day feed keeps showing the day it began with.
    const key = `${boardKey(board, current)}|${limit}`;
    let feed = this.boards.get(key);
    if (!feed) {
      const at = new Date();
      feed = new Feed(async (type) => ({ type, board, period, periodKey: current, entries: await this.leaderboards.top(board, period, { limit, at }) }), this.onError);
      this.boards.set(key, feed);
    }
    await feed.add(send);
    return this.unsubscribe(this.boards, key, send);
  }

  /** Subscribes to a live room's tips: pinned ones and the latest 20. */
  async room(tenantId: string, roomId: string, send: (frame: TipsFrame) => void): Promise<() => void> {
    const key = JSON.stringify([tenantId, roomId]);
    let feed = this.rooms.get(key);
    if (!feed) {
      feed = new Feed(async (type) => ({ type, roomId, ...(await this.tips.room(tenantId, roomId, 20)) }), this.onError);
      this.rooms.set(key, feed);
    }
    await feed.add(send);
    return this.unsubscribe(this.rooms, key, send);
  }

  close(): void {
    this.stops.forEach((stop) => stop());
    for (const feed of [...this.boards.values(), ...this.rooms.values()]) feed.stop();
  }

  private unsubscribe<F>(feeds: Map<string, Feed<F>>, key: string, send: (frame: F) => void): () => void {
    return () => {
      const feed = feeds.get(key);
      if (!feed) return;
      feed.subscribers.delete(send);
      if (feed.subscribers.size === 0) {
        feed.stop();
        feeds.delete(key);
      }
    };
  }
}
