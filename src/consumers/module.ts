// The side modules' event consumers (recommendation signals, insights rollups and alerts, the
// gamification engine): on their own thread by default, so the realtime thread only publishes
// events. Listed after the modules whose memory they update, so that they stop before those close;
// their thread is begun in `prepare`, before any module starts, and loads while the others start.
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { LinkedBus } from '../events/linked-bus.js';
import { gamificationModule } from '../gamification/module.js';
import type { GamificationService } from '../gamification/service.js';
import { insightsModule } from '../insights/module.js';
import type { InsightsService } from '../insights/service.js';
import { defineModule } from '../modules/contract.js';
import type { Capability } from '../startup-report.js';
import { consumerPlacement, hostConsumers, type ConsumerHost, type ConsumerPlacement } from './host.js';
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
  starting: Promise<ConsumerHost>;
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
      const starting = hostConsumers(placement, {
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
      // Awaited once the modules have started; a failure before then is not an unhandled one.
      starting.catch(() => undefined);
      return { placement, starting, answer, close: async () => void (await (await starting.catch(() => null))?.close()) };
    },
    async start(ctx, hosting) {
      const { settings, logger } = ctx;
      const { placement, starting } = hosting;
      if (placement === 'none' && !settings.redisUrl) logger.warn('no event consumers run in this process and the events bus is in-process: side modules get no events');
      // The modules whose consumers run here, and only those, must be listed before this one.
      const gamification = settings.consumers.includes('gamification') ? ctx.use(gamificationModule) : null;
      const insights = settings.consumers.includes('insights') ? ctx.use(insightsModule) : null;
      hosting.answer({ gamification, insights });
      let host: ConsumerHost | null = null;
      // Rules changed through this node's API: the engine on the thread forgets its cached ones.
      gamification?.watchRules((tenantId) => host?.notify('gamification.rules-changed', tenantId));
      const status = () => host?.status() ?? null;
      const on = new Set<string>(settings.consumers);
      const where = placement === 'thread' ? 'consuming events on their own thread' : placement === 'main' ? 'consuming events on the main thread' : '';
      const state = (name: string): Capability =>
        on.has(name) ? { on: true, detail: where } : { on: false, reason: settings.redisUrl ? 'its events are consumed by other processes (VEZA_CONSUMERS)' : 'not in VEZA_CONSUMERS', fix: 'VEZA_CONSUMERS=all' };
      return {
        api: { status },
        ready: starting.then((started) => {
          host = started;
          logger.info({ consumers: settings.consumers, placement }, placement === 'thread' ? 'event consumers run on their own thread' : `event consumers: ${placement}`);
        }),
        health: [
          {
            name: 'consumers',
            status,
            ready: async () => {
              const now = status();
              if (now && now.placement !== 'none' && !now.running) throw new Error('the event consumers are restarting');
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
