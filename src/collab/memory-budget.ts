// The loaded documents' memory against the budget: what they cost together (estimated per room),
// whether an idle one could make room, and making room by unloading documents nobody has open
// (their state is in storage), oldest loaded first.
import { MemoryBudgetReached } from './admission.js';
import type { CollabMetrics } from './metrics.js';
import type { Room } from './room.js';

/** Documents of another kind under the same budget (Automerge's): their cost, and unloading their idle ones. */
export interface BudgetSharer {
  used(): number;
  reclaimable(): boolean;
  unloadIdle(): Promise<void>;
}

export class MemoryBudget {
  private readonly sharers: BudgetSharer[] = [];

  constructor(
    readonly budget: number,
    private readonly rooms: ReadonlyMap<string, Room>,
    /** Stores and frees a room nobody has open now; it stays loaded when storing fails. */
    private readonly unloadNow: (room: Room) => Promise<void>,
    private readonly metrics: CollabMetrics,
  ) {}

  /** Puts another kind of document under this budget. */
  share(sharer: BudgetSharer): void {
    this.sharers.push(sharer);
  }

  /** The loaded documents' estimated memory (of every kind sharing the budget), in bytes. */
  readonly used = (): number => {
    let used = 0;
    for (const room of this.rooms.values()) used += room.memoryBytes;
    for (const sharer of this.sharers) used += sharer.used();
    return used;
  };

  /** Whether a document nobody has open could be unloaded to make room. */
  readonly reclaimable = (): boolean => {
    for (const room of this.rooms.values()) if (room.size === 0) return true;
    return this.sharers.some((sharer) => sharer.reclaimable());
  };

  /** Before a load of about `bytes`: makes room, or throws MemoryBudgetReached (a node always takes one document). */
  async makeRoomFor(bytes: number): Promise<void> {
    if (!(await this.unloadIdle(bytes)) || this.rooms.size === 0) return;
    this.metrics.budgetRefusals.inc({ reason: 'memory-budget' });
    throw new MemoryBudgetReached(this.budget);
  }

  /** While the documents (and `extra` bytes to come) pass the budget, unloads idle ones. Resolves with whether they still pass it. */
  async unloadIdle(extra = 0): Promise<boolean> {
    if (this.budget === 0 || this.used() + extra <= this.budget) return false;
    for (const room of [...this.rooms.values()]) {
      if (this.used() + extra <= this.budget) return false;
      if (room.size > 0) continue;
      await this.unloadNow(room);
      if (this.rooms.get(room.key) !== room) this.metrics.budgetUnloads.inc();
    }
    for (const sharer of this.sharers) {
      if (this.used() + extra <= this.budget) return false;
      await sharer.unloadIdle();
    }
    return this.used() + extra > this.budget;
  }
}
