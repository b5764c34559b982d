// The example sessions shipped in sessions/: imported into the default tenant at start, so that a new
// user's first screen lists real sessions whose replay plays at once. Each is imported once; a session
// already there (imported before, or made by someone under that id) is left as it is.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { decodeBundle } from './bundle.js';
import { SessionTransferError, type SessionBundles } from './store.js';

export const EXAMPLE_SESSIONS_DIR = fileURLToPath(new URL('../../sessions', import.meta.url));
export const EXAMPLES_TENANT = 'default';

export interface ExampleSessions {
  /** Every example found, with whether this start imported it. */
  sessions: { id: string; title: string; imported: boolean }[];
  /** Files that are not valid bundles (reported, not imported). */
  refused: { file: string; reason: string }[];
}

export async function importExampleSessions(bundles: SessionBundles, logger: Logger, dir = EXAMPLE_SESSIONS_DIR): Promise<ExampleSessions> {
  const result: ExampleSessions = { sessions: [], refused: [] };
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.veza.json')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw error;
  }
  // Only what is missing is checked and imported: on a restart each file is read, not replayed.
  const texts = await Promise.all(files.map(async (file) => ({ file, text: await readFile(path.join(dir, file), 'utf8') })));
  const heads = texts.map(({ file, text }) => ({ file, text, head: peek(text) }));
  const present = await bundles.existing(EXAMPLES_TENANT, heads.flatMap((h) => (h.head ? [h.head.id] : [])));
  for (const { file, text, head } of heads) {
    if (head && present.has(head.id)) {
      result.sessions.push({ id: head.id, title: head.title, imported: false });
      continue;
    }
    try {
      const bundle = decodeBundle(text);
      try {
        await bundles.import(EXAMPLES_TENANT, bundle);
        result.sessions.push({ id: bundle.id, title: bundle.title, imported: true });
      } catch (error) {
        if (!(error instanceof SessionTransferError && error.status === 409)) throw error;
        result.sessions.push({ id: bundle.id, title: bundle.title, imported: false });
      }
    } catch (error) {
      result.refused.push({ file, reason: (error as Error).message });
      logger.warn({ file, err: error }, 'example session not imported');
    }
  }
  const imported = result.sessions.filter((s) => s.imported).map((s) => s.id);
  if (imported.length > 0) logger.info({ imported }, 'example sessions imported');
  return result;
}

/** A bundle's id and title without checking the rest (null when that much is not there). */
function peek(text: string): { id: string; title: string } | null {
  try {
    const { session } = JSON.parse(text) as { session?: { id?: unknown; title?: unknown } };
    return typeof session?.id === 'string' && typeof session.title === 'string' ? { id: session.id, title: session.title } : null;
  } catch {
    return null;
  }
}
