import { pino, type Logger } from 'pino';
import { loadConfig } from '../../src/config.js';
import type { NftSettings } from '../../src/nft/settings.js';
import { Storage } from '../../src/storage/database.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';

/** Shared bits of the NFT chain tests (not a test file). */

/** The nft settings as the environment `env` gives them (defaults otherwise). */
export function nftSettings(env: Record<string, string> = {}): NftSettings {
  return loadConfig(env).nft;
}

/** A logger whose lines are kept, to check what reaches the logs. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }), lines };
}

export interface Backend {
  name: string;
  open: (dataDir: string) => Promise<{ storage: Storage; drop: () => Promise<void> }>;
}

/** The embedded database, and PostgreSQL when it runs here: the tests where storage matters run on both. */
export async function backends(): Promise<Backend[]> {
  const list: Backend[] = [
    {
      name: 'the embedded database',
      open: async (dataDir) => {
        const storage = await Storage.open({ dataDir, thread: false });
        await storage.migrate();
        return { storage, drop: async () => undefined };
      },
    },
  ];
  if (await postgresAvailable()) {
    list.push({
      name: 'PostgreSQL',
      open: async (dataDir) => {
        const db = await createTestDatabase();
        const storage = await Storage.open({ dataDir, databaseUrl: db.url, thread: false });
        await storage.migrate();
        return { storage, drop: db.drop };
      },
    });
  }
  return list;
}
