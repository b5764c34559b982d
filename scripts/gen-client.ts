// `npm run gen:client`: starts a server in development mode (so the sign-in route exists) on a
// throwaway data directory, generates the typed client from its OpenAPI document and writes
// web/src/api-client.ts. The same generation runs in test/server/openapi.test.ts to check the
// committed file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { startVeza } from '../src/main.js';
import { generateClient } from '../src/server/client-gen.js';
import { openApiSpec } from '../src/server/openapi.js';
import { VERSION } from '../src/version.js';

const target = path.resolve(import.meta.dirname, '../web/src/api-client.ts');
const dataDir = mkdtempSync(path.join(tmpdir(), 'veza-gen-client-'));
try {
  const config = loadConfig({}, { host: '127.0.0.1', port: '0', 'log-level': 'silent', dev: 'true', 'data-dir': dataDir });
  const veza = await startVeza(config, { logger: pino({ level: 'silent' }) });
  const source = generateClient(openApiSpec(veza.server.http.described, VERSION));
  await veza.shutdown();
  writeFileSync(target, source);
  console.log(`wrote ${path.relative(process.cwd(), target)} (${source.length} characters)`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
