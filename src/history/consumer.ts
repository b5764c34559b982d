// The `history` consumer group: automatic versions, off the realtime path. A session that ends gets a
// version ("Session end"), and a session being edited gets one every `autoVersionMinutes` ("Autosave").
// Each is taken only when the session changed since its latest version, so a redelivered event takes
// none twice. A session that ends also gets its authorship published (authorship-events.ts).
import type { ConsumerModule } from '../consumers/contract.js';
import { createEvent, type VezaEvent } from '../events/catalog.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import { ReplayStore } from '../studio/replay-store.js';
import { publishAuthorshipOnClose } from './authorship-events.js';
import type { AutoReason, VersionStore } from './versions.js';
import { VersionStore as Versions } from './versions.js';

/** Sessions whose last version time is remembered (the oldest are forgotten beyond it, and read again). */
const REMEMBERED_SESSIONS = 10_000;

export class AutoVersions {
  /** `tenant/session` → Unix ms of its latest version (or of the first edit seen, when it has none). */
  private readonly lastVersionAt = new Map<string, number>();

  constructor(
    private readonly versions: VersionStore,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly everyMinutes: number,
  ) {}

  async handle(event: VezaEvent): Promise<void> {
    const at = Date.parse(event.at);
    if (event.type === 'session.closed') return this.take(event.tenantId, event.payload.sessionId, 'session-end', at);
    if (event.type !== 'session.updated' || this.everyMinutes === 0) return;
    const key = `${event.tenantId}/${event.payload.sessionId}`;
    let last = this.lastVersionAt.get(key);
    if (last === undefined) {
      const [latest] = await this.versions.list(event.tenantId, event.payload.sessionId, 1);
      last = latest ? Date.parse(latest.createdAt) : at;
      this.remember(key, last);
    }
    if (at - last >= this.everyMinutes * 60_000) await this.take(event.tenantId, event.payload.sessionId, 'interval', at);
  }

  private async take(tenantId: string, sessionId: string, reason: AutoReason, at: number): Promise<void> {
    const { version, created } = await this.versions.auto(tenantId, sessionId, reason);
    this.remember(`${tenantId}/${sessionId}`, at);
    if (!created || !version) return;
    this.logger.debug({ tenant: tenantId, session: sessionId, version: version.id, reason }, 'automatic version taken');
    await this.bus.publish(createEvent('session.versioned', { tenantId, payload: { sessionId, versionId: version.id, kind: 'auto', reason, updates: version.updates } }) as VezaEvent);
  }

  private remember(key: string, at: number): void {
    this.lastVersionAt.delete(key);
    this.lastVersionAt.set(key, at);
    if (this.lastVersionAt.size > REMEMBERED_SESSIONS) this.lastVersionAt.delete(this.lastVersionAt.keys().next().value!);
  }
}

export const historyConsumer: ConsumerModule = {
  name: 'history',
  async start({ config, storage, bus, logger }) {
    const auto = new AutoVersions(new Versions(storage, new ReplayStore(storage)), bus, logger, config.history.autoVersionMinutes);
    const subscription = await bus.subscribe('history', (event) => auto.handle(event), { types: ['session.closed', 'session.updated'] });
    const authorship = await publishAuthorshipOnClose(bus, storage);
    return {
      close: async () => {
        await subscription.close();
        await authorship.close();
      },
    };
  },
};
