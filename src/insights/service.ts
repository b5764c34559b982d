// The insights module as the server runs it: the `insights` consumer group writes the rollups, live
// dashboards follow what was stored, and the HTTP and WebSocket routes answer creators.
import type { EventBus, Subscription } from '../events/bus.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import { InsightsAlerts } from './alerts.js';
import { LiveDashboards } from './live.js';
import { InsightsQueries } from './queries.js';
import { INSIGHT_TYPES, InsightsWriter } from './writer.js';

export interface InsightsDeps {
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  /** Seconds between alert checks; 0: none. */
  alertIntervalS?: number;
}

export class InsightsService {
  readonly writer: InsightsWriter;
  readonly queries: InsightsQueries;
  readonly live: LiveDashboards;
  readonly alerts: InsightsAlerts;
  private subscription: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: InsightsDeps) {
    this.queries = new InsightsQueries(deps.storage);
    this.alerts = new InsightsAlerts({ storage: deps.storage, bus: deps.bus, logger: deps.logger });
    this.live = new LiveDashboards(deps.storage);
    this.writer = new InsightsWriter(deps.storage, {
      onStored: (events) =>
        void this.live.observe(events).catch((error: unknown) => deps.logger.warn({ err: error }, 'live dashboards missed a batch')),
    });
  }

  async start(): Promise<this> {
    // Many in flight: each event resolves when its batch is stored, so one at a time would wait a
    // flush per event.
    this.subscription = await this.deps.bus.subscribe('insights', (event) => this.writer.add(event), { types: INSIGHT_TYPES, concurrency: 2000 });
    const every = this.deps.alertIntervalS ?? 0;
    if (every > 0) {
      this.timer = setInterval(() => void this.alerts.evaluate().catch((error: unknown) => this.deps.logger.error({ err: error }, 'insights alerts check failed')), every * 1000);
      this.timer.unref();
    }
    return this;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.alerts.close();
    await this.subscription?.close();
    await this.writer.flush();
    this.live.close();
  }
}
