import { getUnixTime } from 'lib0/time';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { createEvent, type EventPayload, type VezaEvent } from '../events/catalog.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import { canWrite, type DocumentRole } from '../server/auth.js';
import { CloseCode } from '../server/errors.js';
import type { VezaSocket } from '../server/websocket.js';
import type { DocumentStore, LoadedDocument } from './document-store.js';
import type { CollabMetrics } from './metrics.js';
import { awarenessMessage, hasEmptyItem, ProtocolError, readMessage, syncStep1, syncStep2, updateMessage } from './protocol.js';
import type { ClusterRoom, ClusterSync } from './cluster.js';
import type { UpdateWriter } from './update-writer.js';

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

export interface RoomDeps {
  store: DocumentStore;
  writer: UpdateWriter;
  bus: EventBus;
  metrics: CollabMetrics;
  logger: Logger;
  /** Sends to every connection of a topic (used when no sender is left to exclude). */
  publish(topic: string, message: Uint8Array): void;
  onEmpty(room: Room): void;
  /** The room's document can no longer be trusted: close its connections and forget it. */
  onCorrupt(room: Room): void;
  maxDocBytes: number;
  snapshotEvery: number;
  /** The room has logged `snapshotEvery` updates since its last snapshot: the service snapshots rooms one at a time. */
  snapshotDue(room: Room): void;
  /** The room has changes to report as `session.updated`; the service calls `reportUpdates` for all such rooms at once. */
  changed(room: Room): void;
  /** Other nodes serving the same documents (Redis), when configured. */
  cluster: ClusterSync | null;
  /** Something was queued to this room's sockets (the slow-client check looks only after traffic). */
  sent(): void;
}

/** Origin of updates that another node accepted. */
const REMOTE = Symbol('remote');

/** Origin of changes the server makes itself, on behalf of a user. */
class ServerEdit {
  constructor(readonly userId: string) {}
}

/** The room cannot take a change now (storage over its bound, document too large). */
export class RoomBusyError extends Error {}

const isEmptyUpdate = (u: Uint8Array) => u.byteLength === 2 && u[0] === 0 && u[1] === 0;

/** How often presence is renewed and expired while a room has any (y-protocols' own period). */
const PRESENCE_CHECK_MS = awarenessProtocol.outdatedTimeout / 10;

/**
 * One loaded document and its connections. An accepted update is applied to the server's Y.Doc at
 * once; what integrated is forwarded to the other connections and handed to the group-commit writer.
 */
export class Room implements ClusterRoom {
  readonly doc = new Y.Doc();
  readonly awareness = new awarenessProtocol.Awareness(this.doc);
  readonly topic: string;
  readonly openedAt = Date.now();
  private readonly sockets = new Set<CollabSocket>();
  private readonly usersOnline = new Map<string, number>();
  private docBytes: number;
  private lastPersistedId: string | null;
  private sinceSnapshot: number;
  private snapshotting: Promise<void> | null = null;
  private readonly authorBytes = new Map<string, number>();
  private readonly changedTypes = new Set<string>();
  private unreported = false;
  private lastTransaction: Y.Transaction | null = null;
  private presenceTimer: NodeJS.Timeout | null = null;
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
    Y.applyUpdate(this.doc, loaded.state);
    this.docBytes = loaded.state.byteLength;
    this.lastPersistedId = loaded.lastId;
    this.sinceSnapshot = loaded.tail;
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

  get size(): number {
    return this.sockets.size;
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
    const online = (this.usersOnline.get(conn.userId) ?? 0) + 1;
    this.usersOnline.set(conn.userId, online);
    if (online === 1) this.emit('presence.joined', conn.userId, { sessionId: this.docId, userId: conn.userId });
  }

  leave(ws: CollabSocket): void {
    if (!this.sockets.delete(ws) || this.destroyed) return;
    const conn = ws.getUserData().state;
    if (conn.awarenessIds.size > 0) {
      const ids = [...conn.awarenessIds];
      awarenessProtocol.removeAwarenessStates(this.awareness, ids, 'leave');
      this.deps.publish(this.topic, awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids)));
      this.deps.sent();
    }
    const online = (this.usersOnline.get(conn.userId) ?? 1) - 1;
    if (online > 0) this.usersOnline.set(conn.userId, online);
    else {
      this.usersOnline.delete(conn.userId);
      this.emit('presence.left', conn.userId, { sessionId: this.docId, userId: conn.userId });
    }
    if (this.sockets.size === 0) this.deps.onEmpty(this);
  }

  /** Handles one message; throws ProtocolError for malformed input (the caller closes with 1002). */
  receive(ws: CollabSocket, data: Uint8Array): void {
    const conn = ws.getUserData().state;
    const message = readMessage(data);
    // Any message may be answered or forwarded.
    this.deps.sent();
    switch (message.type) {
      case 'sync-step1': {
        let diff: Uint8Array;
        try {
          diff = Y.encodeStateAsUpdate(this.doc, message.stateVector);
        } catch (error) {
          throw new ProtocolError(`malformed state vector: ${(error as Error).message}`);
        }
        const answer = syncStep2(diff);
        conn.syncAllowance = Math.max(conn.syncAllowance, answer.byteLength);
        ws.send(answer, true);
        return;
      }
      case 'sync-step2':
      case 'update':
        return this.acceptUpdate(ws, conn, message.update);
      case 'awareness':
        try {
          awarenessProtocol.applyAwarenessUpdate(this.awareness, message.update, ws);
        } catch (error) {
          throw new ProtocolError(`malformed awareness update: ${(error as Error).message}`);
        }
        ws.publish(this.topic, data, true);
        return;
      case 'query-awareness':
        ws.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])), true);
        return;
      case 'ignored':
        this.deps.metrics.malformed.inc({ kind: `type-${message.messageType === 2 ? 'auth' : 'unknown'}` });
        return;
    }
  }

  private acceptUpdate(ws: CollabSocket, conn: CollabConnection, update: Uint8Array): void {
    const { metrics, writer } = this.deps;
    if (isEmptyUpdate(update)) return;
    if (!canWrite(conn.role)) {
      metrics.rejectedWrites.inc({ reason: 'read-only' });
      return;
    }
    if (this.docBytes + update.byteLength > this.deps.maxDocBytes) {
      metrics.rejectedWrites.inc({ reason: 'document-too-big' });
      ws.end(CloseCode.tooBig, `document would exceed ${this.deps.maxDocBytes} bytes`);
      return;
    }
    if (!writer.hasRoom(this.tenantId, update.byteLength)) {
      metrics.rejectedWrites.inc({ reason: 'storage-unavailable' });
      ws.end(CloseCode.tryAgainLater, 'storage unavailable; update not accepted, retry later');
      return;
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
      Y.applyUpdate(this.doc, update, ws);
    } catch (error) {
      metrics.malformed.inc({ kind: 'apply' });
      this.repairAfterFailedApply(ws);
      throw new ProtocolError(`malformed update: ${(error as Error).message}`);
    } finally {
      this.forgetTransaction();
      this.dropUnresolved();
    }
  }

  /**
   * The transaction is kept only while its update is applied (a failed apply repairs from its
   * before-state): held until the next update, every room's last one would outlive a young-generation
   * collection and be copied by it, with its state vectors and change sets.
   */
  private forgetTransaction(): void {
    this.lastTransaction = null;
  }

  /**
   * Structs whose dependencies the server has not seen stay "pending" in Yjs, unvalidated, and Yjs
   * would include their raw bytes in every sync answer. The server keeps only what integrated; a
   * client that really holds the missing part sends it (with the rest) when it syncs again.
   */
  private dropUnresolved(): void {
    const store = this.doc.store;
    if (store.pendingStructs === null && store.pendingDs === null) return;
    store.pendingStructs = null;
    store.pendingDs = null;
    this.deps.metrics.rejectedWrites.inc({ reason: 'unresolved-dependencies' });
  }

  /**
   * Yjs trusts its input: a crafted update can decode and still throw halfway through integrating,
   * after some of it entered the document without an 'update' event. Whatever the document gained
   * since the transaction began is re-encoded by Yjs, logged and sent to the others, so memory,
   * storage and peers hold the same. Should even that fail, the room is dropped and reloads from
   * storage on the next connection.
   */
  private repairAfterFailedApply(ws: CollabSocket): void {
    const before = this.lastTransaction?.beforeState;
    try {
      if (!before) throw new Error('no transaction to repair');
      const gained = Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(before));
      if (!isEmptyUpdate(gained)) this.onDocUpdate(gained, ws);
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
      this.deps.publish(this.topic, updateMessage(update));
      this.deps.sent();
      return;
    }
    if (origin instanceof ServerEdit) {
      const message = updateMessage(update);
      this.deps.publish(this.topic, message);
      this.deps.sent();
      this.countOut(this.sockets.size, message.byteLength);
      return this.accepted(update, origin.userId);
    }
    if (typeof origin !== 'object' || origin === null) return;
    const ws = origin as CollabSocket;
    const timed = (++this.updateCount & 15) === 0;
    const started = timed ? process.hrtime.bigint() : 0n;
    const message = updateMessage(update);
    ws.publish(this.topic, message, true);
    if (timed) this.deps.metrics.propagationSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.countOut(this.sockets.size - 1, message.byteLength);
    this.accepted(update, ws.getUserData().state.userId);
  };

  private countOut(receivers: number, bytes: number): void {
    if (receivers <= 0) return;
    this.deps.metrics.updatesOut.inc(receivers);
    this.deps.metrics.bytesOut.inc(receivers * bytes);
  }

  /** An update this node accepted (from a client or the server itself): logged, shared, reported. */
  private accepted(update: Uint8Array, author: string): void {
    this.docBytes += update.byteLength;
    this.deps.writer.append(this.key, this.tenantId, this.docId, { update, author, at: new Date() }, this.onPersisted);
    this.deps.cluster?.publish(this, update);
    this.authorBytes.set(author, (this.authorBytes.get(author) ?? 0) + update.byteLength);
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
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    this.awareness.off('update', this.trackAwareness);
    this.awareness.off('update', this.announceOwnPresence);
    this.awareness.destroy();
    this.doc.destroy();
    this.emit('session.closed', undefined, { sessionId: this.docId, durationMs: Date.now() - this.openedAt });
  }

  private readonly trackAwareness = (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    this.armPresenceCheck();
    if (origin === 'leave' || typeof origin !== 'object' || origin === null) return;
    const conn = (origin as CollabSocket).getUserData().state;
    for (const id of [...change.added, ...change.updated]) conn.awarenessIds.add(id);
    for (const id of change.removed) conn.awarenessIds.delete(id);
  };

  private armPresenceCheck(): void {
    if (this.presenceTimer || this.destroyed || this.awareness.getStates().size === 0) return;
    this.presenceTimer = setTimeout(this.checkPresence, PRESENCE_CHECK_MS);
    this.presenceTimer.unref();
  }

  /** What y-protocols' own timer does: renews the server's entry halfway to its expiry, drops remote entries not renewed in time. */
  private readonly checkPresence = (): void => {
    this.presenceTimer = null;
    const { awareness } = this;
    const now = getUnixTime();
    const own = awareness.meta.get(awareness.clientID);
    if (awareness.getLocalState() !== null && own && awarenessProtocol.outdatedTimeout / 2 <= now - own.lastUpdated) awareness.setLocalState(awareness.getLocalState());
    const expired = [...awareness.meta]
      .filter(([id, meta]) => id !== awareness.clientID && awarenessProtocol.outdatedTimeout <= now - meta.lastUpdated && awareness.states.has(id))
      .map(([id]) => id);
    if (expired.length > 0) awarenessProtocol.removeAwarenessStates(awareness, expired, 'timeout');
    this.armPresenceCheck();
  };

  private readonly announceOwnPresence = (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    if (origin !== 'local' || this.destroyed) return;
    this.deps.publish(this.topic, awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID])));
    this.deps.sent();
  };

  private readonly rememberTransaction = (tr: Y.Transaction): void => {
    this.lastTransaction = tr;
  };

  private readonly trackChanges = (tr: Y.Transaction): void => {
    if (typeof tr.origin !== 'object' || tr.origin === null) return;
    for (const [name, type] of this.doc.share) {
      if (tr.changed.has(type) || tr.changedParentTypes.has(type)) this.changedTypes.add(name);
    }
  };

  /** Publishes one `session.updated` per author with what changed since the last report. */
  reportUpdates(): void {
    if (!this.unreported) return;
    this.unreported = false;
    // Shared types are named by clients: the event carries at most 100 names of at most 200 characters.
    const changed = [...this.changedTypes].slice(0, 100).map((name) => name.slice(0, 200));
    for (const [author, bytes] of this.authorBytes) {
      this.emit('session.updated', author, { sessionId: this.docId, author, bytes, changed });
    }
    this.authorBytes.clear();
    this.changedTypes.clear();
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
