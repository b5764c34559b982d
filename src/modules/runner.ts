// Starts the listed modules in order, each with its own settings and a logger named after it, and
// stops them in the reverse order. A module reaches another only through `use`, and only one listed
// before it: what a module uses is open for as long as the module runs.
import type { Config } from '../config.js';
import type { Capability } from '../startup-report.js';
import type { CoreServices, Deployment, HealthCheck, ModuleContext, Prepared, PrepareContext, SettingsKey, StartedModule, VezaModule } from './contract.js';

export type AnyModule = VezaModule<SettingsKey | null, unknown, Prepared | undefined>;
type Context = Parameters<AnyModule['start']>[0];

export class ModuleRunner {
  private readonly started = new Map<AnyModule, StartedModule<unknown>>();
  /** What `prepare` returned for modules not started yet (once started, a module closes its own). */
  private readonly prepared = new Map<AnyModule, Prepared | undefined>();
  /** Milliseconds each module's start took, with what listening then waited for its `ready`. */
  readonly startMs: Record<string, number> = {};

  constructor(
    private readonly modules: readonly AnyModule[],
    private readonly core: CoreServices,
    private readonly config: Config,
    private readonly deployment: Deployment,
  ) {
    const names = new Set<string>();
    for (const module of modules) {
      if (names.has(module.name)) throw new Error(`two modules are named ${module.name}`);
      names.add(module.name);
    }
  }

  /**
   * Begins every module's `prepare`, then starts the modules in order, registering each one's routes
   * once its start returns, then waits for the work they left running (`ready`). On a failure, closes
   * those started, in the reverse order, and what was prepared for the others, and throws.
   */
  async start(): Promise<void> {
    try {
      for (const module of this.modules) {
        // The context holds this module's own group of settings, the one its type names.
        if (module.prepare) this.prepared.set(module, module.prepare(this.prepareContext(module) as Context));
      }
      for (const module of this.modules) {
        const at = Date.now();
        const instance = await module.start(this.context(module) as Context, this.prepared.get(module));
        this.prepared.delete(module);
        this.started.set(module, instance);
        instance.routes?.();
        this.startMs[module.name] = Date.now() - at;
      }
      for (const [module, instance] of this.started) {
        if (!instance.ready) continue;
        const at = Date.now();
        await instance.ready;
        this.startMs[module.name] = (this.startMs[module.name] ?? 0) + Date.now() - at;
      }
    } catch (error) {
      await this.close(Date.now() + this.config.server.shutdownTimeoutMs);
      throw error;
    }
  }

  has(module: VezaModule<SettingsKey | null, unknown, Prepared | undefined>): boolean {
    return this.started.has(module as AnyModule);
  }

  /** A started module's API (what `startVeza` returns, and tests). */
  api<A>(module: VezaModule<SettingsKey | null, A, Prepared | undefined>): A {
    const instance = this.started.get(module as AnyModule);
    if (!instance) throw new Error(`module ${module.name} has not started`);
    return instance.api as A;
  }

  /** The health checks of the started modules, in the order they are listed. */
  health(): HealthCheck[] {
    return [...this.started.values()].flatMap((instance) => instance.health ?? []);
  }

  /** The start-up report's lines of the started modules, in the order they are listed. */
  report(): { name: string; state: Capability }[] {
    return [...this.started.values()].flatMap((instance) => instance.report?.() ?? []);
  }

  /** Closes the started modules in the reverse order; false if one of them failed (it is logged). */
  async close(deadline: number): Promise<boolean> {
    let ok = true;
    for (const [module, instance] of [...this.started].toReversed()) {
      this.started.delete(module);
      const began = Date.now();
      try {
        await instance.close?.(deadline);
        this.core.logger.debug({ module: module.name, ms: Date.now() - began }, 'module closed');
      } catch (error) {
        ok = false;
        this.core.logger.error({ err: error, module: module.name }, 'module failed to close');
      }
    }
    for (const [module, prepared] of [...this.prepared].toReversed()) {
      this.prepared.delete(module);
      await prepared?.close().catch((error: unknown) => this.core.logger.error({ err: error, module: module.name }, 'what a module prepared failed to close'));
    }
    return ok;
  }

  private prepareContext(module: AnyModule): PrepareContext<unknown> {
    return {
      ...this.core,
      logger: this.core.logger.child({ module: module.name }),
      settings: module.settings === null ? null : this.config[module.settings],
      deployment: this.deployment,
    };
  }

  private context(module: AnyModule): ModuleContext<unknown> {
    const position = this.modules.indexOf(module);
    return {
      ...this.prepareContext(module),
      use: <A>(other: VezaModule<SettingsKey | null, A, Prepared | undefined>): A => {
        const where = this.modules.indexOf(other as AnyModule);
        if (where < 0 || where >= position) throw new Error(`module ${module.name} uses ${other.name}, which ${where < 0 ? 'is not listed' : 'is not listed before it'}`);
        return this.api(other);
      },
    };
  }
}
