import type { Doc } from '@automerge/automerge';
import { NetworkAdapter, type DocumentId, type Message, type PeerId, type PeerMetadata } from '@automerge/automerge-repo';
import type { Logger } from '../log.js';
import { canWrite, roleFor, type Principal } from '../server/auth.js';
import { CloseCode } from '../server/errors.js';
import type { UpgradeContext, VezaSocket, WebSocketRoute } from '../server/websocket.js';
import { decodeClientMessage, encodeServerMessage, errorAnswer, isRepoMessage, peerAnswer, PROTOCOL_V1, ProtocolError, type JoinMessage, type RepoMessage } from './messages.js';
import { ReadOnlyFilter } from './read-only.js';

/** What each /automerge socket carries besides its principal. */
export interface AutomergeConnection {
  adapter: UwsServerAdapter;
  /** The peer id the client joined with; null until its join. */
  peerId: PeerId | null;
  /** Frames that arrived before the repo connected the adapter (it first reads its storage id). */
  waiting: Uint8Array[];
  waitingBytes: number;
  /** Size of the last message that alone passed the backpressure limit (a whole document's sync). */
  allowance: number;
  /** For a peer that may not write some document it synced: what it had refused. */
  readOnly: ReadOnlyFilter | null;
  /** Closes the socket when its token expires. */
  expiry: NodeJS.Timeout | null;
  /**
   * Per document (`""` for messages that name none): messages held back while one before them is
   * made durable, in arrival order. Documents do not wait for one another.
   */
  held: Map<string, RepoMessage[]>;
  closed: boolean;
}

export type AutomergeSocket = VezaSocket<AutomergeConnection>;

export type RefusalReason = 'malformed' | 'read-only' | 'no-role' | 'peer-id-taken' | 'too-big' | 'memory-budget';

/** A message the server will not take, and the close code that says why (the document's size, the memory budget). */
export class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

export interface AdapterOptions {
  logger: Logger;
  /** Bytes queued to one client before it is closed with 1013. */
  maxBackpressureBytes: number;
  onRefused?: (reason: RefusalReason) => void;
  /** The server's copy of a document, when loaded: lets a viewer's heads be rewritten exactly. */
  documentFor?: (documentId: DocumentId) => Doc<unknown> | undefined;
  /**
   * Before the repo sees a message: resolves once what it changes is durable (the repo answers a
   * sync with heads that include the changes, which the client takes as stored), or null when
   * nothing needs writing. `peerGone` is true when the connection closed meanwhile: the message is
   * then not handed to the repo, which has forgotten the peer, and the hook applies it itself.
   * A rejection closes the connection with 1011: the client keeps its changes and resends them.
   */
  intake?: (peerId: PeerId, message: RepoMessage) => { durable: Promise<void>; peerGone(): void } | null;
  /** When the socket's token expires (Unix seconds); the socket is closed with 4401 then. */
  expiresAt?: (principal: Principal) => number | undefined;
  /** A peer's connection closed (or was replaced). */
  onPeerLeft?: (peerId: PeerId) => void;
}

const MAX_WAITING_BYTES = 8 << 20;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * automerge-repo's server side of the WebSocket protocol, on our uWS sockets: the same messages and
 * bytes as NodeWSServerAdapter, plus what that adapter leaves to the application. A client speaks
 * only as the peer it joined as, to this server; it reaches only documents its token names (or `*`);
 * a viewer's changes are stripped before the repo sees them; anything malformed closes it with 1002.
 */
export class UwsServerAdapter extends NetworkAdapter {
  private readonly sockets = new Set<AutomergeSocket>();
  private readonly peers = new Map<PeerId, AutomergeSocket>();
  /** idle until the repo connects us (it first reads its storage id), stopped after its shutdown. */
  private state: 'idle' | 'connected' | 'stopped' = 'idle';
  /**
   * Ready once a first peer has joined, as the reference server adapter is ready at its first
   * connection: a repo looks up a document it lacks only after the network is ready, and with no
   * peer known yet it would conclude at once that nobody has it, while its clients are still
   * connecting. Waiting for the join (not the mere connection) closes the window between the two.
   */
  private joined = false;
  private markReady!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(private readonly options: AdapterOptions) {
    super();
  }

  isReady(): boolean {
    return this.state === 'connected' && this.joined;
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId;
    this.peerMetadata = peerMetadata ?? this.peerMetadata ?? {};
    this.state = 'connected';
    for (const ws of [...this.sockets]) {
      const conn = ws.getUserData().state;
      const waiting = conn.waiting;
      conn.waiting = [];
      conn.waitingBytes = 0;
      try {
        for (const frame of waiting) if (!conn.closed) this.handle(ws, frame);
      } catch (error) {
        // Outside uWS's handler, so its guard does not apply: one bad connection must not stop the rest.
        this.options.logger.error({ err: error }, 'automerge message handling failed');
        this.close(ws, CloseCode.internalError, 'internal error');
      }
    }
  }

  disconnect(): void {
    this.state = 'stopped';
    for (const ws of [...this.sockets]) this.close(ws, CloseCode.goingAway, 'server shutting down');
  }

  send(message: Message): void {
    const ws = this.peers.get(message.targetId);
    if (!ws || ws.getUserData().state.closed) return;
    this.write(ws, encodeServerMessage(message));
  }

  /** Whether the peer's token gives it any role on the document (the repo's access policy). */
  mayRead(peerId: PeerId, documentId: DocumentId): boolean {
    const ws = this.peers.get(peerId);
    return ws !== undefined && roleFor(ws.getUserData().principal, documentId) !== null;
  }

  accept(ws: AutomergeSocket): void {
    this.sockets.add(ws);
    const expiresAt = this.options.expiresAt?.(ws.getUserData().principal);
    if (expiresAt !== undefined) this.closeAt(ws, expiresAt * 1000);
    // After the repo's shutdown nothing would answer this client.
    if (this.state === 'stopped') this.close(ws, CloseCode.goingAway, 'server shutting down');
  }

  receive(ws: AutomergeSocket, data: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData().state;
    if (conn.closed) return;
    if (!isBinary) return this.refuse(ws, 'malformed', 'text frames are not part of the automerge protocol');
    // uWS lends the buffer for this call only; the repo keeps what it is given.
    const frame = new Uint8Array(data.slice(0));
    if (this.state === 'connected') return this.handle(ws, frame);
    conn.waitingBytes += frame.byteLength;
    if (conn.waitingBytes > MAX_WAITING_BYTES) return this.close(ws, CloseCode.tryAgainLater, 'too much data before the server was ready');
    conn.waiting.push(frame);
  }

  /** Arms the expiry (in steps: a timer waits at most about 24 days). */
  private closeAt(ws: AutomergeSocket, at: number): void {
    const conn = ws.getUserData().state;
    const wait = at - Date.now();
    if (wait <= 0) return this.close(ws, CloseCode.credentialRevoked, 'the token expired; reconnect with a new one');
    conn.expiry = setTimeout(() => {
      conn.expiry = null;
      if (!conn.closed) this.closeAt(ws, at);
    }, Math.min(wait, MAX_TIMER_MS));
    conn.expiry.unref();
  }

  release(ws: AutomergeSocket): void {
    const conn = ws.getUserData().state;
    if (conn.expiry) clearTimeout(conn.expiry);
    conn.closed = true;
    this.sockets.delete(ws);
    this.forget(conn);
  }

  private handle(ws: AutomergeSocket, frame: Uint8Array): void {
    const conn = ws.getUserData().state;
    let message;
    try {
      message = decodeClientMessage(frame);
    } catch (error) {
      if (error instanceof ProtocolError) return this.refuse(ws, 'malformed', error.message);
      throw error;
    }
    if (message.type === 'join') return this.join(ws, message);
    if (conn.peerId === null) return this.refuse(ws, 'malformed', `${message.type} before join`);
    if (message.senderId !== conn.peerId) return this.refuse(ws, 'malformed', 'senderId is not the peer this connection joined as');
    if (!isRepoMessage(message)) {
      if (message.type === 'error') this.options.logger.info({ peer: conn.peerId, message: message.message }, 'automerge client reported an error');
      return this.close(ws, CloseCode.normal, message.type === 'leave' ? 'goodbye' : 'client reported an error');
    }
    if (message.targetId !== this.peerId) return this.refuse(ws, 'malformed', 'targetId is not this server');
    try {
      const allowed = this.authorize(ws, message);
      if (allowed) this.deliver(ws, allowed);
    } catch (error) {
      this.refuseFor(ws, error);
    }
  }

  /** Closes a connection whose message was refused by a check; rethrows anything else. */
  private refuseFor(ws: AutomergeSocket, error: unknown): void {
    if (error instanceof ProtocolError) return this.refuse(ws, 'malformed', error.message);
    if (error instanceof Refusal) return this.refuse(ws, error.reason, error.message, error.code);
    throw error;
  }

  /** Hands a message to the repo in arrival order for its document, each after what it changes is durable. */
  private deliver(ws: AutomergeSocket, message: RepoMessage): void {
    const conn = ws.getUserData().state;
    const queue = 'documentId' in message ? message.documentId : '';
    const waiting = conn.held.get(queue);
    if (waiting) {
      waiting.push(message);
      return;
    }
    const pending = this.options.intake?.(message.senderId, message);
    if (!pending) return void this.emit('message', message);
    conn.held.set(queue, []);
    pending.durable.then(
      () => {
        if (conn.closed) pending.peerGone();
        else this.emit('message', message);
        const held = conn.held.get(queue) ?? [];
        conn.held.delete(queue);
        try {
          for (const next of held) {
            if (conn.closed) return;
            this.deliver(ws, next);
          }
        } catch (error) {
          this.refuseFor(ws, error);
        }
      },
      (error: unknown) => {
        conn.held.clear();
        if (error instanceof Refusal) return this.refuse(ws, error.reason, error.message, error.code);
        this.options.logger.error({ err: error, doc: 'documentId' in message ? message.documentId : undefined }, 'automerge changes could not be stored');
        this.close(ws, CloseCode.internalError, 'changes could not be stored; reconnect to resend them');
      },
    ).catch((error: unknown) => {
      // Outside uWS's handler, so its guard does not apply.
      this.options.logger.error({ err: error }, 'automerge message handling failed');
      this.close(ws, CloseCode.internalError, 'internal error');
    });
  }

  private join(ws: AutomergeSocket, message: JoinMessage): void {
    const conn = ws.getUserData().state;
    if (conn.peerId !== null) return this.refuse(ws, 'malformed', 'join on a connection that already joined');
    const versions = message.supportedProtocolVersions;
    if (versions !== undefined && !versions.includes(PROTOCOL_V1)) {
      this.write(ws, encodeServerMessage(errorAnswer(this.peerId!, 'unsupported protocol version', message.senderId)));
      return this.close(ws, CloseCode.protocolError, 'unsupported protocol version');
    }
    if (message.senderId === this.peerId) return this.refuse(ws, 'malformed', "peer id is the server's own");
    const existing = this.peers.get(message.senderId);
    if (existing) {
      const { principal } = ws.getUserData();
      // The same user reconnecting (a dropped link the server has not noticed yet) replaces the old
      // socket, as the reference server does; another user may not take over a peer id.
      if (!samePrincipal(existing.getUserData().principal, principal)) return this.refuse(ws, 'peer-id-taken', 'peer id is in use by another user');
      this.forget(existing.getUserData().state);
      this.close(existing, CloseCode.normal, 'replaced by a newer connection of the same peer');
    }
    conn.peerId = message.senderId;
    this.peers.set(message.senderId, ws);
    this.emit('peer-candidate', { peerId: message.senderId, peerMetadata: stripUndefined(message.peerMetadata ?? {}) });
    // After the repo has the peer (its handler runs synchronously), so a waiting lookup asks it.
    if (!this.joined) {
      this.joined = true;
      this.markReady();
    }
    this.write(ws, encodeServerMessage(peerAnswer(this.peerId!, this.peerMetadata ?? {}, message.senderId)));
  }

  /** The message as the repo may see it, or null (answered or dropped here). */
  private authorize(ws: AutomergeSocket, message: RepoMessage): RepoMessage | null {
    if (!('documentId' in message)) return message;
    const role = roleFor(ws.getUserData().principal, message.documentId);
    if (role === null) {
      this.options.onRefused?.('no-role');
      if (message.type === 'sync' || message.type === 'request') {
        this.send({ type: 'doc-unavailable', senderId: this.peerId!, targetId: message.senderId, documentId: message.documentId });
      }
      return null;
    }
    if ((message.type === 'sync' || message.type === 'request') && !canWrite(role)) {
      const conn = ws.getUserData().state;
      conn.readOnly ??= new ReadOnlyFilter();
      const rewritten = conn.readOnly.rewrite(message.data, this.options.documentFor?.(message.documentId));
      if (rewritten) {
        if (rewritten.refusedChanges > 0) this.options.onRefused?.('read-only');
        return { ...message, data: rewritten.data };
      }
    }
    return message;
  }

  private refuse(ws: AutomergeSocket, reason: RefusalReason, detail: string, code: number = CloseCode.protocolError): void {
    this.options.onRefused?.(reason);
    const conn = ws.getUserData().state;
    if (conn.closed) return;
    if (conn.peerId && this.peerId) this.write(ws, encodeServerMessage(errorAnswer(this.peerId, detail, conn.peerId)));
    this.close(ws, code, detail);
  }

  /**
   * A client that stops reading is closed rather than buffered without bound; it resyncs on
   * reconnect. One message may pass the limit alone (the sync that brings a whole document), and
   * closing while it drains would make a large document unreachable over a slow link.
   */
  private write(ws: AutomergeSocket, bytes: Uint8Array): void {
    const conn = ws.getUserData().state;
    const limit = this.options.maxBackpressureBytes;
    const buffered = ws.getBufferedAmount();
    if (buffered <= limit) conn.allowance = 0;
    else if (buffered > limit + conn.allowance) {
      // Not from inside the repo's send: closing tells the repo the peer left, which re-enters it.
      queueMicrotask(() => this.close(ws, CloseCode.tryAgainLater, 'client too slow to keep up; reconnect'));
      return;
    }
    if (bytes.byteLength > limit) conn.allowance = Math.max(conn.allowance, bytes.byteLength);
    ws.send(bytes, true);
  }

  private close(ws: AutomergeSocket, code: number, reason: string): void {
    const conn = ws.getUserData().state;
    if (conn.closed) return;
    conn.closed = true;
    if (conn.expiry) clearTimeout(conn.expiry);
    this.sockets.delete(ws);
    this.forget(conn);
    ws.end(code, reason.slice(0, 120));
  }

  /** Tells the repo the peer left, once, and only if this connection still speaks for it. */
  private forget(conn: AutomergeConnection): void {
    const peerId = conn.peerId;
    if (peerId === null) return;
    conn.peerId = null;
    if (this.peers.get(peerId)?.getUserData().state !== conn) return;
    this.peers.delete(peerId);
    this.emit('peer-disconnected', { peerId });
    this.options.onPeerLeft?.(peerId);
  }
}

/**
 * The WebSocket route of an automerge-repo server: `adapterFor` admits the client (throw an
 * HttpError to refuse) and names the adapter, hence the repo, it talks to.
 */
export function automergeRoute(adapterFor: (ctx: UpgradeContext) => UwsServerAdapter): WebSocketRoute<AutomergeConnection> {
  return {
    // The adapter closes slow clients itself (1013, with a reason); uWS must never drop a sync
    // message silently, which would leave the repo believing the client has it.
    maxBackpressure: 2 ** 31 - 1,
    authorize: (ctx) => ({ adapter: adapterFor(ctx), peerId: null, waiting: [], waitingBytes: 0, allowance: 0, readOnly: null, expiry: null, held: new Map(), closed: false }),
    open: (ws) => ws.getUserData().state.adapter.accept(ws),
    message: (ws, data, isBinary) => ws.getUserData().state.adapter.receive(ws, data, isBinary),
    close: (ws) => ws.getUserData().state.adapter.release(ws),
  };
}

function samePrincipal(a: Principal, b: Principal): boolean {
  return a.tenantId === b.tenantId && a.userId === b.userId;
}

/** CBOR carries `undefined` (the reference client sends `storageId: undefined`); keep what was set. */
function stripUndefined(metadata: { storageId?: string | undefined; isEphemeral?: boolean | undefined }): PeerMetadata {
  return Object.fromEntries(Object.entries(metadata).filter(([, v]) => v !== undefined)) as PeerMetadata;
}
