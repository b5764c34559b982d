// What a side module's event consumer is given and what it gives back. The consumers run on their
// own thread in the embedded default (or on the main thread, when the database client runs there),
// and in their own processes when the bus is Redis; they reach the main thread's memory (the
// leaderboards it serves, the dashboards it pushes) only through `host`.
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { EventBus } from '../events/bus.js';
import type { VezaEvent } from '../events/catalog.js';
import type { LeaderboardUpdate } from '../gamification/leaderboards.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import type { Link } from './link.js';
import type { ConsumerName } from './names.js';

export { CONSUMER_NAMES, type ConsumerName } from './names.js';

/** What consumers ask of the main thread. */
export type HostMethods = {
  /** A new port of the storage worker (the one before closed: the worker restarted). */
  'storage.port': [null, MessagePort];
  /** Leaderboard moves the gamification engine computed; the main thread's store applies them. */
  'gamification.boards': [LeaderboardUpdate[], void];
  /** Events the insights writer stored: open creator dashboards move with them. */
  'insights.stored': [VezaEvent[], void];
};

/** What the main thread tells consumers. */
export type ConsumerMethods = {
  /** A tenant's rules or quests changed through the API: forget the cached ones. */
  'gamification.rules-changed': [string, void];
  /** Stop consuming (what is in hand finishes) and release everything. */
  'consumers.close': [null, void];
};

export type HostLink = Link<HostMethods, ConsumerMethods>;

export interface ConsumerContext {
  /**
   * The whole configuration: the consumers host several modules (and cross the thread boundary as
   * one message), so each module's consumer reads its own group here and hands its service only that.
   */
  config: Config;
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  host: HostLink;
}

export interface RunningConsumer {
  /** Stops taking events, finishes what it holds. */
  close(): Promise<void>;
}

export interface ConsumerModule {
  name: ConsumerName;
  start(ctx: ConsumerContext): Promise<RunningConsumer>;
  /**
   * Whether it has work of its own before any event comes (what a crash left unpublished, alerts to
   * check on a timer). Asked on the main thread at start-up: the consumers' thread, which otherwise
   * starts with the first event, then starts at once.
   */
  workWaiting?(ctx: Pick<ConsumerContext, 'config' | 'storage'>): Promise<boolean>;
}
