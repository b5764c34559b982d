// The in-process bus split across two threads of one process: the main thread (sockets, requests)
// and the consumers thread (the side modules' event handlers and their database work). Each side
// has its own MemoryBus with its own groups; what either side publishes reaches the groups of both.
// The realtime thread therefore only validates and posts an event; the work it causes runs elsewhere.
import type { VezaEvent } from './catalog.js';
import type { EventBus, EventHandler, SubscribeOptions, Subscription } from './bus.js';
import type { MemoryBus } from './memory-bus.js';
import type { Link } from '../consumers/link.js';

/** Events held for a side that has not started yet, at most (a burst while it loads is far below this). */
const MAX_HELD = 100_000;

/** What the two sides of a linked bus send each other. */
export type BusMethods = {
  /** What one side published during one turn of its event loop, in order. */
  'bus.events': [VezaEvent[], void];
  /** Resolves once every group of the answering side has handled what it was given. */
  'bus.idle': [null, void];
};

export class LinkedBus implements EventBus {
  readonly kind = 'memory' as const;
  /** Events that came from the other side, so that `idle` can tell whether handling is still going back and forth. */
  private received = 0;
  private closed = false;

  private link: Link<BusMethods, BusMethods> | null = null;
  /** Published this turn, sent together at its end: one message however many rooms reported. */
  private outgoing: VezaEvent[] = [];
  /** What was published before the other side first connected, kept for it (see `holdUntilConnected`). */
  private held: VezaEvent[] | null = null;
  private wake: (() => void) | null = null;
  /** Resolves when the held events were handed over (or let go). */
  private handedOver: Promise<void> = Promise.resolve();
  private endHolding: () => void = () => undefined;
  /** Held events that did not fit (`MAX_HELD`), dropped. */
  droppedWhileHeld = 0;

  constructor(private readonly local: MemoryBus) {}

  /**
   * The other side starts when it is first needed: until it first connects, what is published here is
   * kept for it (as well as reaching this side's groups), and the first such event calls `wake`.
   */
  holdUntilConnected(wake: () => void): void {
    if (this.link) return;
    this.held = [];
    this.wake = wake;
    this.handedOver = new Promise((resolve) => (this.endHolding = resolve));
  }

  /** Whether events are being held for a side that has not started. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** The other side will not come (it failed to start): the held events reach only this side's groups. */
  letGo(): number {
    const count = this.held?.length ?? 0;
    this.held = null;
    this.wake = null;
    this.endHolding();
    return count;
  }

  /**
   * Joins the other side (again, after it was restarted). Until then what is published here reaches
   * only this side's groups: the consumers' side connects once all of its groups exist.
   */
  connect(link: Link<BusMethods, BusMethods>): void {
    this.link?.close();
    this.link = link;
    if (this.held) {
      // What was kept for this side goes first, in the order it was published; the port queues it until the other side listens.
      this.outgoing = [...this.held, ...this.outgoing];
      this.held = null;
      this.wake = null;
      this.endHolding();
      setImmediate(this.send);
    }
    link.handle('bus.events', async (events) => {
      this.received += events.length;
      for (const event of events) if (!this.closed) await this.local.publish(event);
    });
    link.handle('bus.idle', async () => {
      await this.local.idle();
      // What the handlers published goes out before the answer, so the asking side sees it first.
      this.send();
    });
  }

  async publish(event: VezaEvent): Promise<void> {
    // Validates (throws for an invalid event) and reaches this side's groups; then the other side's.
    await this.local.publish(event);
    if (!this.link) {
      if (!this.held) return;
      if (this.held.length < MAX_HELD) this.held.push(event);
      else this.droppedWhileHeld++;
      const wake = this.wake;
      this.wake = null;
      wake?.();
      return;
    }
    if (this.outgoing.push(event) === 1) setImmediate(this.send);
  }

  private readonly send = (): void => {
    if (this.outgoing.length === 0) return;
    const events = this.outgoing;
    this.outgoing = [];
    this.link?.notify('bus.events', events);
  };

  subscribe(group: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    return this.local.subscribe(group, handler, options);
  }

  /** Resolves when every group on both sides has handled (or parked) everything published so far. */
  async idle(): Promise<void> {
    // Held events count as published: wait for the side they are held for.
    if (this.held?.length) await this.handedOver;
    for (;;) {
      const before = this.received;
      this.send();
      await this.local.idle();
      await this.link?.call('bus.idle', null).catch(() => undefined);
      // Events the other side published while handling arrive before its answer.
      if (this.received === before) return this.local.idle();
    }
  }

  async ping(): Promise<void> {
    await this.local.ping();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.letGo();
    await this.local.close();
  }
}
