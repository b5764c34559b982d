import pino from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { startNode, type VezaNode } from '../../src/main.js';
import type { AnyModule } from '../../src/modules/runner.js';
import { tempDir } from './services.js';

export interface TestNode {
  node: VezaNode;
  url: string;
  config: Config;
  stop(): Promise<void>;
}

/**
 * The core (storage, the bus, HTTP and WebSocket routers) with only the listed modules, on port 0
 * with its own data directory; flags as on the CLI. `list` receives the loaded config (the consumers
 * module is built from it).
 */
export async function startModules(list: (config: Config) => readonly AnyModule[], flags: Record<string, string> = {}): Promise<TestNode> {
  const data = flags['data-dir'] ? null : tempDir('node');
  const config = loadConfig({}, { host: '127.0.0.1', port: '0', 'log-level': 'silent', ...(data ? { 'data-dir': data.dir } : {}), ...flags });
  const node = await startNode(config, list(config), { logger: pino({ level: 'silent' }) });
  return {
    node,
    config,
    url: `http://127.0.0.1:${node.port}`,
    stop: async () => {
      await node.shutdown();
      data?.remove();
    },
  };
}
