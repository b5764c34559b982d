import pino from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { loadConfig, type Config } from '../../src/config.js';
import { startVeza, type StartOptions, type Veza } from '../../src/main.js';
import { existsSync, cpSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { tempDir } from './services.js';

export interface TestServer {
  veza: Veza;
  url: string;
  config: Config;
  stop(): Promise<void>;
}

/** An in-process server on port 0 with its own data directory; flags as on the CLI. */
export async function startTestServer(flags: Record<string, string> = {}, options: { env?: NodeJS.ProcessEnv; spanExporter?: SpanExporter; onConsumerThread?: StartOptions['onConsumerThread'] } = {}): Promise<TestServer> {
  const data = flags['data-dir'] ? null : tempDir('server');
  // Test mode's response check (vitest.config.ts) reaches in-process servers too.
  const env = { VEZA_CHECK_RESPONSES: process.env.VEZA_CHECK_RESPONSES, ...options.env };
  const config = loadConfig(env, { host: '127.0.0.1', port: '0', 'log-level': 'silent', ...(data ? { 'data-dir': data.dir } : {}), ...flags });
  if (data && !config.storage.databaseUrl) seedEmbeddedDatabase(data.dir);
  const veza = await startVeza(config, {
    logger: pino({ level: 'silent' }),
    ...(options.spanExporter ? { spanExporter: options.spanExporter } : {}),
    ...(options.onConsumerThread ? { onConsumerThread: options.onConsumerThread } : {}),
  });
  return {
    veza,
    config,
    url: `http://127.0.0.1:${veza.port}`,
    stop: async () => {
      await veza.shutdown();
      data?.remove();
    },
  };
}

/**
 * Puts a copy of the run's empty embedded database (test/global-setup.ts) into a new data directory,
 * so the server opens it as after initdb instead of running initdb itself. Nothing when the run has
 * none (the server then creates its own).
 */
function seedEmbeddedDatabase(dataDir: string): void {
  const template = inject('pgliteTemplate');
  if (template && existsSync(path.join(template, 'PG_VERSION'))) cpSync(template, path.join(dataDir, 'pglite'), { recursive: true });
}
