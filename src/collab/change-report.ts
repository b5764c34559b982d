// What a room reports as `session.updated`: the bytes each author had accepted and the shared types
// that changed since the last report.
import type * as Y from 'yjs';

export class ChangeReport {
  private readonly authorBytes = new Map<string, number>();
  private readonly changedTypes = new Set<string>();

  /** An update of `author` was accepted. */
  add(author: string, bytes: number): void {
    this.authorBytes.set(author, (this.authorBytes.get(author) ?? 0) + bytes);
  }

  /** The root types that a transaction of a client (or of the server) changed. */
  track(tr: Y.Transaction, share: Y.Doc['share']): void {
    if (typeof tr.origin !== 'object' || tr.origin === null) return;
    for (const [name, type] of share) {
      if (tr.changed.has(type) || tr.changedParentTypes.has(type)) this.changedTypes.add(name);
    }
  }

  /** One entry per author since the last call; the report starts empty again. */
  take(): { author: string; bytes: number; changed: string[] }[] {
    // Shared types are named by clients: the event carries at most 100 names of at most 200 characters.
    const changed = [...this.changedTypes].slice(0, 100).map((name) => name.slice(0, 200));
    const entries = [...this.authorBytes].map(([author, bytes]) => ({ author, bytes, changed }));
    this.authorBytes.clear();
    this.changedTypes.clear();
    return entries;
  }
}
