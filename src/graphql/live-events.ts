// The events GraphQL subscriptions follow, heard from the bus by one group of this node (ephemeral:
// every node hears every event for its own subscribers) and handed to the subscribers of the room or
// tenant they name. Nothing here runs on the realtime path: the bus delivers off it.
import type { EventBus, Subscription } from '../events/bus.js';
import type { VezaEvent, VezaEventOf } from '../events/catalog.js';

export interface RoomState {
  roomId: string;
  live: boolean;
  streamerId: string | null;
  viewers: number;
  event: string;
}

type TipEvent = VezaEventOf<'tip.sent'>;
const ROOM_EVENTS = ['stream.started', 'stream.ended', 'stream.viewer.joined', 'stream.viewer.left'] as const;
/** Rooms whose state is remembered per node; the oldest is forgotten beyond this. */
const MAX_ROOMS = 10_000;

/** Subscribers of one key; `emit` calls each, a throwing one does not stop the others. */
class Topic<T> {
  private readonly listeners = new Map<string, Set<(value: T) => void>>();

  on(key: string, listener: (value: T) => void): () => void {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  emit(key: string, value: T): void {
    for (const listener of this.listeners.get(key) ?? []) {
      try {
        listener(value);
      } catch {
        // one subscriber's failure is its own
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}

export class LiveEvents {
  private readonly tips = new Topic<TipEvent>();
  private readonly rooms = new Topic<RoomState>();
  private readonly roomStates = new Map<string, RoomState>();
  private subscription: Subscription | null = null;

  /** Starts hearing the bus. */
  async start(bus: EventBus, group = 'graphql.subscriptions'): Promise<this> {
    this.subscription = await bus.subscribe(group, (event) => this.hear(event), { types: ['tip.sent', ...ROOM_EVENTS], ephemeral: true });
    return this;
  }

  onTip(tenantId: string, roomId: string, listener: (tip: TipEvent) => void): () => void {
    return this.tips.on(`${tenantId}/${roomId}`, listener);
  }

  onRoom(tenantId: string, roomId: string, listener: (state: RoomState) => void): () => void {
    return this.rooms.on(`${tenantId}/${roomId}`, listener);
  }

  /** The room's last known state on this node (not live, no viewers, when nothing was heard yet). */
  roomState(tenantId: string, roomId: string): RoomState {
    return this.roomStates.get(`${tenantId}/${roomId}`) ?? { roomId, live: false, streamerId: null, viewers: 0, event: 'none' };
  }

  get subscribers(): number {
    return this.tips.size + this.rooms.size;
  }

  hear(event: VezaEvent): void {
    if (event.type === 'tip.sent') {
      this.tips.emit(`${event.tenantId}/${event.payload.roomId}`, event);
      return;
    }
    if (event.type !== 'stream.started' && event.type !== 'stream.ended' && event.type !== 'stream.viewer.joined' && event.type !== 'stream.viewer.left') return;
    const key = `${event.tenantId}/${event.payload.roomId}`;
    const before = this.roomState(event.tenantId, event.payload.roomId);
    const next: RoomState = { ...before, event: event.type };
    if (event.type === 'stream.started') Object.assign(next, { live: true, streamerId: event.payload.streamerId, viewers: 0 });
    else if (event.type === 'stream.ended') Object.assign(next, { live: false, viewers: 0 });
    else next.viewers = Math.max(0, before.viewers + (event.type === 'stream.viewer.joined' ? 1 : -1));
    this.roomStates.delete(key);
    this.roomStates.set(key, next);
    if (this.roomStates.size > MAX_ROOMS) this.roomStates.delete(this.roomStates.keys().next().value!);
    this.rooms.emit(key, next);
  }

  async close(): Promise<void> {
    await this.subscription?.close();
    this.subscription = null;
  }
}

/**
 * An async iterator over what `attach` pushes: what graphql-js's subscriptions read. A slow reader
 * keeps the newest `max` values; `return()` (the client stopped) detaches.
 */
export function channel<T>(attach: (push: (value: T) => void) => () => void, max = 100): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let wake: ((result: IteratorResult<T>) => void) | null = null;
  let done = false;
  const detach = attach((value) => {
    if (done) return;
    if (wake) {
      const w = wake;
      wake = null;
      w({ value, done: false });
      return;
    }
    queue.push(value);
    if (queue.length > max) queue.shift();
  });
  const finish = (): Promise<IteratorResult<T>> => {
    if (!done) {
      done = true;
      detach();
      wake?.({ value: undefined, done: true });
      wake = null;
    }
    return Promise.resolve({ value: undefined, done: true });
  };
  return {
    next: () => {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (wake = resolve));
    },
    return: finish,
    throw: (error: unknown) => finish().then(() => Promise.reject(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
