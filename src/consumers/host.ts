// Where this process runs the side modules' event consumers, and the main thread's handle on them:
// on their own thread (the default: the realtime thread then only publishes events), on the main
// thread (when the database client runs there too), or nowhere (other processes consume, through Redis).
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { EventBus } from '../events/bus.js';
import type { EventsSettings } from '../events/settings.js';
import type { LinkedBus } from '../events/linked-bus.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import type { ConsumerMethods, ConsumerName, HostMethods } from './contract.js';
import { localLinks } from './link.js';
import { runConsumers } from './runner.js';
import { ConsumerThread, type HostHandlers } from './thread.js';

export type ConsumerPlacement = 'thread' | 'main' | 'none';

export function consumerPlacement(settings: Pick<EventsSettings, 'consumers' | 'consumerThread'>, storage: Storage): ConsumerPlacement {
  if (settings.consumers.length === 0) return 'none';
  return settings.consumerThread && storage.threaded ? 'thread' : 'main';
}

export interface ConsumerStatus {
  placement: ConsumerPlacement;
  consumers: readonly ConsumerName[];
  running: boolean;
  /** On their thread: not started yet, waiting for the first event (`VEZA_CONSUMER_THREAD_START=first-event`). */
  waiting?: boolean;
}

export interface ConsumerHost {
  status(): ConsumerStatus;
  notify<K extends keyof ConsumerMethods & string>(name: K, payload: ConsumerMethods[K][0]): void;
  close(): Promise<void>;
}

export interface ConsumerHostOptions {
  /** The whole configuration, for the several modules whose consumers run here (see `ConsumerContext`). */
  config: Config;
  storage: Storage;
  bus: EventBus;
  /** The main thread's side of the in-process bus when the consumers run on their thread. */
  linkedBus: LinkedBus | null;
  logger: Logger;
  handlers: HostHandlers;
  onWorker?: (worker: Worker) => void;
}

export async function hostConsumers(placement: ConsumerPlacement, options: ConsumerHostOptions): Promise<ConsumerHost> {
  const { config, storage, bus, linkedBus, logger, handlers, onWorker } = options;
  const names = config.events.consumers;
  if (placement === 'none') {
    return { status: () => ({ placement, consumers: names, running: false }), notify: () => undefined, close: async () => undefined };
  }
  if (placement === 'thread') {
    const thread = await ConsumerThread.start({ config, names, storage, bus: linkedBus, logger, handlers, ...(onWorker ? { onWorker } : {}) });
    return { status: () => ({ placement, consumers: names, running: thread.running }), notify: (name, payload) => thread.notify(name, payload), close: () => thread.close() };
  }
  const [mainEnd, consumerEnd] = localLinks<ConsumerMethods, HostMethods>((error, name) => logger.error({ err: error, call: name }, 'consumer call failed'));
  for (const name of Object.keys(handlers) as (keyof HostMethods)[]) mainEnd.handle(name, handlers[name] as never);
  const running = await runConsumers({ config, storage, bus, logger, host: consumerEnd }, names);
  return { status: () => ({ placement, consumers: names, running: true }), notify: (name, payload) => mainEnd.notify(name, payload), close: () => running.close() };
}
