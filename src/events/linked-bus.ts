// The in-process bus split across two threads of one process: the main thread (sockets, requests)
// and the consumers thread (the side modules' event handlers and their database work). Each side
// has its own MemoryBus with its own groups; what either side publishes reaches the groups of both.
// The realtime thread therefore only validates and posts an event; the work it causes runs elsewhere.
import type { VezaEvent } from './catalog.js';
import type { EventBus, EventHandler, SubscribeOptions, Subscription } from './bus.js';
import type { MemoryBus } from './memory-bus.js';
import type { Link } from '../consumers/link.js';

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

  constructor(private readonly local: MemoryBus) {}

  /**
   * Joins the other side (again, after it was restarted). Until then what is published here reaches
   * only this side's groups: the consumers' side connects once all of its groups exist.
   */
  connect(link: Link<BusMethods, BusMethods>): void {
    this.link?.close();
    this.link = link;
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
    if (!this.link) return;
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
    await this.local.close();
  }
}
