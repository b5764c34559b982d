import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { CollabMetrics } from './metrics.js';

/** A room as the cluster sees it. */
export interface ClusterRoom {
  readonly key: string;
  /** Applies an update that another node accepted (forwarded to local clients, not logged again). */
  applyRemote(update: Uint8Array): void;
  /** Everything this node holds of the document, to hand to the others after a partition. */
  fullState(): Uint8Array;
  /** Re-reads the document from storage and applies it (catch-up after a partition). */
  reloadFromStorage(): Promise<void>;
}

type Entry = [id: string, fields: Buffer[]];

/**
 * After a read that brought nothing from another node, the next one waits this long. A node reads
 * its own appends back with everyone else's; without the pause a busy node issued about one XREAD
 * (naming every followed stream) per update it accepted, most of the main thread's cluster cost.
 * It bounds those reads to 200 a second; another node's update waits at most this much longer.
 */
const QUIET_READ_PAUSE_MS = 5;

/**
 * Cross-node document sync on Redis Streams: one stream per document. The node that accepts an
 * update appends it (and alone writes it to the update log); every node with the document loaded
 * tails the stream and applies what others appended. Streams are only the fast path: storage holds
 * everything, so a node that lost Redis keeps serving its own clients, and when Redis returns it
 * re-reads storage and publishes its whole state once, after which all nodes agree again.
 */
export class ClusterSync {
  readonly nodeId = randomBytes(6).toString('hex');
  private readonly ownId = Buffer.from(this.nodeId);
  private readonly writer: Redis;
  private readonly reader: Redis;
  private readonly rooms = new Map<string, { room: ClusterRoom; lastId: string }>();
  private partitioned = false;
  private closed = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    url: string,
    private readonly options: { prefix: string; maxLen: number; logger: Logger; metrics: Pick<CollabMetrics, 'clusterPartitions' | 'clusterUpdatesIn'> },
  ) {
    const quiet = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false };
    // Every accepted update is one XADD: those of one turn of the event loop go out as one write.
    this.writer = new Redis(url, { ...quiet, enableAutoPipelining: true });
    this.reader = new Redis(url, { ...quiet, maxRetriesPerRequest: null, enableOfflineQueue: true });
    for (const conn of [this.writer, this.reader]) conn.on('error', () => this.markPartitioned());
  }

  async connect(): Promise<this> {
    await Promise.all([this.writer.connect(), this.reader.connect()]);
    this.loop = this.tail();
    return this;
  }

  private streamKey(roomKey: string): string {
    return `${this.options.prefix}${roomKey}`;
  }

  /** Starts following a room, first applying what the stream holds beyond storage. */
  async attach(room: ClusterRoom): Promise<void> {
    let lastId = '0-0';
    try {
      const entries = (await this.writer.xrangeBuffer(this.streamKey(room.key), '-', '+')) as unknown as Entry[];
      lastId = this.applyEntries(room, entries).lastId ?? lastId;
    } catch (error) {
      this.markPartitioned();
      this.options.logger.warn({ err: error, doc: room.key }, 'redis unavailable while loading; serving from storage and catching up later');
    }
    this.rooms.set(room.key, { room, lastId });
  }

  detach(room: ClusterRoom): void {
    this.rooms.delete(room.key);
  }

  /** Appends an update this node accepted. Without Redis it is skipped: the catch-up covers it. */
  publish(room: ClusterRoom, update: Uint8Array): void {
    if (this.partitioned) return;
    this.writer
      .xadd(this.streamKey(room.key), 'MAXLEN', '~', String(this.options.maxLen), '*', 'n', this.nodeId, 'u', Buffer.from(update.buffer, update.byteOffset, update.byteLength))
      .catch(() => this.markPartitioned());
  }

  private markPartitioned(): void {
    if (this.partitioned || this.closed) return;
    this.partitioned = true;
    this.options.metrics.clusterPartitions.inc();
    this.options.logger.warn('lost redis: documents keep serving local clients and will catch up');
  }

  /** Applies what other nodes appended; returns the last entry id read and how many came from others. */
  private applyEntries(room: ClusterRoom, entries: Entry[]): { lastId: string | null; remote: number } {
    let lastId: string | null = null;
    let remote = 0;
    for (const [id, fields] of entries) {
      lastId = id;
      // This node's own entries (most of what it reads back) are recognised without decoding.
      if (fields[1]?.equals(this.ownId) && fields[0]?.length === 1 && fields[0][0] === 0x6e) continue;
      const node = fields[fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'n') + 1]?.toString();
      const update = fields[fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'u') + 1];
      if (node === this.nodeId || !update) continue;
      remote++;
      try {
        room.applyRemote(new Uint8Array(update.buffer, update.byteOffset, update.byteLength));
        this.options.metrics.clusterUpdatesIn.inc();
      } catch (error) {
        this.options.logger.error({ err: error, doc: room.key, entry: id }, 'could not apply an update from another node');
      }
    }
    return { lastId, remote };
  }

  private async tail(): Promise<void> {
    while (!this.closed) {
      const followed = [...this.rooms.values()];
      if (followed.length === 0) {
        await sleep(50);
        continue;
      }
      try {
        const reply = (await this.reader.xreadBuffer(
          'COUNT',
          500,
          'BLOCK',
          100,
          'STREAMS',
          ...followed.map((f) => this.streamKey(f.room.key)),
          ...followed.map((f) => f.lastId),
        )) as unknown as [Buffer, Entry[]][] | null;
        if (this.partitioned) await this.heal();
        let remote = 0;
        for (const [key, entries] of reply ?? []) {
          const followedRoom = this.rooms.get(key.toString().slice(this.options.prefix.length));
          if (!followedRoom) continue;
          const applied = this.applyEntries(followedRoom.room, entries);
          followedRoom.lastId = applied.lastId ?? followedRoom.lastId;
          remote += applied.remote;
        }
        if (reply && remote === 0) await sleep(QUIET_READ_PAUSE_MS);
      } catch {
        if (this.closed) return;
        this.markPartitioned();
        await sleep(250);
      }
    }
  }

  /** After a partition: take in what others stored, then give them what this node accepted. */
  private async heal(): Promise<void> {
    for (const { room } of this.rooms.values()) {
      await room.reloadFromStorage();
      await this.writer.xadd(this.streamKey(room.key), 'MAXLEN', '~', String(this.options.maxLen), '*', 'n', this.nodeId, 'u', Buffer.from(room.fullState()));
    }
    this.partitioned = false;
    this.options.logger.info({ rooms: this.rooms.size }, 'redis is back: documents caught up');
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.disconnect();
    await this.loop;
    await this.writer.quit().catch(() => this.writer.disconnect());
  }
}
