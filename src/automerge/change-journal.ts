import { createHash } from 'node:crypto';
import { decodeChange, decodeSyncMessage, free, getHeads, hasHeads, init, load, loadIncremental, type Doc } from '@automerge/automerge';
import type { DocumentId } from '@automerge/automerge-repo';
import { ProtocolError } from './messages.js';

/** Key part that marks a journalled chunk among the repo's own `incremental` chunks. */
export const JOURNAL_PREFIX = 'journal-';

/** What one sync message brought, ready to be written before the repo applies it. */
export interface JournalEntry {
  documentId: DocumentId;
  /** The message's change chunks (or whole-document chunks) back to back: `loadIncremental` reads them as they are. */
  bytes: Uint8Array;
  /**
   * Hashes that show the entry applied: each change's own, or a document chunk's heads; null when a
   * chunk names none it can be checked by (a bundle of changes): the repo's compaction removes it
   * after the document's next load.
   */
  hashes: string[] | null;
  /** Storage key: automerge-repo's loader reads it with the document's other incremental chunks. */
  key: [DocumentId, 'incremental', string];
}

/**
 * The changes a client's sync message carries, as a journal entry, or null when it carries none.
 * Every chunk is decoded first (a change chunk checks its own checksum): a chunk that does not
 * decode is refused here, since once stored it would make the document fail to load.
 */
export function journalEntry(documentId: DocumentId, syncMessage: Uint8Array): JournalEntry | null {
  const { changes } = decodeSyncMessage(syncMessage);
  if (changes.length === 0) return null;
  let hashes: string[] | null = [];
  for (const chunk of changes) {
    const found = chunkHashes(chunk);
    hashes = found && hashes ? [...hashes, ...found] : null;
  }
  const bytes = concat(changes);
  const digest = createHash('sha256').update(bytes).digest('hex');
  return { documentId, bytes, hashes, key: [documentId, 'incremental', `${JOURNAL_PREFIX}${digest}`] };
}

/** Whether the document is known to hold everything the entry brought. */
export function applied(doc: Doc<unknown>, entry: Pick<JournalEntry, 'hashes'>): boolean {
  return entry.hashes !== null && hasHeads(doc, entry.hashes);
}

/**
 * automerge-repo names a snapshot by the hash of the heads it holds (its `headsHash`): the SHA-256
 * of the heads' hex strings back to back. Matching it says which state a stored snapshot is.
 */
export function headsHash(doc: Doc<unknown>): string {
  const hash = createHash('sha256');
  for (const head of getHeads(doc)) hash.update(head, 'utf8');
  return hash.digest('hex');
}

/** The hashes a chunk brings, null for a chunk that decodes but names none alone (a bundle whose dependencies are elsewhere). */
function chunkHashes(chunk: Uint8Array): string[] | null {
  try {
    return [decodeChange(chunk).hash];
  } catch {
    // not a change chunk: a whole document (automerge 3 sends one to a peer with nothing in common) or a bundle
  }
  let doc;
  try {
    doc = load(chunk);
    return getHeads(doc);
  } catch {
    // a bundle of changes that depend on others: it loads only incrementally
  } finally {
    if (doc) free(doc);
  }
  try {
    doc = loadIncremental(init(), chunk);
    return null;
  } catch {
    throw new ProtocolError('malformed sync message: a change does not decode');
  } finally {
    if (doc) free(doc);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
