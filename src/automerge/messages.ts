import { decodeSyncMessage } from '@automerge/automerge';
import { cbor, isValidDocumentId, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo';
import { z } from 'zod';

/**
 * The wire format of @automerge/automerge-repo-network-websocket (its `messages.ts` and
 * `protocolVersion.ts`): CBOR maps, a `join` from the client answered by `peer`, then repo messages
 * both ways, `error` before a close. Everything a client sends is checked here before the repo sees
 * it: the repo assumes well-formed input.
 */
export const PROTOCOL_V1 = '1';

export class ProtocolError extends Error {}

const peerId = z.string().min(1).max(256).transform((id) => id as PeerId);
const documentId = z.string().max(128).refine(isValidDocumentId, 'not an automerge document id');
const binary = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected a byte string');
const addressed = { senderId: peerId, targetId: peerId };

const join = z.object({
  type: z.literal('join'),
  senderId: peerId,
  peerMetadata: z.object({ storageId: z.string().max(256).optional(), isEphemeral: z.boolean().optional() }).optional(),
  supportedProtocolVersions: z.array(z.string().max(32)).max(16).optional(),
});

const repoMessages = {
  sync: z.object({ type: z.literal('sync'), ...addressed, documentId, data: binary }),
  request: z.object({ type: z.literal('request'), ...addressed, documentId, data: binary }),
  ephemeral: z.object({ type: z.literal('ephemeral'), ...addressed, documentId, data: binary, count: z.number().int().nonnegative(), sessionId: z.string().max(256) }),
  'doc-unavailable': z.object({ type: z.literal('doc-unavailable'), ...addressed, documentId }),
  'remote-subscription-change': z.object({ type: z.literal('remote-subscription-change'), ...addressed, add: z.array(z.string().max(256)).optional(), remove: z.array(z.string().max(256)).optional() }),
  'remote-heads-changed': z.object({
    type: z.literal('remote-heads-changed'),
    ...addressed,
    documentId,
    newHeads: z.record(z.string().max(256), z.object({ heads: z.array(z.string().max(128)), timestamp: z.number() })),
  }),
};

/** Older clients (automerge-repo 1.x) say goodbye; any client may report an error before closing. */
const farewells = {
  leave: z.object({ type: z.literal('leave'), senderId: peerId }),
  error: z.object({ type: z.literal('error'), senderId: peerId, message: z.string().max(1024).optional() }),
};

const schemas = { join, ...repoMessages, ...farewells };
type Schemas = typeof schemas;
export type ClientMessage = { [K in keyof Schemas]: z.infer<Schemas[K]> }[keyof Schemas];
export type JoinMessage = z.infer<typeof join>;
export type RepoMessage = z.infer<(typeof repoMessages)[keyof typeof repoMessages]>;

/** Decodes and checks one frame; throws ProtocolError with what was wrong. */
export function decodeClientMessage(frame: Uint8Array): ClientMessage {
  let value: unknown;
  try {
    value = cbor.decode(frame);
  } catch {
    throw new ProtocolError('malformed message: not CBOR');
  }
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') throw new ProtocolError('malformed message: expected a CBOR map with a string "type"');
  if (!Object.hasOwn(schemas, type)) throw new ProtocolError(`unknown message type ${JSON.stringify(type.slice(0, 40))}`);
  const parsed = schemas[type as keyof Schemas].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError(`malformed ${type} message: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
  }
  if ((parsed.data.type === 'sync' || parsed.data.type === 'request') && !isSyncMessage(parsed.data.data)) {
    throw new ProtocolError(`malformed ${type} message: data is not an automerge sync message`);
  }
  if (parsed.data.type === 'ephemeral' && !isCbor(parsed.data.data)) throw new ProtocolError('malformed ephemeral message: data is not CBOR');
  return parsed.data;
}

export function isRepoMessage(message: ClientMessage): message is RepoMessage {
  return Object.hasOwn(repoMessages, message.type);
}

/** Encoded exactly as the reference server encodes (automerge-repo's cbor helper). */
export function encodeServerMessage(message: Message | PeerAnswer | ErrorAnswer): Uint8Array {
  return cbor.encode(message);
}

/** Field order as the reference server writes them, so the bytes match too. */
export function peerAnswer(senderId: PeerId, peerMetadata: PeerMetadata, targetId: PeerId): PeerAnswer {
  return { type: 'peer', senderId, peerMetadata, selectedProtocolVersion: PROTOCOL_V1, targetId };
}

export function errorAnswer(senderId: PeerId, message: string, targetId: PeerId): ErrorAnswer {
  return { type: 'error', senderId, message, targetId };
}

export interface PeerAnswer {
  type: 'peer';
  senderId: PeerId;
  peerMetadata: PeerMetadata;
  selectedProtocolVersion: string;
  targetId: PeerId;
}

export interface ErrorAnswer {
  type: 'error';
  senderId: PeerId;
  message: string;
  targetId: PeerId;
}

function isSyncMessage(data: Uint8Array): boolean {
  try {
    decodeSyncMessage(data);
    return true;
  } catch {
    return false;
  }
}

function isCbor(data: Uint8Array): boolean {
  try {
    cbor.decode(data);
    return true;
  } catch {
    return false;
  }
}
