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
import { awarenessMessage, ProtocolError, readMessage, syncStep1, syncStep2, updateMessage } from './protocol.js';
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
  maxDocBytes: number;
  snapshotEvery: number;
  /** How often a room reports `session.updated` (accumulated per author). */
  eventIntervalMs: number;
}

const APPLY_ORIGIN = Symbol('veza-apply');
const isEmptyUpdate = (u: Uint8Array) => u.byteLength === 2 && u[0] === 0 && u[1] === 0;

/**
 * One loaded document and its connections. The hot path forwards an accepted update's bytes to the
 * other connections at once (uWS pub/sub, fan-out in C++) and hands it to the group-commit writer;
 * applying it to the server's Y.Doc happens in batches, once per event-loop turn, in one transaction.
 */
export class Room {
  readonly doc = new Y.Doc();
  readonly awareness = new awarenessProtocol.Awareness(this.doc);
  readonly topic: string;
  readonly openedAt = Date.now();
  private readonly sockets = new Set<CollabSocket>();
  private readonly usersOnline = new Map<string, number>();
  private pending: Uint8Array[] = [];
  private applyScheduled = false;
  private docBytes: number;
  private lastPersistedId: string | null;
  private sinceSnapshot: number;
  private snapshotting: Promise<void> | null = null;
  private readonly authorBytes = new Map<string, number>();
  private readonly changedTypes = new Set<string>();
  private eventTimer: NodeJS.Timeout | null = null;

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
    this.awareness.setLocalState(null);
    this.awareness.on('update', this.trackAwareness);
    this.doc.on('afterTransaction', this.trackChanges);
  }

  get size(): number {
    return this.sockets.size;
  }

  join(ws: CollabSocket): void {
    const conn = ws.getUserData().state;
    this.sockets.add(ws);
    conn.room = this;
    ws.subscribe(this.topic);
    this.applyPending();
    ws.send(syncStep1(Y.encodeStateVector(this.doc)), true);
    if (this.awareness.getStates().size > 0) {
      ws.send(awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])), true);
    }
    const online = (this.usersOnline.get(conn.userId) ?? 0) + 1;
    this.usersOnline.set(conn.userId, online);
    if (online === 1) this.emit('presence.joined', conn.userId, { sessionId: this.docId, userId: conn.userId });
  }

  leave(ws: CollabSocket): void {
    if (!this.sockets.delete(ws)) return;
    const conn = ws.getUserData().state;
    if (conn.awarenessIds.size > 0) {
      const ids = [...conn.awarenessIds];
      awarenessProtocol.removeAwarenessStates(this.awareness, ids, 'leave');
      this.deps.publish(this.topic, awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids)));
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
    switch (message.type) {
      case 'sync-step1': {
        this.applyPending();
        let diff: Uint8Array;
        try {
          diff = Y.encodeStateAsUpdate(this.doc, message.stateVector);
        } catch (error) {
          throw new ProtocolError(`malformed state vector: ${(error as Error).message}`);
        }
        ws.send(syncStep2(diff), true);
        return;
      }
      case 'sync-step2':
      case 'update':
        return this.acceptUpdate(ws, conn, message.update, message.type === 'update' ? data : null);
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

  /** `raw` is the received message when it is already an update message (forwarded as is). */
  private acceptUpdate(ws: CollabSocket, conn: CollabConnection, update: Uint8Array, raw: Uint8Array | null): void {
    const { metrics, writer } = this.deps;
    if (isEmptyUpdate(update)) return;
    if (!canWrite(conn.role)) {
      metrics.rejectedWrites.inc({ reason: 'read-only' });
      return;
    }
    try {
      Y.decodeUpdate(update);
    } catch (error) {
      throw new ProtocolError(`malformed update: ${(error as Error).message}`);
    }
    if (this.docBytes + update.byteLength > this.deps.maxDocBytes) {
      metrics.rejectedWrites.inc({ reason: 'document-too-big' });
      ws.end(CloseCode.tooBig, `document would exceed ${this.deps.maxDocBytes} bytes`);
      return;
    }
    if (!writer.hasRoom(update.byteLength)) {
      metrics.rejectedWrites.inc({ reason: 'storage-unavailable' });
      ws.end(CloseCode.tryAgainLater, 'storage unavailable; update not accepted, retry later');
      return;
    }
    const started = process.hrtime.bigint();
    const copy = update.slice();
    const message = raw ?? updateMessage(copy);
    ws.publish(this.topic, message, true);
    const receivers = this.sockets.size - 1;
    metrics.propagationSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.updatesIn.inc();
    metrics.bytesIn.inc(message.byteLength);
    if (receivers > 0) {
      metrics.updatesOut.inc(receivers);
      metrics.bytesOut.inc(receivers * message.byteLength);
    }
    this.docBytes += copy.byteLength;
    this.pending.push(copy);
    this.scheduleApply();
    writer.append(this.key, this.tenantId, this.docId, { update: copy, author: conn.userId, at: new Date() }, this.onPersisted);
    this.authorBytes.set(conn.userId, (this.authorBytes.get(conn.userId) ?? 0) + copy.byteLength);
    this.eventTimer ??= setTimeout(this.reportUpdates, this.deps.eventIntervalMs);
  }

  private scheduleApply(): void {
    if (this.applyScheduled) return;
    this.applyScheduled = true;
    setImmediate(() => this.applyPending());
  }

  /** Brings the server's Y.Doc up to date with everything accepted so far. */
  applyPending(): void {
    this.applyScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    Y.transact(
      this.doc,
      () => {
        for (const update of batch) {
          try {
            Y.applyUpdate(this.doc, update);
          } catch (error) {
            this.deps.metrics.malformed.inc({ kind: 'apply' });
            this.deps.logger.error({ err: error, doc: this.key }, 'validated update failed to apply');
          }
        }
      },
      APPLY_ORIGIN,
    );
  }

  private readonly onPersisted = (lastId: string, count: number): void => {
    this.lastPersistedId = lastId;
    this.sinceSnapshot += count;
    if (this.sinceSnapshot >= this.deps.snapshotEvery) void this.snapshot().catch((error: unknown) => this.deps.logger.warn({ err: error, doc: this.key }, 'snapshot failed; will retry'));
  };

  /** Writes the current state as a snapshot covering the log up to the last persisted id. */
  snapshot(): Promise<void> {
    if (this.snapshotting) return this.snapshotting;
    if (this.sinceSnapshot === 0 || this.lastPersistedId === null) return Promise.resolve();
    this.applyPending();
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
    if (this.eventTimer) {
      clearTimeout(this.eventTimer);
      this.reportUpdates();
    }
    this.awareness.off('update', this.trackAwareness);
    this.awareness.destroy();
    this.doc.destroy();
    this.emit('session.closed', undefined, { sessionId: this.docId, durationMs: Date.now() - this.openedAt });
  }

  private readonly trackAwareness = (change: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    if (origin === 'leave' || typeof origin !== 'object' || origin === null) return;
    const conn = (origin as CollabSocket).getUserData().state;
    for (const id of [...change.added, ...change.updated]) conn.awarenessIds.add(id);
    for (const id of change.removed) conn.awarenessIds.delete(id);
  };

  private readonly trackChanges = (tr: Y.Transaction): void => {
    if (tr.origin !== APPLY_ORIGIN) return;
    for (const [name, type] of this.doc.share) {
      if (tr.changed.has(type) || tr.changedParentTypes.has(type)) this.changedTypes.add(name);
    }
  };

  private readonly reportUpdates = (): void => {
    this.eventTimer = null;
    const changed = [...this.changedTypes].slice(0, 100);
    for (const [author, bytes] of this.authorBytes) {
      this.emit('session.updated', author, { sessionId: this.docId, author, bytes, changed });
    }
    this.authorBytes.clear();
    this.changedTypes.clear();
  };

  private emit<T extends 'session.updated' | 'session.closed' | 'presence.joined' | 'presence.left'>(type: T, actor: string | undefined, payload: EventPayload<T>): void {
    try {
      const event = createEvent(type, { tenantId: this.tenantId, ...(actor ? { actor } : {}), payload }) as VezaEvent;
      this.deps.bus.publish(event).catch((error: unknown) => this.deps.logger.warn({ err: error, type }, 'could not publish event'));
    } catch (error) {
      this.deps.logger.error({ err: error, type }, 'invalid collab event');
    }
  }
}
