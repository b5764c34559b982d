// The main thread's side of the consumers thread: starts it with a port of the storage worker, the
// other end of the in-process bus and a link for calls both ways; restarts it if it dies; closes it
// at shutdown after what it holds is handled.
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { LinkedBus, BusMethods } from '../events/linked-bus.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import { WORKER_YOUNG_GENERATION_MB } from '../storage/worker-dialect.js';
import type { ConsumerMethods, ConsumerName, HostMethods } from './contract.js';
import { PortLink, type Link } from './link.js';
import type { ConsumerWorkerData } from './worker-main.js';

export type HostHandlers = { [K in keyof HostMethods]: (payload: HostMethods[K][0]) => HostMethods[K][1] | Promise<HostMethods[K][1]> };

export interface ConsumerThreadOptions {
  /** The whole configuration, sent to the thread, whose consumers belong to several modules (see `ConsumerContext`). */
  config: Config;
  names: readonly ConsumerName[];
  storage: Storage;
  /** The main thread's side of the in-process bus; null when the bus is Redis (each side connects itself). */
  bus: LinkedBus | null;
  logger: Logger;
  handlers: HostHandlers;
  /** Called with each thread once it runs (tests use it to end one). */
  onWorker?: (worker: Worker) => void;
}

const RESTART_DELAY_MS = 1000;

export class ConsumerThread {
  private worker: Worker | null = null;
  private link: Link<ConsumerMethods, HostMethods> | null = null;
  private closing = false;
  private restarts = 0;

  private constructor(private readonly options: ConsumerThreadOptions) {}

  static async start(options: ConsumerThreadOptions): Promise<ConsumerThread> {
    const thread = new ConsumerThread(options);
    await thread.spawn();
    return thread;
  }

  /** Whether the consumers are running now (for /readyz). */
  get running(): boolean {
    return this.worker !== null;
  }

  /** Tells the consumers something; dropped while the thread restarts. */
  notify<K extends keyof ConsumerMethods & string>(name: K, payload: ConsumerMethods[K][0]): void {
    this.link?.notify(name, payload);
  }

  private async spawn(): Promise<void> {
    const { config, names, storage, bus, logger, handlers } = this.options;
    const storagePort = await storage.attachPort();
    if (!storagePort) throw new Error('the consumers thread needs the storage thread');
    const onError = (error: unknown, name: string) => logger.error({ err: error, call: name }, 'call from the consumers thread failed');
    const hostChannel = new MessageChannel();
    const link = new PortLink<ConsumerMethods, HostMethods>(hostChannel.port1, onError);
    for (const name of Object.keys(handlers) as (keyof HostMethods)[]) link.handle(name, handlers[name] as never);
    const busChannel = bus ? new MessageChannel() : null;
    if (bus && busChannel) bus.connect(new PortLink<BusMethods, BusMethods>(busChannel.port1, (error) => logger.error({ err: error }, 'event from the consumers thread not delivered')));
    const workerData: ConsumerWorkerData = { config, names: [...names], storageKind: storage.kind, storagePort, hostPort: hostChannel.port2, busPort: busChannel?.port2 ?? null };
    const worker = new Worker(new URL('./consumer-worker.mjs', import.meta.url), {
      workerData,
      // A small young generation, as the storage thread's (see there): this thread's work is batched and off the realtime path.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      transferList: [storagePort, hostChannel.port2, ...(busChannel ? [busChannel.port2] : [])],
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the consumers thread exited while starting (code ${code})`)));
    });
    worker.unref();
    this.worker = worker;
    this.link = link;
    this.options.onWorker?.(worker);
    worker.on('error', (error) => logger.error({ err: error }, 'the consumers thread failed'));
    worker.once('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.link = null;
      link.close();
      if (this.closing) return;
      // Events published meanwhile reach only the main thread's groups: the in-process bus keeps nothing.
      logger.error({ code, restarts: ++this.restarts }, 'the consumers thread stopped; starting it again');
      setTimeout(() => void this.spawn().catch((error: unknown) => logger.error({ err: error }, 'the consumers thread did not start again')), RESTART_DELAY_MS).unref();
    });
  }

  /** Stops taking events, lets the consumers finish what they hold, then ends the thread. */
  async close(): Promise<void> {
    this.closing = true;
    const { worker, link } = this;
    if (!worker || !link) return;
    try {
      await link.call('consumers.close', null);
    } finally {
      this.worker = null;
      link.close();
      await worker.terminate();
    }
  }
}
