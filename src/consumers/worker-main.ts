// Inside the consumers thread: the database through a port of the storage worker, the events bus
// (this side of the in-process bus, or its own Redis connection), and the side modules' consumers.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { EventBus } from '../events/bus.js';
import { LinkedBus, type BusMethods } from '../events/linked-bus.js';
import { MemoryBus } from '../events/memory-bus.js';
import { DatabaseParkingLot } from '../events/parking.js';
import { RedisBus } from '../events/redis-bus.js';
import { createLogger } from '../log.js';
import { Storage, type StorageKind } from '../storage/database.js';
import type { ConsumerMethods, ConsumerName, HostMethods } from './contract.js';
import { PortLink } from './link.js';
import { runConsumers } from './runner.js';

export interface ConsumerWorkerData {
  /** The whole configuration: this thread hosts several modules' consumers (see `ConsumerContext`). */
  config: Config;
  names: ConsumerName[];
  storageKind: StorageKind;
  storagePort: MessagePort;
  hostPort: MessagePort;
  /** The other end of the main thread's bus; absent when the bus is Redis. */
  busPort: MessagePort | null;
}

const data = workerData as ConsumerWorkerData;
const { config } = data;
const logger = createLogger(config.server).child({ thread: 'consumers' });
// Keeps this thread alive until the main thread closes it.
const host = new PortLink<HostMethods, ConsumerMethods>(data.hostPort, (error, name) => logger.error({ err: error, call: name }, 'call from the main thread failed'), true);

let firstPort: MessagePort | null = data.storagePort;
const storage = Storage.overPort(data.storageKind, async () => {
  const port = firstPort ?? (await host.call('storage.port', null));
  firstPort = null;
  return port;
});
const busOptions = { logger, parking: new DatabaseParkingLot(storage), maxAttempts: config.events.maxAttempts };
let linked: LinkedBus | null = null;
const bus: EventBus = config.events.redisUrl
  ? await new RedisBus({ ...busOptions, url: config.events.redisUrl, stream: config.events.stream }).connect()
  : (linked = new LinkedBus(new MemoryBus(busOptions)));

const consumers = await runConsumers({ config, storage, bus, logger, host }, data.names);
// Only now does this side take events: every group is there to receive them.
if (linked && data.busPort) linked.connect(new PortLink<BusMethods, BusMethods>(data.busPort, (error) => logger.error({ err: error }, 'event from the main thread not delivered')));

host.handle('consumers.close', async () => {
  await consumers.close();
  await bus.close();
  await storage.close();
});
parentPort!.postMessage({ ready: true });
