// What a module of the server is: a name, the settings it owns, a start that receives only the core
// services (storage, the events bus, HTTP and WebSocket routes, logs, metrics, traces), its routes,
// its health checks and a close. src/main.ts lists the modules in the order they start; they stop in
// the reverse order. docs/architecture.md walks through writing one.
import type { Tracer } from '@opentelemetry/api';
import type { Config } from '../config.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import type { Authenticator } from '../server/auth.js';
import type { HttpRouter } from '../server/http.js';
import type { HealthCheck } from '../server/routes.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { WebSocketRouter } from '../server/websocket.js';
import type { Capability } from '../startup-report.js';
import type { Storage } from '../storage/database.js';

/** The part of the configuration a module may own: one group of `config.ts`'s settings. */
export type SettingsKey = keyof Config;

/** The core services every module may use; nothing else of the process is reachable from here. */
export interface CoreServices {
  storage: Storage;
  /** The token verifier: modules sign tokens with it and add the admission of a token's tenant. */
  auth: Authenticator;
  bus: EventBus;
  http: HttpRouter;
  ws: WebSocketRouter;
  logger: Logger;
  metrics: ServerMetrics;
  tracer: Tracer;
}

/** Facts about this node that several modules need, whichever group of settings declares them. */
export interface Deployment {
  /** Absolute directory of the node's files (embedded database, journals, recordings, models). */
  dataDir: string;
  /** Set when nodes share Redis (the events bus, document streams, leaderboards). */
  redisUrl: string | undefined;
  /** The events stream's key; other Redis keys of the node are named after it. */
  eventsStream: string;
  /** Development mode (anyone signs in by name; example sessions are imported). */
  dev: boolean;
}

export interface PrepareContext<S> extends CoreServices {
  /** This module's own settings: its group of the configuration. */
  settings: S;
  deployment: Deployment;
}

export interface ModuleContext<S> extends PrepareContext<S> {
  /** The API of a module listed before this one (it has started). Throws for any other. */
  use<A>(module: VezaModule<SettingsKey | null, A, Prepared | undefined>): A;
}

/** What a module's `prepare` hands to its `start`. The runner closes it if start never comes. */
export interface Prepared {
  close(): Promise<void>;
}

export type { HealthCheck };

export interface StartedModule<A> {
  /** What later modules (`ctx.use`) and tests reach. */
  api: A;
  /** Registers the module's HTTP and WebSocket routes; runs once start has returned, before listening. */
  routes?(): void;
  health?: HealthCheck[];
  /** Lines of the start-up report: what the module does here, or why it is off and how to turn it on. */
  report?(): { name: string; state: Capability }[];
  /** Work begun in start that listening waits for (a thread loading). */
  ready?: Promise<void>;
  /** Stops the module by `deadline` (epoch ms). A rejection is logged and the shutdown goes on. */
  close?(deadline: number): Promise<void>;
}

type SettingsFor<K extends SettingsKey | null> = K extends SettingsKey ? Config[K] : null;

export interface VezaModule<K extends SettingsKey | null, A, P extends Prepared | undefined = undefined> {
  readonly name: string;
  /** The group of settings this module owns (`config[settings]`), or null when it owns none. */
  readonly settings: K;
  /**
   * Work that needs only the core, begun for every module before the first one starts: a thread that
   * loads while the modules listed before this one start. What it returns is handed to `start`.
   */
  prepare?(ctx: PrepareContext<SettingsFor<K>>): P;
  start(ctx: ModuleContext<SettingsFor<K>>, prepared: P): Promise<StartedModule<A>>;
}

/** Type helper: `defineModule({ name, settings: 'collab', start })` infers the settings and the API. */
export function defineModule<K extends SettingsKey | null, A, P extends Prepared | undefined = undefined>(module: VezaModule<K, A, P>): VezaModule<K, A, P> {
  return module;
}
