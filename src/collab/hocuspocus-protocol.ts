// Hocuspocus's wire format: every message is varString(documentName), varUint(type), then the
// type's body. Sync, Awareness and QueryAwareness carry y-websocket's own bodies, so a room's
// message framed for Hocuspocus is the document's name followed by the same bytes.
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/** Message types of @hocuspocus/provider 2.x and 3.x (the first varUint after the document name). */
export const HocuspocusType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  /** The same as sync, without asking for another step 1 (sent by servers to each other). */
  syncReply: 4,
  stateless: 5,
  broadcastStateless: 6,
  close: 7,
  syncStatus: 8,
} as const;

/** Sub-types of an auth message. */
export const AuthType = { token: 0, permissionDenied: 1, authenticated: 2 } as const;

/** What the start of a message says: which document, which type, and where the type's body begins. */
export interface HocuspocusHeader {
  name: string;
  type: number;
  /** Offset of the byte after the type: the body. */
  bodyAt: number;
  /** Offset of the type: `data.subarray(typeAt)` is the message as y-websocket frames it. */
  typeAt: number;
}

/** Reads the document name and the type; throws when the message does not even hold them. */
export function readHeader(data: Uint8Array): HocuspocusHeader {
  const decoder = decoding.createDecoder(data);
  const name = decoding.readVarString(decoder);
  const typeAt = decoder.pos;
  const type = decoding.readVarUint(decoder);
  return { name, type, typeAt, bodyAt: decoder.pos };
}

/** The prefix every message of a document starts with: its name as a varString. */
export function namePrefix(name: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, name);
  return encoding.toUint8Array(encoder);
}

/** A y-websocket-framed message (type and body) behind a document's name prefix. */
export function framed(prefix: Uint8Array, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.byteLength + message.byteLength);
  out.set(prefix, 0);
  out.set(message, prefix.byteLength);
  return out;
}

function message(prefix: Uint8Array, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeUint8Array(encoder, prefix);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

/** Tells the provider its scope on the document. */
export const authenticated = (prefix: Uint8Array, readOnly: boolean) =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.auth);
    encoding.writeVarUint(e, AuthType.authenticated);
    encoding.writeVarString(e, readOnly ? 'readonly' : 'read-write');
  });

/** Refuses the document, with the reason the provider hands to `onAuthenticationFailed`. */
export const permissionDenied = (prefix: Uint8Array, reason: string) =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.auth);
    encoding.writeVarUint(e, AuthType.permissionDenied);
    encoding.writeVarString(e, reason);
  });

/** Whether the update of a sync step 2 or update message was applied (the provider counts its unsynced changes down on true). */
export const syncStatus = (prefix: Uint8Array, applied: boolean) =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.syncStatus);
    encoding.writeVarUint(e, applied ? 1 : 0);
  });

/** A stateless payload, which the provider emits as `stateless`. */
export const stateless = (prefix: Uint8Array, payload: string) =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.stateless);
    encoding.writeVarString(e, payload);
  });

/** The token of an auth message's body; null for an auth message of another sub-type. */
export function readToken(data: Uint8Array, bodyAt: number): string | null {
  const decoder = decoding.createDecoder(data);
  decoder.pos = bodyAt;
  if (decoding.readVarUint(decoder) !== AuthType.token) return null;
  return decoding.readVarString(decoder);
}

/** The payload of a stateless message's body. */
export function readStateless(data: Uint8Array, bodyAt: number): string {
  const decoder = decoding.createDecoder(data);
  decoder.pos = bodyAt;
  return decoding.readVarString(decoder);
}
