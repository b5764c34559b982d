// `ws://HOST/hocuspocus`: @hocuspocus/provider clients (2.x and 3.x) on the same rooms as
// y-websocket clients. One socket carries many documents; each is opened by an auth message with
// its own token and becomes a peer of the document's room (see `DocumentPeer`). A bad message for
// one document refuses that document (auth PermissionDenied with the reason) and leaves the others
// open; only a socket whose messages cannot even be read is closed.
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { Logger } from '../log.js';
import { AuthError, canWrite, roleFor, type Principal } from '../server/auth.js';
import { CloseCode, HttpError } from '../server/errors.js';
import { QuotaExceeded } from '../server/quota.js';
import type { VezaSocket, WebSocketRouter } from '../server/websocket.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { authenticated, framed, HocuspocusType, namePrefix, permissionDenied, readHeader, readStateless, readToken, stateless, syncStatus, type HocuspocusHeader } from './hocuspocus-protocol.js';
import { MemoryBudgetReached } from './admission.js';
import type { CollabMetrics } from './metrics.js';
import { DocumentPeer, peerTopicOf, type UpdateVerdict } from './peer.js';
import { awarenessMessage, ProtocolError, readMessage, syncAnswer, syncStep1 } from './protocol.js';
import type { Room } from './room.js';
import type { CollabSettings } from './settings.js';

/** Documents one socket may hold open at once. */
export const MAX_DOCUMENTS_PER_SOCKET = 100;
/** Names refused on one socket whose late messages are dropped quietly (the oldest are forgotten). */
const REMEMBERED_REFUSALS = 256;
const MAX_QUEUED_WHILE_LOADING = 8 << 20;

type Peer = DocumentPeer<Room>;

interface HocuspocusSocket {
  host: string | undefined;
  documents: Map<string, Peer>;
  /** Documents refused on this socket: what the client sent for them before it saw the refusal is dropped. */
  refused: Set<string>;
  closed: boolean;
  /**
   * Closes the socket while it holds no document for `hocuspocusUnusedMs` (1008): its tokens come in
   * messages, so until one opens a document it is nobody's, and it would otherwise hold a place under
   * the address's and the node's connection caps for as long as it answers pings.
   */
  unused: NodeJS.Timeout | null;
}

type Socket = VezaSocket<HocuspocusSocket>;

export interface HocuspocusDeps {
  settings: CollabSettings;
  ws: WebSocketRouter;
  metrics: CollabMetrics;
  logger: Logger;
  /** The loaded room of a document, loading it if needed (the quota on new documents applies). */
  room(tenantId: string, docId: string): Promise<Room>;
  /** The room has no connections left (a peer left before it loaded). */
  idle(room: Room): void;
  /** Something was queued to a socket (the slow-client check looks only after traffic). */
  sent(): void;
  /** The document loads paced per user and the memory budget, as for /collab (`admit` throws an HttpError). */
  admission: {
    admit(principal: Principal, docKey: string): void;
    opened(principal: Principal, docKey: string): void;
    closed(principal: Principal, docKey: string): void;
  };
}

export class HocuspocusEndpoint {
  private readonly sockets = new Set<Socket>();

  constructor(private readonly deps: HocuspocusDeps) {}

  register(): void {
    const { settings, ws } = this.deps;
    ws.route<HocuspocusSocket>('/hocuspocus', {
      tokensInMessages: true,
      maxBackpressure: Math.min(2 ** 31 - 1, settings.maxDocBytes + 2 * settings.maxBackpressureBytes),
      closeOnBackpressureLimit: true,
      authorize: ({ headers }) => ({ host: headers.host, documents: new Map(), refused: new Set(), closed: false, unused: null }),
      open: (socket) => {
        this.sockets.add(socket);
        this.armUnused(socket);
      },
      message: (socket, data) => this.onMessage(socket, new Uint8Array(data)),
      close: (socket) => this.onClose(socket),
    });
    // A revoked key or a changed identity provider refuses the documents it opened.
    ws.closeAttachmentsWith((which, _code, reason) => {
      let closed = 0;
      for (const socket of this.sockets) {
        const state = socket.getUserData().state;
        for (const peer of [...state.documents.values()]) {
          if (!which(peer.principal)) continue;
          this.refuse(socket, peer, reason);
          closed++;
        }
      }
      return closed;
    });
  }

  private onMessage(socket: Socket, data: Uint8Array): void {
    const state = socket.getUserData().state;
    this.deps.metrics.messagesIn.inc();
    let header: HocuspocusHeader;
    try {
      header = readHeader(data);
    } catch {
      this.deps.metrics.malformed.inc({ kind: 'protocol' });
      socket.end(CloseCode.protocolError, 'malformed message: it does not start with a document name and a type');
      return;
    }
    const peer = state.documents.get(header.name);
    if (header.type === HocuspocusType.auth) return this.authenticate(socket, header, data, peer);
    if (peer) return this.fromPeer(socket, peer, header, data);
    // Sent before the client saw its document refused.
    if (state.refused.has(header.name)) return;
    this.refuseName(socket, header.name, 'missing token: authenticate the document before using it');
  }

  /** An auth message: a token opens the document (again, when the provider was created anew). */
  private authenticate(socket: Socket, header: HocuspocusHeader, data: Uint8Array, open: Peer | undefined): void {
    const state = socket.getUserData().state;
    let token: string | null;
    try {
      token = readToken(data, header.bodyAt);
    } catch {
      this.deps.metrics.malformed.inc({ kind: 'protocol' });
      return this.refuseName(socket, header.name, 'malformed auth message');
    }
    // Only servers send the other kinds.
    if (token === null) return;
    if (open) this.detach(socket, open);
    state.refused.delete(header.name);
    const docId = header.name;
    if (!DOC_ID_PATTERN.test(docId)) return this.refuseName(socket, docId, 'document name must be 1-200 characters of letters, digits and ._:-');
    if (state.documents.size >= MAX_DOCUMENTS_PER_SOCKET) return this.refuseName(socket, docId, `at most ${MAX_DOCUMENTS_PER_SOCKET} documents per connection`);
    let admitted;
    try {
      // Documents are the collab area: an API key's `collab:*` scopes decide as on /collab.
      admitted = this.deps.ws.admitToken(token === '' ? null : token, { host: state.host, path: `/collab/${docId}` }, (principal) => {
        const role = roleFor(principal, docId);
        if (!role) throw new AuthError(`no role on document ${docId}`, 403);
        this.deps.admission.admit(principal, `${principal.tenantId}/${docId}`);
        return role;
      });
    } catch (error) {
      if (error instanceof AuthError || error instanceof HttpError) return this.refuseName(socket, docId, error.message);
      throw error;
    }
    const { principal, quota, state: role } = admitted;
    const peer: Peer = new DocumentPeer(socket, docId, principal.tenantId, principal, role, quota);
    state.documents.set(docId, peer);
    if (state.unused) clearTimeout(state.unused);
    state.unused = null;
    this.deps.ws.tokenOpened(principal, quota);
    this.deps.admission.opened(principal, `${peer.tenantId}/${docId}`);
    this.deps.metrics.connections.inc({ role });
    socket.send(authenticated(peer.prefix, !canWrite(role)), true);
    this.load(socket, peer);
  }

  private load(socket: Socket, peer: Peer): void {
    this.deps.room(peer.tenantId, peer.docId).then(
      (room) => {
        if (peer.detached) {
          if (room.size === 0) this.deps.idle(room);
          return;
        }
        try {
          this.deps.ws.quotas.admit(peer.tenantId, 'participantsPerRoom', room.size);
        } catch (error) {
          if (!(error instanceof QuotaExceeded)) throw error;
          if (room.size === 0) this.deps.idle(room);
          return this.refuse(socket, peer, error.closeReason);
        }
        room.joinPeer(peer);
        const queued = peer.queued;
        peer.queued = [];
        for (const message of queued) {
          if (peer.detached) return;
          this.receive(socket, peer, room, message);
        }
      },
      (error: unknown) => {
        if (peer.detached) return;
        if (error instanceof QuotaExceeded || error instanceof MemoryBudgetReached) return this.refuse(socket, peer, error.closeReason);
        this.deps.logger.error({ err: error, doc: peer.docId, tenant: peer.tenantId }, 'document load failed');
        this.refuse(socket, peer, 'document could not be loaded; retry later');
      },
    );
  }

  private fromPeer(socket: Socket, peer: Peer, header: HocuspocusHeader, data: Uint8Array): void {
    // The tenant's message quotas, per document as per /collab socket.
    if (peer.quota !== null && !peer.quota.take(data.byteLength)) return this.refuse(socket, peer, peer.quota.refusal().closeReason);
    switch (header.type) {
      case HocuspocusType.sync:
      case HocuspocusType.syncReply:
      case HocuspocusType.awareness:
      case HocuspocusType.queryAwareness: {
        // What follows the name is the message as y-websocket frames it (a sync reply is a sync message).
        let message = data.subarray(header.typeAt);
        if (header.type === HocuspocusType.syncReply) {
          message = message.slice();
          message[0] = HocuspocusType.sync;
        }
        if (peer.room) return this.receive(socket, peer, peer.room, message);
        peer.queuedBytes += message.byteLength;
        if (peer.queuedBytes > MAX_QUEUED_WHILE_LOADING) return this.refuse(socket, peer, 'too much data while the document loads; retry');
        peer.queued.push(message.slice());
        return;
      }
      case HocuspocusType.stateless:
      case HocuspocusType.broadcastStateless:
        return this.stateless(socket, peer, header, data);
      case HocuspocusType.close:
        // The provider detached the document.
        return this.detach(socket, peer);
      default:
        // Types of newer providers: nothing in the document changes, so they are counted and skipped.
        this.deps.metrics.malformed.inc({ kind: 'type-unknown' });
    }
  }

  /**
   * A stateless message goes to the document's other Hocuspocus clients as a stateless message
   * (which providers emit as `stateless`); a broadcast one goes to the sender too. Only writers may
   * send them: a viewer's are dropped and counted like its writes.
   */
  private stateless(socket: Socket, peer: Peer, header: HocuspocusHeader, data: Uint8Array): void {
    let payload: string;
    try {
      payload = readStateless(data, header.bodyAt);
    } catch {
      this.deps.metrics.malformed.inc({ kind: 'protocol' });
      return this.refuse(socket, peer, 'malformed stateless message');
    }
    if (!canWrite(peer.role)) {
      this.deps.metrics.rejectedWrites.inc({ reason: 'read-only' });
      return;
    }
    const message = stateless(peer.prefix, payload);
    socket.publish(peerTopicOf(`${peer.tenantId}/${peer.docId}`), message, true);
    if (header.type === HocuspocusType.broadcastStateless) socket.send(message, true);
  }

  private receive(socket: Socket, peer: Peer, room: Room, message: Uint8Array): void {
    let verdict: UpdateVerdict | null;
    try {
      verdict = this.handle(peer, room, message);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.deps.metrics.malformed.inc({ kind: 'protocol' });
      return this.refuse(socket, peer, error.message.slice(0, 200));
    }
    switch (verdict) {
      case null:
        return;
      case 'accepted':
        socket.send(syncStatus(peer.prefix, true), true);
        return;
      case 'read-only':
        socket.send(syncStatus(peer.prefix, false), true);
        return;
      case 'too-big':
        return this.refuse(socket, peer, `document would exceed ${this.deps.settings.maxDocBytes} bytes; update not accepted`);
      case 'storage-busy':
        // The provider reconnects and sends the update again with its next sync.
        socket.end(CloseCode.tryAgainLater, 'storage unavailable; update not accepted, retry later');
        return;
    }
  }

  /**
   * Sync, awareness and presence queries, answered as the room answers y-websocket clients but behind
   * the document's name. Returns what became of an update (null for other messages); throws
   * ProtocolError for malformed input.
   */
  private handle(peer: Peer, room: Room, data: Uint8Array): UpdateVerdict | null {
    const message = readMessage(data);
    this.deps.sent();
    switch (message.type) {
      case 'sync-step1': {
        // Hocuspocus answers step 1 with step 2, then asks for the client's changes with its own step 1.
        const sent = peer.send(syncAnswer(room.doc, message.stateVector));
        peer.syncAllowance = Math.max(peer.syncAllowance, sent);
        this.deps.ws.egress(peer.tenantId, sent + peer.send(syncStep1(Y.encodeStateVector(room.doc))));
        return null;
      }
      case 'sync-step2':
      case 'update':
        return room.acceptUpdate(peer, peer.role, message.update);
      case 'awareness':
      {
        // Presence is bound to whoever first set it, as for y-websocket connections.
        let own: Uint8Array | null;
        try {
          own = room.ownAwareness(peer, message.update);
          if (own === null) return null;
          awarenessProtocol.applyAwarenessUpdate(room.awareness, own, peer);
        } catch (error) {
          throw new ProtocolError(`malformed awareness update: ${(error as Error).message}`);
        }
        const forwarded = own === message.update ? data : awarenessMessage(own);
        this.deps.ws.publish(room.topic, forwarded, true);
        peer.ws.publish(room.peerTopic, framed(peer.prefix, forwarded), true);
        this.deps.ws.egress(peer.tenantId, (room.size - 1) * forwarded.byteLength);
        return null;
      }
      case 'query-awareness':
        peer.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(room.awareness, [...room.awareness.getStates().keys()])));
        return null;
      case 'ignored':
        return null;
    }
  }

  /** Refuses an open document with a reason and detaches it; the socket's other documents stay. */
  private refuse(socket: Socket, peer: Peer, reason: string): void {
    if (peer.detached) return;
    this.detach(socket, peer);
    this.refuseName(socket, peer.docId, reason);
  }

  private refuseName(socket: Socket, name: string, reason: string): void {
    const state = socket.getUserData().state;
    if (state.closed) return;
    if (state.refused.size >= REMEMBERED_REFUSALS) state.refused.delete(state.refused.values().next().value!);
    state.refused.add(name);
    socket.send(permissionDenied(namePrefix(name), reason), true);
  }

  private detach(socket: Socket, peer: Peer): void {
    if (peer.detached) return;
    peer.detached = true;
    const state = socket.getUserData().state;
    if (state.documents.get(peer.docId) === peer) state.documents.delete(peer.docId);
    if (state.documents.size === 0 && !state.closed) this.armUnused(socket);
    this.deps.ws.tokenClosed(peer.principal, peer.quota);
    this.deps.admission.closed(peer.principal, `${peer.tenantId}/${peer.docId}`);
    this.deps.metrics.connections.dec({ role: peer.role });
    const room = peer.room;
    if (!room) return;
    if (!state.closed) socket.unsubscribe(room.peerTopic);
    room.leavePeer(peer);
  }

  private armUnused(socket: Socket): void {
    const state = socket.getUserData().state;
    if (state.unused) clearTimeout(state.unused);
    state.unused = setTimeout(() => {
      state.unused = null;
      if (!state.closed && state.documents.size === 0) socket.end(CloseCode.policyViolation, `no document opened for ${this.deps.settings.hocuspocusUnusedMs} ms; authenticate a document with a token`);
    }, this.deps.settings.hocuspocusUnusedMs);
    state.unused.unref();
  }

  private onClose(socket: Socket): void {
    const state = socket.getUserData().state;
    state.closed = true;
    if (state.unused) clearTimeout(state.unused);
    this.sockets.delete(socket);
    for (const peer of [...state.documents.values()]) this.detach(socket, peer);
  }

  /** The room was dropped after a failed update: its peers are refused (they reopen it to reload it). */
  closeRoom(room: Room, reason: string): void {
    for (const socket of this.sockets) {
      for (const peer of [...socket.getUserData().state.documents.values()]) if (peer.room === room) this.refuse(socket, peer, reason);
    }
  }

  /** As for /collab sockets: a queue past the limit closes the socket with 1013, beyond a sync answer still draining. */
  closeSlowConsumers(limit: number): void {
    for (const socket of this.sockets) {
      const buffered = socket.getBufferedAmount();
      const peers = socket.getUserData().state.documents.values();
      if (buffered <= limit) {
        for (const peer of peers) peer.syncAllowance = 0;
        continue;
      }
      let allowance = 0;
      for (const peer of peers) allowance = Math.max(allowance, peer.syncAllowance);
      if (buffered > limit + allowance) socket.end(CloseCode.tryAgainLater, 'client too slow to keep up; reconnect');
    }
  }
}
