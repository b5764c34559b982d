// Restoring a version into the live session: the live document is changed, in one transaction, until
// its content equals the version's. Only what differs is written (a note nobody touched since keeps
// its identity and authorship); the transport and the chat stay as they are: a restore brings back
// the music, not the playback position or the conversation.
import * as Y from 'yjs';

/** The shared types a restore brings back (see the layout in src/studio/model.ts). */
export const RESTORED_ROOTS = { settings: 'map', tempo: 'array', timeSignatures: 'array', tracks: 'map', markers: 'map' } as const;

/** Changes `live` (inside the caller's transaction) so that its restored roots read as `target`'s. */
export function reconcile(live: Y.Doc, target: Y.Doc): void {
  for (const [name, kind] of Object.entries(RESTORED_ROOTS)) {
    if (kind === 'map') reconcileMap(live.getMap(name), target.getMap(name));
    else reconcileArray(live.getArray(name), target.getArray(name));
  }
}

function reconcileMap(live: Y.Map<unknown>, target: Y.Map<unknown>): void {
  for (const key of [...live.keys()]) if (!target.has(key)) live.delete(key);
  for (const [key, wanted] of target.entries()) {
    const current = live.get(key);
    if (wanted instanceof Y.Map) {
      if (current instanceof Y.Map) reconcileMap(current, wanted);
      else live.set(key, wanted.clone());
    } else if (wanted instanceof Y.Array) {
      if (current instanceof Y.Array) reconcileArray(current, wanted);
      else live.set(key, wanted.clone());
    } else if (wanted instanceof Y.AbstractType) {
      if (!(current instanceof Y.AbstractType) || JSON.stringify(current.toJSON()) !== JSON.stringify(wanted.toJSON())) live.set(key, (wanted as Y.Text).clone());
    } else if (current instanceof Y.AbstractType || !sameValue(current, wanted)) {
      live.set(key, copy(wanted));
    }
  }
}

/** Arrays are replaced whole when they differ (the studio's arrays are replaced whole by every client too). */
function reconcileArray(live: Y.Array<unknown>, target: Y.Array<unknown>): void {
  if (JSON.stringify(live.toJSON()) === JSON.stringify(target.toJSON())) return;
  live.delete(0, live.length);
  live.insert(0, target.toArray().map((item) => (item instanceof Y.AbstractType ? (item as Y.Map<unknown>).clone() : copy(item))));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((v, i) => v === b[i]);
  return typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && JSON.stringify(a) === JSON.stringify(b);
}

/** Plain values are copied, so the live document never shares an object with the version's. */
function copy(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  return typeof value === 'object' && value !== null ? structuredClone(value) : value;
}
