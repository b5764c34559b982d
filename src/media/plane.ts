import os from 'node:os';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import { LiveRoom, type RoomInfo, type WorkerSlot } from './live-room.js';
import type { MediaSettings } from './settings.js';

/** The media settings the workers and their rooms read. */
export type PlaneSettings = Pick<MediaSettings, 'workers' | 'listenIp' | 'announcedAddress' | 'rtcMinPort' | 'rtcMaxPort' | 'routerMaxConsumers'>;

export interface MediaPlaneOptions {
  settings: PlaneSettings;
  logger: Logger;
  /** The worker binary `locateMediaWorker()` found. */
  workerBin: string;
}

const roomKey = (info: RoomInfo) => `${info.tenantId}/${info.kind}/${info.roomId}`;

/**
 * The mediasoup workers and the live rooms on them. A worker that dies is logged, the rooms on it
 * are closed (their peers are disconnected with 1011 and reconnect), and a new worker takes its
 * place; the process keeps running.
 */
export class MediaPlane {
  private readonly slots: WorkerSlot[] = [];
  private readonly rooms = new Map<string, Promise<LiveRoom>>();
  /** The rooms above once created, so that a closing room is forgotten at once. */
  private readonly created = new Map<string, LiveRoom>();
  private readonly roomListeners: ((room: LiveRoom) => void)[] = [];
  private mediasoup!: typeof import('mediasoup');
  private closing = false;

  private constructor(
    readonly settings: PlaneSettings,
    private readonly logger: Logger,
  ) {}

  /** Starts `settings.workers` workers (0: one per core, at least one). */
  static async start(options: MediaPlaneOptions): Promise<MediaPlane> {
    // mediasoup 3.12 reads the binary's path from the environment once, when first imported.
    process.env.MEDIASOUP_WORKER_BIN ||= options.workerBin;
    const plane = new MediaPlane(options.settings, options.logger);
    plane.mediasoup = await import('mediasoup');
    const count = options.settings.workers > 0 ? options.settings.workers : Math.max(1, os.availableParallelism());
    try {
      for (let index = 0; index < count; index++) plane.slots.push(await plane.spawn(index));
    } catch (error) {
      await plane.close();
      throw error;
    }
    options.logger.info({ workers: count, bin: plane.mediasoup.workerBin }, 'media plane started');
    return plane;
  }

  get workers(): readonly ms.Worker[] {
    return this.slots.map((slot) => slot.worker);
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Called with every room as it is created (LiveService hooks events and awareness here). */
  onRoom(listener: (room: LiveRoom) => void): void {
    this.roomListeners.push(listener);
  }

  /** The room if it is open, without creating it. */
  existing(info: RoomInfo): LiveRoom | null {
    const room = this.created.get(roomKey(info));
    return room && !room.closed ? room : null;
  }

  /** Open rooms (for stats). */
  openRooms(): LiveRoom[] {
    return [...this.created.values()].filter((room) => !room.closed);
  }

  /** The live room, created on the least-loaded worker on first use. */
  room(info: RoomInfo): Promise<LiveRoom> {
    if (this.closing) return Promise.reject(new Error('media plane is closing'));
    const key = roomKey(info);
    let room = this.rooms.get(key);
    if (!room) {
      const live = this.liveSlots();
      if (live.length === 0) return Promise.reject(new Error('no mediasoup worker is running; one is being restarted'));
      const slot = live.reduce((best, candidate) => (candidate.rooms.size < best.rooms.size ? candidate : best));
      room = LiveRoom.create(key, info, slot, this).then(
        (created) => {
          slot.rooms.add(created);
          this.created.set(key, created);
          for (const listener of this.roomListeners) listener(created);
          return created;
        },
        (error: unknown) => {
          this.rooms.delete(key);
          throw error;
        },
      );
      this.rooms.set(key, room);
    }
    return room;
  }

  /** A worker for a room's overflow router: the least-loaded one other than the room's own. */
  workerForOverflow(own: ms.Worker): ms.Worker {
    const others = this.liveSlots().filter((slot) => slot.worker !== own);
    if (others.length === 0) return own;
    return others.reduce((best, candidate) => (candidate.rooms.size < best.rooms.size ? candidate : best)).worker;
  }

  private liveSlots(): WorkerSlot[] {
    return this.slots.filter((slot) => !slot.worker.died && !slot.worker.closed);
  }

  /** Called by a room as it closes. */
  forget(room: LiveRoom): void {
    // A dead worker's slot keeps its rooms until 'died' has logged them.
    for (const slot of this.slots) if (!slot.worker.died) slot.rooms.delete(room);
    if (this.created.get(room.key) === room) {
      this.created.delete(room.key);
      this.rooms.delete(room.key);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const rooms = await Promise.allSettled([...this.rooms.values()]);
    for (const result of rooms) if (result.status === 'fulfilled') result.value.close('server shutting down', 1001);
    this.rooms.clear();
    this.created.clear();
    const exits = this.slots.map((slot) => new Promise<void>((resolve) => (slot.worker.closed ? resolve() : slot.worker.observer.once('close', () => resolve()))));
    for (const slot of this.slots) slot.worker.close();
    await Promise.all(exits);
  }

  private async spawn(index: number): Promise<WorkerSlot> {
    const worker = await this.mediasoup.createWorker({
      logLevel: 'warn',
      rtcMinPort: this.settings.rtcMinPort,
      rtcMaxPort: this.settings.rtcMaxPort,
      appData: { index },
    });
    const slot: WorkerSlot = { index, worker, rooms: new Set() };
    worker.on('died', (error) => this.onWorkerDied(slot, error));
    return slot;
  }

  private onWorkerDied(slot: WorkerSlot, error: Error): void {
    const rooms = [...slot.rooms];
    this.logger.error({ err: error, worker: slot.index, pid: slot.worker.pid, rooms: rooms.map((room) => room.key) }, 'mediasoup worker died; closing its rooms and starting a new one');
    for (const room of rooms) room.close('media worker died', 1011);
    slot.rooms.clear();
    if (this.closing) return;
    this.restart(slot.index, 0);
  }

  private restart(index: number, attempt: number): void {
    const delay = Math.min(5000, 100 * 2 ** attempt);
    setTimeout(() => {
      if (this.closing) return;
      this.spawn(index).then(
        (slot) => {
          if (this.closing) {
            slot.worker.close();
            return;
          }
          const position = this.slots.findIndex((existing) => existing.index === index);
          this.slots[position] = slot;
          this.logger.info({ worker: index, pid: slot.worker.pid }, 'mediasoup worker restarted');
        },
        (error: unknown) => {
          this.logger.error({ err: error, worker: index }, 'mediasoup worker could not be restarted; retrying');
          this.restart(index, attempt + 1);
        },
      );
    }, attempt === 0 ? 0 : delay).unref();
  }
}
