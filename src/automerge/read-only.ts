import { decodeChange, decodeSyncMessage, encodeSyncMessage, free, getChangesMetaSince, hasHeads, load, type Doc } from '@automerge/automerge';
import { ProtocolError } from './messages.js';

const MAX_REFUSED_CHANGES = 10_000;

/**
 * What a read-only peer's sync messages may tell the server. Its changes are dropped, so they are
 * never applied, stored or forwarded. Dropping them is not enough: the peer keeps naming them in
 * its heads, and a server told of heads it can never get asks for them on every round (a message
 * storm, and the viewer stops receiving updates). So the heads are rewritten to those of the
 * server's changes the peer holds, as if it had never written; then both sides agree and go quiet,
 * and the viewer keeps receiving what editors write. One per connection.
 */
export class ReadOnlyFilter {
  /** Hash → dependencies of each change this connection had refused. */
  private readonly refused = new Map<string, string[]>();

  /**
   * The sync message as the server may see it, or null when it can pass unchanged. `doc` is the
   * server's copy when loaded; without it the heads are rewritten through the refused changes only.
   */
  rewrite(data: Uint8Array, doc: Doc<unknown> | undefined): { data: Uint8Array; refusedChanges: number } | null {
    const message = decodeSyncMessage(data);
    for (const chunk of message.changes) {
      for (const { hash, deps } of changesIn(chunk)) this.refused.set(hash, deps);
    }
    if (this.refused.size > MAX_REFUSED_CHANGES) throw new ProtocolError(`read-only connection sent more than ${MAX_REFUSED_CHANGES} changes`);
    const heads = this.serverHeads(message.heads, doc);
    if (message.changes.length === 0 && sameHeads(heads, message.heads)) return null;
    return { data: encodeSyncMessage({ ...message, heads, changes: [] }), refusedChanges: message.changes.length };
  }

  /** The peer's heads with each refused change replaced by its dependencies, minimal and sorted. */
  private serverHeads(heads: string[], doc: Doc<unknown> | undefined): string[] {
    const found = new Set<string>();
    const seen = new Set<string>();
    const pending = [...heads];
    while (pending.length > 0) {
      const hash = pending.pop()!;
      if (seen.has(hash)) continue;
      seen.add(hash);
      const deps = this.refused.get(hash);
      // A change both refused here and known to the server (another peer wrote the same) stays.
      if (deps && !(doc && hasHeads(doc, [hash]))) pending.push(...deps);
      else found.add(hash);
    }
    if (doc && found.size > 1) {
      // Replacing a change by its dependencies can name an ancestor of another head; heads never do.
      for (const hash of [...found]) {
        for (const other of found) {
          if (other !== hash && hasHeads(doc, [hash, other]) && !getChangesMetaSince(doc, [other]).some((c) => c.hash === hash)) {
            found.delete(hash);
            break;
          }
        }
      }
    }
    return [...found].sort();
  }
}

/**
 * Hash and dependencies of each change in one entry of a sync message's `changes`: a change chunk,
 * or (automerge 3 sends these to a peer that holds nothing in common) a whole document chunk.
 */
function changesIn(chunk: Uint8Array): { hash: string; deps: string[] }[] {
  try {
    const { hash, deps } = decodeChange(chunk);
    return [{ hash, deps }];
  } catch {
    // not a change chunk; a document chunk, or garbage
  }
  let doc;
  try {
    doc = load(chunk);
  } catch {
    throw new ProtocolError('malformed sync message: a change does not decode');
  }
  try {
    return getChangesMetaSince(doc, []).map(({ hash, deps }) => ({ hash, deps }));
  } finally {
    free(doc);
  }
}

function sameHeads(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((hash) => b.includes(hash));
}
