// One document opened by a Hocuspocus client on its socket: a peer of the document's room beside
// the room's y-websocket sockets. A socket may carry many; each has its own token, role and presence.
import type { DocumentRole, Principal } from '../server/auth.js';
import type { SocketMeter } from '../server/quota.js';
import type { VezaSocket } from '../server/websocket.js';
import { framed, namePrefix } from './hocuspocus-protocol.js';

/** The topic of a room's Hocuspocus peers (its messages behind the document's name). */
export const peerTopicOf = (key: string) => `hp:${key}`;

/** What became of a client's update: taken (or nothing to take), or refused and why. */
export type UpdateVerdict = 'accepted' | 'read-only' | 'too-big' | 'storage-busy';

/** What a peer sees of the room it joined. */
export interface PeerRoom {
  readonly peerTopic: string;
  leavePeer(peer: DocumentPeer): void;
}

export class DocumentPeer<R extends PeerRoom = PeerRoom> {
  /** Set once the document has loaded and the room took the peer. */
  room: R | null = null;
  /** Messages that arrived while the document was loading (copies, y-websocket framed). */
  queued: Uint8Array[] = [];
  queuedBytes = 0;
  /** Awareness client ids this peer announced; removed for everyone when it leaves. */
  readonly awarenessIds = new Set<number>();
  /** Bytes of the latest sync answer: the slow-client check allows that much extra while it drains. */
  syncAllowance = 0;
  detached = false;
  /** Every message of the document starts with its name. */
  readonly prefix: Uint8Array;

  constructor(
    readonly ws: VezaSocket<unknown>,
    readonly docId: string,
    readonly tenantId: string,
    readonly principal: Principal,
    readonly role: DocumentRole,
    readonly quota: SocketMeter | null,
  ) {
    this.prefix = namePrefix(docId);
  }

  get userId(): string {
    return this.principal.userId;
  }

  /** Sends a y-websocket-framed message as this document's; returns the bytes queued. */
  send(message: Uint8Array): number {
    const out = framed(this.prefix, message);
    this.ws.send(out, true);
    return out.byteLength;
  }
}
