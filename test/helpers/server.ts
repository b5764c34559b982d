import pino from 'pino';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { loadConfig, type Config } from '../../src/config.js';
import { startVeza, type StartOptions, type Veza } from '../../src/main.js';
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
