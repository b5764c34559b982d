// Where a running server listens, recorded in its data directory (`server.json`: the URL and the
// pid, no secret), so that a command of the same data directory can go through its API while the
// server holds the embedded database. Written once listening, removed at shutdown; a file left by a
// process that died is ignored.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { processAlive } from '../storage/directory-lock.js';

const FILE = 'server.json';

export interface ServerEndpoint {
  url: string;
  pid: number;
}

/** Records the URL; returns the removal (which leaves a file another process wrote since). */
export function writeEndpointFile(dataDir: string, url: string): () => void {
  const file = path.join(dataDir, FILE);
  writeFileSync(file, `${JSON.stringify({ url, pid: process.pid } satisfies ServerEndpoint)}\n`, { mode: 0o644 });
  return () => {
    try {
      if (readEndpointFile(dataDir)?.pid === process.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

/** The running server of this data directory, or null (none recorded, or its process is gone). */
export function readEndpointFile(dataDir: string): ServerEndpoint | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path.join(dataDir, FILE), 'utf8'));
  } catch {
    return null;
  }
  const { url, pid } = (value ?? {}) as Partial<ServerEndpoint>;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url) || typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return null;
  return processAlive(pid) ? { url, pid } : null;
}
