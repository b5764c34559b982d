import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { createEvent, type EventPayload, type VezaEvent } from '../events/catalog.js';
import { canWrite, type DocumentRole } from '../server/auth.js';
import { CloseCode } from '../server/errors.js';
import type { VezaSocket } from '../server/websocket.js';
import type { LoadedDocument } from './document-store.js';
import { awarenessMessage, dropPending, hasEmptyItem, ProtocolError, readMessage, syncAnswer, syncStep1, updateMessage } from './protocol.js';
import { estimateDocumentBytes, structCount } from './admission.js';
import { framed, namePrefix } from './hocuspocus-protocol.js';
import { DocumentPeer, peerTopicOf, type UpdateVerdict } from './peer.js';
import { PresenceCheck } from './presence-check.js';
import { PresenceOwners, type AwarenessOwner } from './presence-owners.js';
import { ChangeReport } from './change-report.js';
import type { ClusterRoom } from './cluster.js';
import type { RoomDeps as Deps } from './room-deps.js';

export type RoomDeps = Deps<Room>;

/** Who set an awareness entry: a y-websocket connection or a Hocuspocus peer. */

/** Per-connection state, set at upgrade. */
export interface CollabConnection {
  tenantId: string;
  docId: string;
  userId: string;
  role: DocumentRole;
  room: Room | null;
  /** Messages that arrived while the document was loading (copies). */
  queued: Uint8Array[];
  queuedBytes: number;
  /** Awareness client ids this connection announced; removed for everyone when it leaves. */
  awarenessIds: Set<number>;
  /** Bytes of the latest sync answer: the slow-client check allows that much extra while it drains. */
  syncAllowance: number;
  closed: boolean;
}

export type CollabSocket = VezaSocket<CollabConnection>;

/** Origin of updates that another node accepted. */
const REMOTE = Symbol('remote');

/** Origin of changes the server makes itself, on behalf of a user. */
class ServerEdit {
  constructor(readonly userId: string) {}
}

/** The room cannot take a change now (storage over its bound, document too large). */
export class RoomBusyError extends Error {}


const isEmptyUpdate = (u: Uint8Array) => u.byteLength === 2 && u[0] === 0 && u[1] === 0;

/**
 * One loaded document and its connections. An accepted update is applied to the server's Y.Doc at
 * once; what integrated is forwarded to the other connections and handed to the group-commit writer.
 */
export class Room implements ClusterRoom {
  readonly doc = new Y.Doc();
  readonly awareness = new awarenessProtocol.Awareness(this.doc);
  readonly topic: string;
  /** Hocuspocus peers' sockets subscribe here (the room's messages behind the document's name). */
  readonly peerTopic: string;
  readonly openedAt = Date.now();
  private readonly sockets = new Set<CollabSocket>();
  private readonly peers = new Set<DocumentPeer>();
  private readonly peerPrefix: Uint8Array;
  private readonly usersOnline = new Map<string, number>();
  private readonly presenceOwners: PresenceOwners;
  private docBytes: number;
  private lastPersistedId: string | null;
  private sinceSnapshot: number;
  private snapshotting: Promise<void> | null = null;
  private readonly report = new ChangeReport();
  private unreported = false;
  private lastTransaction: Y.Transaction | null = null;
  private readonly presenceCheck = new PresenceCheck(this.awareness);
  private updateCount = 0;
  private destroyed = false;

  constructor(
    readonly key: string,
    readonly tenantId: string,
    readonly docId: string,
    loaded: LoadedDocument,
    private readonly deps: RoomDeps,
  ) {
    this.topic = `collab:${key}`;
    this.peerTopic = peerTopicOf(key);
    this.peerPrefix = namePrefix(docId);
    Y.applyUpdate(this.doc, loaded.state);
    this.docBytes = loaded.state.byteLength;
    this.lastPersistedId = loaded.lastId;
    this.sinceSnapshot = loaded.tail;
    this.presenceOwners = new PresenceOwners(this.doc.clientID, (count) => deps.metrics.foreignPresence.inc(count));
    // y-protocols checks every 3 s for every document, whether or not anyone is present in it; the
    // room checks only while some presence is there to renew or expire.
    clearInterval(this.awareness._checkInterval);
    this.awareness.setLocalState(null);
    this.awareness.on('update', this.trackAwareness);
    this.awareness.on('update', this.announceOwnPresence);
    this.doc.on('update', this.onDocUpdate);
    this.doc.on('beforeTransaction', this.rememberTransaction);
    this.doc.on('afterTransaction', this.trackChanges);
  }

  /** Connections: y-websocket sockets and Hocuspocus peers. */
  get size(): number {
    return this.sockets.size + this.peers.size;
  }

  /** What the loaded document costs in memory, estimated from its structs and encoded size. */
  get memoryBytes(): number {
    return estimateDocumentBytes(this.docBytes, structCount(this.doc));
  }

  /**
   * The server's own awareness entry (who talks in the session's voice room, say), under the room
   * doc's client id; y-protocols renews it every 15 s so clients keep it, and null removes it.
   */
  setServerPresence(state: Record<string, unknown> | null): void {
    if (!this.destroyed) this.awareness.setLocalState(state);
  }

  join(ws: CollabSocket): void {
    const conn = ws.getUserData().state;
    this.sockets.add(ws);
    conn.room = this;
    ws.subscribe(this.topic);
    ws.send(syncStep1(Y.encodeStateVector(this.doc)), true);
    if (this.awareness.getStates().size > 0) {
      ws.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])), true);
    }
    this.deps.sent();
    this.userJoined(conn.userId);
  }

  leave(ws: CollabSocket): void {
    if (!this.sockets.delete(ws) || this.destroyed) return;
    const conn = ws.getUserData().state;
    this.userLeft(conn, conn.awarenessIds);
  }

  /** A Hocuspocus client opened the document (it starts the sync itself); the room's presence goes to it at once. */
  joinPeer(peer: DocumentPeer): void {
    this.peers.add(peer);
    peer.room = this;
    peer.ws.subscribe(this.peerTopic);
    if (this.awareness.getStates().size > 0) {
      peer.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])));
      this.deps.sent();
    }
    this.userJoined(peer.userId);
  }

  /** The peer left; the caller unsubscribes a socket still open. */
  leavePeer(peer: DocumentPeer): void {
    if (!this.peers.delete(peer) || this.destroyed) return;
    this.userLeft(peer, peer.awarenessIds);
  }

  private userJoined(userId: string): void {
    const online = (this.usersOnline.get(userId) ?? 0) + 1;
    this.usersOnline.set(userId, online);
    if (online === 1) this.emit('presence.joined', userId, { sessionId: this.docId, userId });
  }

  private userLeft(owner: AwarenessOwner, awarenessIds: Set<number>): void {
    // Entries the same user's newer connection took over stay.
    const ids = this.presenceOwners.release(owner, awarenessIds);
    if (ids.length > 0) {
      awarenessProtocol.removeAwarenessStates(this.awareness, ids, 'leave');
      this.broadcast(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids)));
      this.deps.sent();
    }
    const { userId } = owner;
    const online = (this.usersOnline.get(userId) ?? 1) - 1;
    if (online > 0) this.usersOnline.set(userId, online);
    else {
      this.usersOnline.delete(userId);
      this.emit('presence.left', userId, { sessionId: this.docId, userId });
    }
    if (this.size === 0) this.deps.onEmpty(this);
  }

  /** Sends to every connection: the y-websocket topic, and the peer topic while there are peers. */
  private broadcast(message: Uint8Array): void {
    this.deps.publish(this.topic, message);
    if (this.peers.size > 0) this.deps.publish(this.peerTopic, framed(this.peerPrefix, message));
  }

  /** Handles one message; throws ProtocolError for malformed input (the caller closes with 1002). */
  receive(ws: CollabSocket, data: Uint8Array): void {
    const conn = ws.getUserData().state;
    const message = readMessage(data);
    // Any message may be answered or forwarded.
    this.deps.sent();
    switch (message.type) {
      case 'sync-step1': {
        const answer = syncAnswer(this.doc, message.stateVector);
        conn.syncAllowance = Math.max(conn.syncAllowance, answer.byteLength);
        ws.send(answer, true);
        this.deps.egress?.(this.tenantId, answer.byteLength);
        return;
      }
      case 'sync-step2':
      case 'update': {
        const verdict = this.acceptUpdate(ws, conn.role, message.update);
        if (verdict === 'too-big') ws.end(CloseCode.tooBig, `document would exceed ${this.deps.maxDocBytes} bytes`);
        else if (verdict === 'storage-busy') ws.end(CloseCode.tryAgainLater, 'storage unavailable; update not accepted, retry later');
        return;
      }
      case 'awareness': {
        let own: Uint8Array | null;
        try {
          own = this.ownAwareness(conn, message.update);
          if (own === null) return;
          awarenessProtocol.applyAwarenessUpdate(this.awareness, own, ws);
        } catch (error) {
          throw new ProtocolError(`malformed awareness update: ${(error as Error).message}`);
        }
        const forwarded = own === message.update ? data : awarenessMessage(own);
        ws.publish(this.topic, forwarded, true);
        if (this.peers.size > 0) this.deps.publish(this.peerTopic, framed(this.peerPrefix, forwarded));
        this.deps.egress?.(this.tenantId, (this.size - 1) * forwarded.byteLength);
        return;
      }
      case 'query-awareness':
        ws.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])), true);
        return;
      case 'ignored':
        this.deps.metrics.malformed.inc({ kind: `type-${message.messageType === 2 ? 'auth' : 'unknown'}` });
        return;
    }
  }

  /** The part of a client's awareness update that is its own (see `PresenceOwners`), or null. */
  ownAwareness(conn: AwarenessOwner, update: Uint8Array): Uint8Array | null {
    return this.presenceOwners.own(conn, update);
  }

  /** Applies a client's update unless its role, the document's size or storage refuses it; throws ProtocolError for a malformed one. */
  acceptUpdate(origin: CollabSocket | DocumentPeer, role: DocumentRole, update: Uint8Array): UpdateVerdict {
    const { metrics, writer } = this.deps;
    if (isEmptyUpdate(update)) return 'accepted';
    if (!canWrite(role)) {
      metrics.rejectedWrites.inc({ reason: 'read-only' });
      return 'read-only';
    }
    if (this.docBytes + update.byteLength > this.deps.maxDocBytes) {
      metrics.rejectedWrites.inc({ reason: 'document-too-big' });
      return 'too-big';
    }
    if (!writer.hasRoom(this.tenantId, update.byteLength)) {
      metrics.rejectedWrites.inc({ reason: 'storage-unavailable' });
      return 'storage-busy';
    }
    metrics.updatesIn.inc();
    metrics.bytesIn.inc(update.byteLength);
    let empty: boolean;
    try {
      empty = hasEmptyItem(update);
    } catch (error) {
      metrics.malformed.inc({ kind: 'decode' });
      throw new ProtocolError(`malformed update: ${(error as Error).message}`);
    }
    if (empty) {
      metrics.malformed.inc({ kind: 'empty-item' });
      throw new ProtocolError('malformed update: an item without content');
    }
    try {
      // What integrates is forwarded and logged by `onDocUpdate`, re-encoded by Yjs itself.
      Y.applyUpdate(this.doc, update, origin);
    } catch (error) {
      metrics.malformed.inc({ kind: 'apply' });
      this.repairAfterFailedApply(origin);
      throw new ProtocolError(`malformed update: ${(error as Error).message}`);
    } finally {
      this.forgetTransaction();
      this.dropUnresolved();
    }
    return 'accepted';
  }

  /** Kept only while its update applies (a failed apply repairs from it): held longer, it would be copied by young-generation collections. */
  private forgetTransaction(): void {
    this.lastTransaction = null;
  }

  /** See `dropPending`: the server keeps only what integrated. */
  private dropUnresolved(): void {
    if (dropPending(this.doc)) this.deps.metrics.rejectedWrites.inc({ reason: 'unresolved-dependencies' });
  }

  /**
   * Yjs trusts its input: a crafted update can decode and still throw halfway through integrating,
   * after some of it entered the document without an 'update' event. Whatever the document gained
   * since the transaction began is re-encoded by Yjs, logged and sent to the others, so memory,
   * storage and peers hold the same. Should even that fail, the room is dropped and reloads from
   * storage on the next connection.
   */
  private repairAfterFailedApply(origin: CollabSocket | DocumentPeer): void {
    const before = this.lastTransaction?.beforeState;
    try {
      if (!before) throw new Error('no transaction to repair');
      const gained = Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(before));
      if (!isEmptyUpdate(gained)) this.onDocUpdate(gained, origin);
    } catch (error) {
      this.deps.logger.error({ err: error, doc: this.key }, 'document state unreadable after a failed update; reloading it');
      this.deps.onCorrupt(this);
    }
  }

  /**
   * Every change that integrates into the server's document, with its origin: a client's changes go
   * to the other connections at once (uWS pub/sub, fan-out in C++) and to the group-commit writer.
   * Forwarding what Yjs emitted, never the client's raw bytes, means nothing malformed reaches peers.
   */
  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === REMOTE) {
      this.docBytes += update.byteLength;
      this.broadcast(updateMessage(update));
      this.deps.sent();
      return;
    }
    if (origin instanceof ServerEdit) {
      const message = updateMessage(update);
      this.broadcast(message);
      this.deps.sent();
      this.countOut(this.size, message.byteLength);
      return this.accepted(update, origin.userId);
    }
    if (typeof origin !== 'object' || origin === null) return;
    if (this.peers.size > 0 && origin instanceof DocumentPeer) return this.fromPeer(update, origin);
    const ws = origin as CollabSocket;
    const timed = (++this.updateCount & 15) === 0;
    const started = timed ? process.hrtime.bigint() : 0n;
    const message = updateMessage(update);
    ws.publish(this.topic, message, true);
    if (this.peers.size > 0) this.deps.publish(this.peerTopic, framed(this.peerPrefix, message));
    if (timed) this.deps.metrics.propagationSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.countOut(this.size - 1, message.byteLength);
    this.accepted(update, ws.getUserData().state.userId);
  };

  /** A Hocuspocus peer's change: to every y-websocket socket and to the other peers. */
  private fromPeer(update: Uint8Array, peer: DocumentPeer): void {
    const message = updateMessage(update);
    this.deps.publish(this.topic, message);
    peer.ws.publish(this.peerTopic, framed(this.peerPrefix, message), true);
    this.countOut(this.size - 1, message.byteLength);
    this.accepted(update, peer.userId);
  }

  private countOut(receivers: number, bytes: number): void {
    if (receivers <= 0) return;
    this.deps.metrics.updatesOut.inc(receivers);
    this.deps.metrics.bytesOut.inc(receivers * bytes);
    this.deps.egress?.(this.tenantId, receivers * bytes);
  }

  /** An update this node accepted (from a client or the server itself): logged, shared, reported. */
  private accepted(update: Uint8Array, author: string): void {
    this.docBytes += update.byteLength;
    this.deps.writer.append(this.key, this.tenantId, this.docId, { update, author, at: new Date() }, this.onPersisted);
    this.deps.cluster?.publish(this, update);
    this.report.add(author, update.byteLength);
    if (!this.unreported) {
      this.unreported = true;
      this.deps.changed(this);
    }
  }

  /**
   * Changes made by the server on behalf of `userId` (a MIDI import, say): applied as one
   * transaction, sent to every connection, logged with that author. Refused like a client's write
   * when storage is over its memory bound or the document would pass its size limit.
   */
  edit<T>(userId: string, change: (doc: Y.Doc) => T): T {
    if (this.destroyed) throw new Error('document was unloaded; retry');
    if (!this.deps.writer.hasRoom(this.tenantId, 0)) throw new RoomBusyError('storage unavailable; change not accepted, retry later');
    if (this.docBytes > this.deps.maxDocBytes) throw new RoomBusyError(`document is over ${this.deps.maxDocBytes} bytes`);
    let result!: T;
    try {
      this.doc.transact(() => {
        result = change(this.doc);
      }, new ServerEdit(userId));
    } finally {
      this.forgetTransaction();
    }
    return result;
  }

  applyRemote(update: Uint8Array): void {
    try {
      Y.applyUpdate(this.doc, update, REMOTE);
    } finally {
      this.forgetTransaction();
      this.dropUnresolved();
    }
  }

  fullState(): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc);
  }

  async reloadFromStorage(): Promise<void> {
    const stored = await this.deps.store.load(this.tenantId, this.docId);
    this.applyRemote(stored.state);
  }

  private readonly onPersisted = (lastId: string, count: number): void => {
    this.lastPersistedId = lastId;
    this.sinceSnapshot += count;
    if (this.sinceSnapshot >= this.deps.snapshotEvery) this.deps.snapshotDue(this);
  };

  /** Whether enough updates were logged since the last snapshot to write a new one. */
  get needsSnapshot(): boolean {
    return !this.destroyed && this.sinceSnapshot >= this.deps.snapshotEvery;
  }

  /** Writes the current state as a snapshot covering the log up to the last persisted id. */
  snapshot(): Promise<void> {
    if (this.snapshotting) return this.snapshotting;
    // An evicted room's memory is not trusted; storage already holds everything it logged.
    if (this.destroyed || this.sinceSnapshot === 0 || this.lastPersistedId === null) return Promise.resolve();
    const uptoId = this.lastPersistedId;
    const covered = this.sinceSnapshot;
    const state = Y.encodeStateAsUpdate(this.doc);
    this.docBytes = state.byteLength;
    this.snapshotting = this.deps.store
      .snapshot(this.tenantId, this.docId, uptoId, state, covered)
      .then(() => {
        this.sinceSnapshot -= covered;
      })
      .finally(() => {
        this.snapshotting = null;
      });
    return this.snapshotting;
  }

  /** Frees the document's memory; the caller made sure its updates are stored. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.reportUpdates();
    this.presenceCheck.stop();
    this.awareness.off('update', this.trackAwareness);
    this.awareness.off('update', this.announceOwnPresence);
    this.awareness.destroy();
    this.doc.destroy();
    this.emit('session.closed', undefined, { sessionId: this.docId, durationMs: Date.now() - this.openedAt });
  }

  private readonly trackAwareness = (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    this.presenceCheck.arm();
    if (origin === 'leave' || typeof origin !== 'object' || origin === null) return;
    const ids = origin instanceof DocumentPeer ? origin.awarenessIds : (origin as CollabSocket).getUserData().state.awarenessIds;
    for (const id of [...change.added, ...change.updated]) ids.add(id);
    for (const id of change.removed) ids.delete(id);
  };

  private readonly announceOwnPresence = (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    if (origin !== 'local' || this.destroyed) return;
    this.broadcast(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID])));
    this.deps.sent();
  };

  private readonly rememberTransaction = (tr: Y.Transaction): void => {
    this.lastTransaction = tr;
  };

  private readonly trackChanges = (tr: Y.Transaction): void => this.report.track(tr, this.doc.share);

  /** Publishes one `session.updated` per author with what changed since the last report. */
  reportUpdates(): void {
    if (!this.unreported) return;
    this.unreported = false;
    for (const { author, bytes, changed } of this.report.take()) this.emit('session.updated', author, { sessionId: this.docId, author, bytes, changed });
  }

  private emit<T extends 'session.updated' | 'session.closed' | 'presence.joined' | 'presence.left'>(type: T, actor: string | undefined, payload: EventPayload<T>): void {
    try {
      const event = createEvent(type, { tenantId: this.tenantId, ...(actor ? { actor } : {}), payload }) as VezaEvent;
      this.deps.bus.publish(event).catch((error: unknown) => this.deps.logger.warn({ err: error, type }, 'could not publish event'));
    } catch (error) {
      this.deps.logger.error({ err: error, type }, 'invalid collab event');
    }
  }
}
