// Realtime creator dashboards: listeners now (distinct listeners in the last 5 minutes), plays per
// minute over the last hour and per hour over the last 48 hours, pushed over WebSocket to the
// creator's open dashboards as events are stored. The 48 hours start from the rollups when the first
// dashboard of a creator opens; after that, counters move in memory with every stored play.
import type { VezaEvent } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';

export const LISTENERS_NOW_MS = 5 * 60_000;
/** A dashboard gets at most this many updates a second; a burst of plays becomes one update. */
export const DASHBOARD_PUSH_MS = 250;

export interface DashboardFrame {
  type: 'snapshot' | 'update';
  creatorId: string;
  at: string;
  listenersNow: number;
  /** 60 entries, oldest first: plays in each of the last 60 minutes (the last is the current one). */
  playsPerMinute: { minute: string; plays: number }[];
  /** 48 entries, oldest first. */
  playsPerHour: { hour: string; plays: number }[];
  totals: { likes: number; shares: number; purchases: number };
}

interface CreatorState {
  tenantId: string;
  creatorId: string;
  listeners: Map<string, number>;
  minutes: Map<number, number>;
  hours: Map<number, number>;
  totals: { likes: number; shares: number; purchases: number };
  subscribers: Set<(frame: DashboardFrame) => void>;
  timer: NodeJS.Timeout | null;
  pushedAt: number;
  ready: Promise<void>;
}

export class LiveDashboards {
  private readonly creators = new Map<string, CreatorState>();
  private readonly trackCreators = new Map<string, { creator: string | null; at: number }>();

  constructor(
    private readonly storage: Storage,
    private readonly now: () => number = Date.now,
  ) {}

  /** Opens a creator's dashboard: the callback gets a snapshot now and updates as plays arrive. */
  async subscribe(tenantId: string, creatorId: string, send: (frame: DashboardFrame) => void): Promise<() => void> {
    const key = `${tenantId}\u0000${creatorId}`;
    let state = this.creators.get(key);
    if (!state) {
      const created: CreatorState = {
        tenantId,
        creatorId,
        listeners: new Map(),
        minutes: new Map(),
        hours: new Map(),
        totals: { likes: 0, shares: 0, purchases: 0 },
        subscribers: new Set(),
        timer: null,
        pushedAt: 0,
        ready: Promise.resolve(),
      };
      created.ready = this.load(created);
      this.creators.set(key, created);
      state = created;
    }
    await state.ready;
    state.subscribers.add(send);
    send(this.frame(state, 'snapshot'));
    const subscribed = state;
    return () => {
      subscribed.subscribers.delete(send);
      if (subscribed.subscribers.size === 0) {
        if (subscribed.timer) clearTimeout(subscribed.timer);
        this.creators.delete(key);
      }
    };
  }

  /** Stored events move the counters of creators with an open dashboard. */
  async observe(events: VezaEvent[]): Promise<void> {
    if (this.creators.size === 0) return;
    for (const event of events) {
      if (event.type !== 'track.played' && event.type !== 'track.liked' && event.type !== 'track.shared' && event.type !== 'track.purchased') continue;
      const creator = await this.creatorOf(event.tenantId, event.payload.trackId);
      const state = creator ? this.creators.get(`${event.tenantId}\u0000${creator}`) : undefined;
      if (!state) continue;
      await state.ready;
      const at = Date.parse(event.at);
      if (event.type === 'track.played') {
        if (event.actor) state.listeners.set(event.actor, Math.max(at, state.listeners.get(event.actor) ?? 0));
        const minute = Math.floor(at / 60_000);
        state.minutes.set(minute, (state.minutes.get(minute) ?? 0) + 1);
        const hour = Math.floor(at / 3_600_000);
        state.hours.set(hour, (state.hours.get(hour) ?? 0) + 1);
      } else if (event.type === 'track.liked') state.totals.likes++;
      else if (event.type === 'track.shared') state.totals.shares++;
      else state.totals.purchases++;
      // The first change after a quiet spell goes out at once (after the rest of this batch); later
      // ones wait for the next slot.
      state.timer ??= setTimeout(
        () => {
          state.timer = null;
          state.pushedAt = this.now();
          const frame = this.frame(state, 'update');
          for (const send of state.subscribers) send(frame);
        },
        Math.max(0, state.pushedAt + DASHBOARD_PUSH_MS - this.now()),
      );
    }
  }

  close(): void {
    for (const state of this.creators.values()) if (state.timer) clearTimeout(state.timer);
    this.creators.clear();
  }

  private async creatorOf(tenantId: string, trackId: string): Promise<string | null> {
    const key = `${tenantId}\u0000${trackId}`;
    const cached = this.trackCreators.get(key);
    if (cached && this.now() - cached.at < 60_000) return cached.creator;
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('rec_items').select('artist_id').where('item_id', '=', trackId).executeTakeFirst());
    const creator = row?.artist_id ?? null;
    this.trackCreators.set(key, { creator, at: this.now() });
    if (this.trackCreators.size > 100_000) this.trackCreators.delete(this.trackCreators.keys().next().value!);
    return creator;
  }

  /** The last 48 hours from the rollups; the current hour's minutes cannot be recovered and start at 0. */
  private async load(state: CreatorState): Promise<void> {
    const since = new Date((Math.floor(this.now() / 3_600_000) - 47) * 3_600_000);
    const rows = await this.storage.withTenant(state.tenantId, (trx) =>
      trx
        .selectFrom('ins_track_hours as h')
        .innerJoin('rec_items as i', (j) => j.onRef('i.tenant_id', '=', 'h.tenant_id').onRef('i.item_id', '=', 'h.track_id'))
        .select(['h.hour', (eb) => eb.fn.sum<string>('h.plays').as('plays')])
        .where('i.artist_id', '=', state.creatorId)
        .where('h.hour', '>=', since)
        .groupBy('h.hour')
        .execute(),
    );
    for (const r of rows) state.hours.set(Math.floor(new Date(r.hour).getTime() / 3_600_000), Number(r.plays));
  }

  private frame(state: CreatorState, type: DashboardFrame['type']): DashboardFrame {
    const now = this.now();
    for (const [user, at] of state.listeners) if (now - at > LISTENERS_NOW_MS) state.listeners.delete(user);
    const minuteNow = Math.floor(now / 60_000);
    const hourNow = Math.floor(now / 3_600_000);
    for (const m of state.minutes.keys()) if (m <= minuteNow - 60) state.minutes.delete(m);
    for (const h of state.hours.keys()) if (h <= hourNow - 48) state.hours.delete(h);
    return {
      type,
      creatorId: state.creatorId,
      at: new Date(now).toISOString(),
      listenersNow: state.listeners.size,
      playsPerMinute: Array.from({ length: 60 }, (_, i) => {
        const m = minuteNow - 59 + i;
        return { minute: new Date(m * 60_000).toISOString(), plays: state.minutes.get(m) ?? 0 };
      }),
      playsPerHour: Array.from({ length: 48 }, (_, i) => {
        const h = hourNow - 47 + i;
        return { hour: new Date(h * 3_600_000).toISOString(), plays: state.hours.get(h) ?? 0 };
      }),
      totals: { ...state.totals },
    };
  }
}
