import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

/** y-websocket's message types (first varuint of every message). */
export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
/** Sync sub-messages (y-protocols/sync). */
export const SyncType = { step1: 0, step2: 1, update: 2 } as const;

export type ClientMessage =
  | { type: 'sync-step1'; stateVector: Uint8Array }
  | { type: 'sync-step2' | 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'query-awareness' }
  | { type: 'ignored'; messageType: number };

export class ProtocolError extends Error {}

/**
 * A message's type, its first varuint; -1 when there is none to read. The one place that looks at
 * it before a message is parsed: the service answers extension types (see CollabService
 * `registerMessageType`) and hands the rest to the document's room, whose `readMessage` parses them.
 */
export function messageTypeOf(data: Uint8Array): number {
  const first = data[0];
  if (first === undefined) return -1;
  if (first < 0x80) return first;
  try {
    return decoding.readVarUint(decoding.createDecoder(data));
  } catch {
    return -1;
  }
}

/**
 * Reads one client message. The arrays returned are views into `data`; copy what must outlive the
 * call (uWS reuses the buffer after the message handler returns).
 */
/**
 * Whether a client's update holds a struct of length 0 (an item whose string, JSON or `any` list is
 * empty, a deletion or GC of nothing): Yjs never writes one, yet integrates one without complaint,
 * and such a struct breaks the struct store of every peer that receives it ("Unexpected case" in
 * findIndexSS ever after). Reads the update's struct headers and content lengths in Yjs's v1
 * encoding and skips the rest without building anything (`Y.decodeUpdate` builds every item, which
 * costs the realtime thread about 10 % more per update); throws where the encoding is broken.
 */
export function hasEmptyItem(update: Uint8Array): boolean {
  const decoder = decoding.createDecoder(update);
  const skipString = () => void decoding.readUint8Array(decoder, decoding.readVarUint(decoder));
  const skipId = () => (decoding.readVarUint(decoder), decoding.readVarUint(decoder));
  const groups = decoding.readVarUint(decoder);
  for (let group = 0; group < groups; group++) {
    const structs = decoding.readVarUint(decoder);
    skipId(); // the client and the clock of its first struct
    for (let struct = 0; struct < structs; struct++) {
      const info = decoding.readUint8(decoder);
      const content = info & 0x1f;
      // GC and Skip: a length.
      if (content === 0 || content === 10) {
        if (decoding.readVarUint(decoder) === 0) return true;
        continue;
      }
      if (info & 0x80) skipId(); // origin
      if (info & 0x40) skipId(); // right origin
      if ((info & 0xc0) === 0) {
        // The parent: a root type's name or an item's id, then the key in a map.
        if (decoding.readVarUint(decoder) === 1) skipString();
        else skipId();
        if (info & 0x20) skipString();
      }
      switch (content) {
        case 1: // deleted: its length
          if (decoding.readVarUint(decoder) === 0) return true;
          break;
        case 2: // JSON: a count of strings
        case 8: {
          // any: a count of values
          const count = decoding.readVarUint(decoder);
          if (count === 0) return true;
          for (let i = 0; i < count; i++) {
            if (content === 2) skipString();
            else decoding.readAny(decoder);
          }
          break;
        }
        case 3: // binary
          skipString();
          break;
        case 4: {
          // a string: empty in UTF-8 exactly when it is empty
          const bytes = decoding.readVarUint(decoder);
          if (bytes === 0) return true;
          decoding.readUint8Array(decoder, bytes);
          break;
        }
        case 5: // embed (JSON)
          skipString();
          break;
        case 6: // format: key and JSON value
          skipString();
          skipString();
          break;
        case 7: {
          // a type: its kind, and the name of an XML element or hook
          const kind = decoding.readVarUint(decoder);
          if (kind === 3 || kind === 5) skipString();
          break;
        }
        case 9: // a subdocument: its guid and options
          skipString();
          decoding.readAny(decoder);
          break;
        default:
          throw new Error(`unknown content type ${content}`);
      }
    }
  }
  return false;
}

export function readMessage(data: Uint8Array): ClientMessage {
  try {
    const decoder = decoding.createDecoder(data);
    const type = decoding.readVarUint(decoder);
    switch (type) {
      case MessageType.sync: {
        const sub = decoding.readVarUint(decoder);
        const payload = decoding.readVarUint8Array(decoder);
        if (sub === SyncType.step1) return { type: 'sync-step1', stateVector: payload };
        if (sub === SyncType.step2) return { type: 'sync-step2', update: payload };
        if (sub === SyncType.update) return { type: 'update', update: payload };
        throw new ProtocolError(`unknown sync message ${sub}`);
      }
      case MessageType.awareness:
        return { type: 'awareness', update: decoding.readVarUint8Array(decoder) };
      case MessageType.queryAwareness:
        return { type: 'query-awareness' };
      default:
        // Auth (2) belongs to an optional y-websocket extension; unknown types may be newer
        // extensions. Neither changes the document, so they are counted and skipped.
        return { type: 'ignored', messageType: type };
    }
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(`malformed message: ${(error as Error).message}`);
  }
}

/**
 * A sync message written into one array of its exact size: every accepted update is framed once per
 * delivery round, and an encoder would allocate a scratch buffer and then the result (each an
 * ArrayBuffer that the young-generation collector must sweep).
 */
function syncMessage(sub: number, payload: Uint8Array): Uint8Array {
  let length = payload.byteLength;
  let lengthBytes = 1;
  while (length > 0x7f) {
    length >>>= 7;
    lengthBytes++;
  }
  const message = new Uint8Array(2 + lengthBytes + payload.byteLength);
  message[0] = MessageType.sync;
  message[1] = sub;
  let at = 2;
  for (length = payload.byteLength; length > 0x7f; length >>>= 7) message[at++] = 0x80 | (length & 0x7f);
  message[at++] = length;
  message.set(payload, at);
  return message;
}

export const syncStep1 = (stateVector: Uint8Array) => syncMessage(SyncType.step1, stateVector);
export const syncStep2 = (update: Uint8Array) => syncMessage(SyncType.step2, update);
export const updateMessage = (update: Uint8Array) => syncMessage(SyncType.update, update);

export function awarenessMessage(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.awareness);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

/** One entry of an awareness update: a client id, its clock, its state as JSON text ("null" removes it). */
export interface AwarenessEntry {
  clientId: number;
  clock: number;
  state: string;
}

/** The entries of an awareness update (y-protocols' encoding: a count, then id, clock, state JSON). */
export function awarenessEntries(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const entries: AwarenessEntry[] = [];
  for (let i = 0; i < count; i++) entries.push({ clientId: decoding.readVarUint(decoder), clock: decoding.readVarUint(decoder), state: decoding.readVarString(decoder) });
  return entries;
}

export function encodeAwarenessEntries(entries: readonly AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, entries.length);
  for (const entry of entries) {
    encoding.writeVarUint(encoder, entry.clientId);
    encoding.writeVarUint(encoder, entry.clock);
    encoding.writeVarString(encoder, entry.state);
  }
  return encoding.toUint8Array(encoder);
}

/**
 * Structs whose dependencies the server has not seen stay "pending" in Yjs, unvalidated, and Yjs
 * would include their raw bytes in every sync answer. Drops them; a client that really holds the
 * missing part sends it (with the rest) when it syncs again. Returns whether there were any.
 */
export function dropPending(doc: Y.Doc): boolean {
  const store = doc.store;
  if (store.pendingStructs === null && store.pendingDs === null) return false;
  store.pendingStructs = null;
  store.pendingDs = null;
  return true;
}

/** The sync step 2 answering a client's step 1: what `doc` holds beyond `stateVector`. Throws ProtocolError for a malformed vector. */
export function syncAnswer(doc: Y.Doc, stateVector: Uint8Array): Uint8Array {
  let diff: Uint8Array;
  try {
    diff = Y.encodeStateAsUpdate(doc, stateVector);
  } catch (error) {
    throw new ProtocolError(`malformed state vector: ${(error as Error).message}`);
  }
  return syncStep2(diff);
}
