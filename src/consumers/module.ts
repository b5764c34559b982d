// The side modules' event consumers (recommendation signals, insights rollups and alerts, the
// gamification engine): on their own thread by default, so the realtime thread only publishes
// events. Listed after the modules whose memory they update, so that they stop before those close.
// With the in-process bus the thread starts with the first event published (a V8 isolate with every
// side module is some 70 MiB that an idle server does not need): from `prepare` on, before any module
// starts, the bus holds what is published for it, and a consumer with work waiting (alerts on a
// timer, an outbox a crash left) starts it at once. Otherwise it is begun in `prepare` and loads
// while the other modules start.
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import { LinkedBus } from '../events/linked-bus.js';
import { gamificationModule } from '../gamification/module.js';
import type { GamificationService } from '../gamification/service.js';
import { insightsModule } from '../insights/module.js';
import type { InsightsService } from '../insights/service.js';
import { defineModule } from '../modules/contract.js';
import type { Capability } from '../startup-report.js';
import { consumerPlacement, hostConsumers, type ConsumerHost, type ConsumerPlacement, type ConsumerStatus } from './host.js';
import { consumerModules } from './modules.js';
import { CONSUMER_NAMES } from './names.js';

export interface ConsumersModuleOptions {
  /** The whole configuration: the thread hosts several modules' consumers, each reading its own settings there. */
  config: Config;
  /** Called with the consumers thread each time it starts (tests end it to see it restart). */
  onWorker?: (worker: Worker) => void;
}

/** The main thread's side of what the consumers call, known once the modules that own it have started. */
interface Answers {
  gamification: GamificationService | null;
  insights: InsightsService | null;
}

interface Hosting {
  placement: ConsumerPlacement;
  /** Whether the thread waits for the first event (or for `begin`). */
  lazy: boolean;
  /** The consumers' start, begun now or by then; null while the thread waits. */
  starting(): Promise<ConsumerHost> | null;
  /** Begins the consumers' start (once). */
  begin(): Promise<ConsumerHost>;
  /** Called with the start once it is begun (now, if it was). */
  onBegin(listener: (starting: Promise<ConsumerHost>) => void): void;
  answer(answers: Answers): void;
  close(): Promise<void>;
}

export function consumersModule({ config, onWorker }: ConsumersModuleOptions) {
  return defineModule({
    name: 'consumers',
    settings: 'events',
    prepare({ settings, storage, bus, logger }): Hosting {
      const placement = consumerPlacement(settings, storage);
      let answer!: (answers: Answers) => void;
      const answers = new Promise<Answers>((resolve) => (answer = resolve));
      let starting: Promise<ConsumerHost> | null = null;
      let listener: ((starting: Promise<ConsumerHost>) => void) | null = null;
      const begin = () => {
        if (starting) return starting;
        starting = hostConsumers(placement, {
          config,
          storage,
          bus,
          // With the consumers on their thread, the in-process bus spans both threads.
          linkedBus: bus instanceof LinkedBus ? bus : null,
          logger,
          // What the consumers call on this thread: the leaderboards served here, the open dashboards;
          // a call that comes before those modules have started waits for them.
          handlers: {
            'storage.port': async () => (await storage.attachPort()) ?? Promise.reject(new Error('no storage thread')),
            'gamification.boards': async (updates) => void (await (await answers).gamification?.leaderboards.apply(updates)),
            'insights.stored': async (events) => (await answers).insights?.observe(events),
          },
          ...(onWorker ? { onWorker } : {}),
        });
        // Awaited once the modules have started (or by whoever needs it); a failure before then is not an unhandled one.
        starting.catch(() => undefined);
        listener?.(starting);
        return starting;
      };
      const lazy = placement === 'thread' && settings.consumerThreadStart === 'first-event' && bus instanceof LinkedBus;
      if (lazy) {
        bus.holdUntilConnected(() => {
          logger.info('the first event: starting the event consumers thread');
          begin().catch((error: unknown) => logger.error({ err: error, dropped: bus.letGo() }, 'the event consumers thread did not start; events reach only this thread'));
        });
      } else {
        begin();
      }
      const onBegin = (then: (starting: Promise<ConsumerHost>) => void) => {
        listener = then;
        if (starting) then(starting);
      };
      return { placement, lazy, starting: () => starting, begin, onBegin, answer, close: async () => void (await (await starting?.catch(() => null))?.close()) };
    },
    async start(ctx, hosting) {
      const { settings, logger, storage } = ctx;
      const { placement } = hosting;
      if (placement === 'none' && !settings.redisUrl) logger.warn('no event consumers run in this process and the events bus is in-process: side modules get no events');
      // The modules whose consumers run here, and only those, must be listed before this one.
      const gamification = settings.consumers.includes('gamification') ? ctx.use(gamificationModule) : null;
      const insights = settings.consumers.includes('insights') ? ctx.use(insightsModule) : null;
      hosting.answer({ gamification, insights });
      let host: ConsumerHost | null = null;
      let failed = false;
      // Rules changed through this node's API: the engine on the thread forgets its cached ones (one not started yet has none).
      gamification?.watchRules((tenantId) => host?.notify('gamification.rules-changed', tenantId));
      // Before the thread first runs: waiting (for the first event, or while it loads after it); the thread's own status after.
      const status = (): ConsumerStatus | null => host?.status() ?? (hosting.lazy ? { placement, consumers: settings.consumers, running: false, waiting: !failed } : null);
      const on = new Set<string>(settings.consumers);
      const where = placement === 'thread' ? `consuming events on their own thread${hosting.lazy ? ', started by the first event' : ''}` : placement === 'main' ? 'consuming events on the main thread' : '';
      const state = (name: string): Capability =>
        on.has(name) ? { on: true, detail: where } : { on: false, reason: settings.redisUrl ? 'its events are consumed by other processes (VEZA_CONSUMERS)' : 'not in VEZA_CONSUMERS', fix: 'VEZA_CONSUMERS=all' };
      let started: Promise<void> | null = null;
      hosting.onBegin((starting) => {
        started = starting.then(
          (running) => {
            host = running;
            logger.info({ consumers: settings.consumers, placement }, placement === 'thread' ? 'event consumers run on their own thread' : `event consumers: ${placement}`);
          },
          (error: unknown) => {
            failed = true;
            throw error;
          },
        );
        // Awaited by `ready` when start-up begins it; a lazy start's failure is logged where it is begun.
        started.catch(() => undefined);
      });
      const ready = async () => {
        if (hosting.lazy && !hosting.starting() && (await workWaiting(config, storage, settings.consumers, logger))) hosting.begin();
        // A lazy thread that nothing began yet is begun by the first event.
        if (!hosting.lazy || hosting.starting()) await started;
      };
      return {
        api: { status },
        ready: ready(),
        health: [
          {
            name: 'consumers',
            status,
            ready: async () => {
              if (failed) throw new Error('the event consumers did not start');
              const now = status();
              if (now && now.placement !== 'none' && !now.running && !now.waiting) throw new Error('the event consumers are restarting');
            },
          },
        ],
        report: () => CONSUMER_NAMES.map((name) => ({ name, state: state(name) })),
        // Whether or not start-up got as far as waiting for the thread.
        close: () => hosting.close(),
      };
    },
  });
}

/** Whether a consumer that runs here has work before any event comes (see `ConsumerModule.workWaiting`); on doubt, yes. */
async function workWaiting(config: Config, storage: Storage, names: readonly string[], logger: Logger): Promise<boolean> {
  for (const module of consumerModules) {
    if (!names.includes(module.name) || !module.workWaiting) continue;
    try {
      if (await module.workWaiting({ config, storage })) return true;
    } catch (error) {
      logger.warn({ err: error, consumer: module.name }, 'could not tell whether the consumer has work waiting; starting the consumers');
      return true;
    }
  }
  return false;
}
