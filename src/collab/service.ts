import path from 'node:path';
import type * as Y from 'yjs';
import { createEvent } from '../events/catalog.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import { roleFor, type Principal } from '../server/auth.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { WebSocketRouter } from '../server/websocket.js';
import { badRequest, CloseCode, forbidden } from '../server/errors.js';
import { QuotaExceeded } from '../server/quota.js';
import type { Storage } from '../storage/database.js';
import { AdmissionRefused, DocumentAdmission, estimateDocumentBytes, MemoryBudgetReached } from './admission.js';
import { DocumentStore } from './document-store.js';
import { HocuspocusEndpoint } from './hocuspocus.js';
import type { CollabSettings } from './settings.js';
import { ClusterSync } from './cluster.js';
import { CollabMetrics } from './metrics.js';
import { MessageType, messageTypeOf, ProtocolError } from './protocol.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { Room, type CollabConnection, type CollabSocket } from './room.js';
import { UpdateJournal } from './update-journal.js';
import { MemoryBudget } from './memory-budget.js';
import { UpdateReports } from './update-reports.js';
import { UpdateWriter } from './update-writer.js';

const MAX_QUEUED_WHILE_LOADING = 8 << 20;
/** Before a document is decoded its structs are unknown: studio sessions hold about one per 25 encoded bytes. */
const ENCODED_BYTES_PER_STRUCT = 25;
/** How soon after traffic the slow-client check looks at the queues. */
const SWEEP_MS = 250;

/**
 * Answers one message of a type beyond sync and awareness, given the whole message; throws for a
 * malformed one (the socket is then closed with 1002). The answer goes back to the sender at once,
 * even while the document loads, and no room sees the message.
 */
export type MessageAnswer = (message: Uint8Array) => Uint8Array;

export interface CollabDeps {
  settings: CollabSettings;
  /** The data directory: on the embedded database the update journal is kept there. */
  dataDir: string;
  /** With Redis, nodes serving the same documents sync through it (streams under `settings.streamPrefix`). */
  redisUrl?: string | undefined;
  storage: Storage;
  bus: EventBus;
  ws: WebSocketRouter;
  metrics: ServerMetrics;
  logger: Logger;
}

/**
 * The collaboration service: `ws://HOST/collab/<docId>?token=…` speaking y-websocket's protocol,
 * a registry of loaded rooms (loaded on first connection, unloaded when idle) and the group-commit
 * writer they share.
 */
export class CollabService {
  readonly store: DocumentStore;
  readonly writer: UpdateWriter;
  readonly metrics: CollabMetrics;
  private readonly rooms = new Map<string, Room>();
  private readonly presence = new Map<string, Record<string, unknown>>();
  private readonly loading = new Map<string, Promise<Room>>();
  private readonly unloadTimers = new Map<string, NodeJS.Timeout>();
  private readonly sockets = new Set<CollabSocket>();
  /** Message types other modules answer on /collab (the studio's beat clock). */
  private readonly extensions = new Map<number, MessageAnswer>();
  /** Rooms with changes not yet reported, reported together by one timer while there are any. */
  /** Rooms waiting for a snapshot, written in order, one at a time. */
  private readonly snapshotQueue = new Set<Room>();
  /** `session.updated` of the rooms being edited; after each round, idle documents over the memory budget make room. */
  private readonly reports = new UpdateReports(() => {
    // Documents grow as they are edited: past the budget, idle ones make room (checked as often as edits are reported).
    void this.memory.unloadIdle().catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not unload idle documents over the memory budget'));
  });
  /** The slow-client check, armed by traffic: nothing runs while nothing is sent. */
  private sweep: NodeJS.Timeout | null = null;
  private closed = false;
  private cluster: ClusterSync | null = null;
  /** `/hocuspocus`, once the routes are registered. */
  private hocuspocus: HocuspocusEndpoint | null = null;
  private readonly admission: DocumentAdmission;
  private readonly memory: MemoryBudget;

  constructor(private readonly deps: CollabDeps) {
    const { settings, storage, logger, metrics } = deps;
    this.metrics = new CollabMetrics(metrics.registry);
    this.store = new DocumentStore(storage);
    this.writer = new UpdateWriter(this.store, {
      flushMs: settings.flushMs,
      storeMs: settings.storeMs,
      maxPendingBytes: settings.maxPendingBytes,
      logger,
      metrics: this.metrics,
    });
    this.admission = new DocumentAdmission(settings);
    this.memory = new MemoryBudget(settings.memoryBudgetBytes, this.rooms, this.unloadNow, this.metrics);
    this.metrics.memory = () => ({ usedBytes: this.memoryUsed(), budgetBytes: settings.memoryBudgetBytes });
  }

  /** The memory budget, which the Automerge documents share. */
  get memoryBudget(): MemoryBudget {
    return this.memory;
  }

  /** The loaded documents' estimated memory, in bytes. */
  memoryUsed(): number {
    return this.memory.used();
  }

  /** Its settings, for the modules built on it (limits they keep in step with). */
  get settings(): CollabSettings {
    return this.deps.settings;
  }

  /** Moves what the update journal holds into the log (embedded database), and joins the other nodes through Redis when configured. */
  /**
   * Lets another module answer a message type of its own on /collab (the y-websocket protocol leaves
   * types past its own free). Register before clients connect; y-websocket's types are refused.
   */
  registerMessageType(type: number, answer: MessageAnswer): void {
    if (!Number.isSafeInteger(type) || type < 0 || (Object.values(MessageType) as number[]).includes(type)) {
      throw new Error(`message type ${type} cannot be registered: it is y-websocket's own or not a varuint`);
    }
    if (this.extensions.has(type)) throw new Error(`message type ${type} is registered already`);
    this.extensions.set(type, answer);
  }

  async start(): Promise<this> {
    const { settings, dataDir, redisUrl, logger, storage } = this.deps;
    // On the embedded database the journal takes the group commits (see `UpdateJournal`); what a
    // previous run left there goes to the update log before any document loads.
    if (storage.kind === 'pglite' && settings.storeMs > settings.flushMs) {
      const { recovered, tornBytes } = await this.writer.useJournal(await UpdateJournal.open(path.join(dataDir, 'update-journal')));
      if (recovered > 0 || tornBytes > 0) logger.info({ recovered, tornBytes }, 'update journal moved to the update log');
    }
    if (redisUrl) {
      this.cluster = await new ClusterSync(redisUrl, { prefix: settings.streamPrefix, maxLen: 10_000, logger, metrics: this.metrics }).connect();
    }
    return this;
  }

  /**
   * Resolves once everything accepted for the document is in the update log, for readers of the log
   * (replay, export): on the embedded database updates reach the log in bulk, up to
   * `settings.storeMs` after they were accepted.
   */
  async persisted(tenantId: string, docId: string): Promise<void> {
    if (this.writer.isPending(`${tenantId}/${docId}`)) await this.writer.flush(tenantId);
  }

  get loadedRooms(): number {
    return this.rooms.size;
  }

  /**
   * A change made by the server on behalf of `userId` (a MIDI import, say): it goes through the
   * document's room like a client's update, so connected clients see it and the log records it.
   */
  async edit<T>(tenantId: string, docId: string, userId: string, change: (doc: Y.Doc) => T): Promise<T> {
    const room = await this.room(tenantId, docId);
    try {
      return room.edit(userId, change);
    } finally {
      if (room.size === 0) this.scheduleUnload(room);
    }
  }

  /**
   * Sets the server's awareness entry in a session (null removes it). It is kept while the
   * document is not loaded and applied when it loads, so late joiners see it too.
   */
  setPresence(tenantId: string, docId: string, state: Record<string, unknown> | null): void {
    const key = `${tenantId}/${docId}`;
    if (state) this.presence.set(key, state);
    else this.presence.delete(key);
    this.rooms.get(key)?.setServerPresence(state);
  }

  /** The document's current state: the loaded room's, else what storage holds. */
  async state(tenantId: string, docId: string): Promise<Uint8Array> {
    const room = this.rooms.get(`${tenantId}/${docId}`);
    if (room) return room.fullState();
    return (await this.store.load(tenantId, docId)).state;
  }

  /** `state` of several documents: loaded rooms from memory, the rest from storage in one read. */
  async states(tenantId: string, docIds: readonly string[]): Promise<Map<string, Uint8Array>> {
    const stored = await this.store.loadMany(tenantId, docIds.filter((id) => !this.rooms.has(`${tenantId}/${id}`)));
    const states = await Promise.all(docIds.map(async (id) => this.rooms.get(`${tenantId}/${id}`)?.fullState() ?? stored.get(id) ?? this.state(tenantId, id)));
    return new Map(docIds.map((id, i) => [id, states[i]!]));
  }

  /** `/collab/:doc` and `/hocuspocus`: registered once the module has started, before the server listens. */
  registerRoutes(): void {
    const { settings, ws } = this.deps;
    ws.route<CollabConnection>('/collab/:doc', {
      // uWS closes a socket abruptly past this; the sweep closes slow ones cleanly (1013) first. It
      // leaves room for a whole document: a sync answer is sent as one message, however slow the link.
      maxBackpressure: Math.min(2 ** 31 - 1, settings.maxDocBytes + 2 * settings.maxBackpressureBytes),
      closeOnBackpressureLimit: true,
      authorize: ({ params, principal }) => {
        const docId = params.doc ?? '';
        if (!DOC_ID_PATTERN.test(docId)) throw badRequest('document id must be 1-200 characters of letters, digits and ._:-');
        const role = roleFor(principal, docId);
        if (!role) throw forbidden(`no role on document ${docId}`);
        this.admitDocument(principal, `${principal.tenantId}/${docId}`);
        return { tenantId: principal.tenantId, docId, userId: principal.userId, role, room: null, queued: [], queuedBytes: 0, awarenessIds: new Set(), syncAllowance: 0, closed: false };
      },
      open: (ws) => this.onOpen(ws),
      message: (ws, data) => this.onMessage(ws, data),
      close: (ws) => this.onClose(ws),
    });
    this.hocuspocus = new HocuspocusEndpoint({
      settings,
      ws,
      metrics: this.metrics,
      logger: this.deps.logger,
      room: (tenantId, docId) => this.room(tenantId, docId),
      idle: (room) => this.scheduleUnload(room),
      sent: this.armSweep,
      admission: { admit: this.admitDocument, opened: (principal, key) => this.admission.opened(principal, key), closed: (principal, key) => this.admission.closed(principal, key) },
    });
    this.hocuspocus.register();
  }

  /** The user's pace of document loads and the memory budget: throws AdmissionRefused (counted). */
  private readonly admitDocument = (principal: Principal, key: string): void => {
    try {
      this.admission.admit(principal, key, this.rooms.has(key) || this.loading.has(key), this.memory);
    } catch (error) {
      if (error instanceof AdmissionRefused) this.metrics.budgetRefusals.inc({ reason: error.reason });
      throw error;
    }
  };

  private onOpen(ws: CollabSocket): void {
    const conn = ws.getUserData().state;
    this.sockets.add(ws);
    this.admission.opened(ws.getUserData().principal, `${conn.tenantId}/${conn.docId}`);
    this.metrics.connections.inc({ role: conn.role });
    this.room(conn.tenantId, conn.docId).then(
      (room) => {
        if (conn.closed) return;
        try {
          this.deps.ws.quotas.admit(conn.tenantId, 'participantsPerRoom', room.size);
        } catch (error) {
          if (!(error instanceof QuotaExceeded)) throw error;
          if (room.size === 0) this.scheduleUnload(room);
          return ws.end(CloseCode.rateLimited, error.closeReason);
        }
        room.join(ws);
        const queued = conn.queued;
        conn.queued = [];
        for (const data of queued) {
          if (conn.closed) return;
          this.receive(ws, room, data);
        }
      },
      (error: unknown) => {
        if (error instanceof MemoryBudgetReached) {
          if (!conn.closed) ws.end(CloseCode.tryAgainLater, error.closeReason);
          return;
        }
        if (error instanceof QuotaExceeded) {
          if (!conn.closed) ws.end(CloseCode.rateLimited, error.closeReason);
          return;
        }
        this.deps.logger.error({ err: error, doc: conn.docId, tenant: conn.tenantId }, 'document load failed');
        if (!conn.closed) ws.end(CloseCode.internalError, 'document could not be loaded; retry later');
      },
    );
  }

  private onMessage(ws: CollabSocket, data: ArrayBuffer): void {
    const conn = ws.getUserData().state;
    this.metrics.messagesIn.inc();
    const bytes = new Uint8Array(data);
    // Extension types (the beat clock) are answered here, at once, even while the document loads:
    // a late clock answer is a bad sample.
    const answer = this.extensions.size === 0 ? undefined : this.extensions.get(messageTypeOf(bytes));
    if (answer) return this.answerExtension(ws, answer, bytes);
    if (conn.room) return this.receive(ws, conn.room, bytes);
    conn.queuedBytes += data.byteLength;
    if (conn.queuedBytes > MAX_QUEUED_WHILE_LOADING) {
      ws.end(CloseCode.tryAgainLater, 'too much data while the document loads');
      return;
    }
    conn.queued.push(new Uint8Array(data.slice(0)));
  }

  private answerExtension(ws: CollabSocket, answer: MessageAnswer, data: Uint8Array): void {
    let reply: Uint8Array;
    try {
      reply = answer(data);
    } catch (error) {
      this.metrics.malformed.inc({ kind: 'protocol' });
      ws.end(CloseCode.protocolError, `malformed message: ${(error as Error).message}`.slice(0, 120));
      return;
    }
    ws.send(reply, true);
  }

  private receive(ws: CollabSocket, room: Room, data: Uint8Array): void {
    try {
      room.receive(ws, data);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.metrics.malformed.inc({ kind: 'protocol' });
      ws.end(CloseCode.protocolError, error.message.slice(0, 120));
    }
  }

  private onClose(ws: CollabSocket): void {
    const conn = ws.getUserData().state;
    conn.closed = true;
    this.sockets.delete(ws);
    this.admission.closed(ws.getUserData().principal, `${conn.tenantId}/${conn.docId}`);
    this.metrics.connections.dec({ role: conn.role });
    conn.room?.leave(ws);
  }

  /** The loaded room, loading it once however many connections ask at the same time. */
  private room(tenantId: string, docId: string): Promise<Room> {
    const key = `${tenantId}/${docId}`;
    const timer = this.unloadTimers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.unloadTimers.delete(key);
    }
    const loaded = this.rooms.get(key);
    if (loaded) return Promise.resolve(loaded);
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.load(key, tenantId, docId).finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }

  private async load(key: string, tenantId: string, docId: string): Promise<Room> {
    const { settings, bus, logger } = this.deps;
    const started = process.hrtime.bigint();
    const stored = await this.store.load(tenantId, docId);
    // A document nothing was ever written to is a new one: the tenant's documents quota applies.
    if (stored.lastId === null) this.deps.ws.quotas.admit(tenantId, 'documents');
    await this.memory.makeRoomFor(estimateDocumentBytes(stored.state.byteLength, stored.state.byteLength / ENCODED_BYTES_PER_STRUCT));
    this.metrics.loadSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const room = new Room(key, tenantId, docId, stored, {
      store: this.store,
      writer: this.writer,
      bus,
      metrics: this.metrics,
      logger,
      publish: (topic, message) => this.deps.ws.publish(topic, message, true),
      onEmpty: (r) => this.scheduleUnload(r),
      onCorrupt: (r) => this.evict(r),
      maxDocBytes: settings.maxDocBytes,
      snapshotEvery: settings.snapshotEvery,
      snapshotDue: this.snapshotDue,
      changed: this.reports.changed,
      cluster: this.cluster,
      sent: this.armSweep,
      egress: (tenantId, bytes) => this.deps.ws.egress(tenantId, bytes),
    });
    await this.cluster?.attach(room);
    this.rooms.set(key, room);
    const presence = this.presence.get(key);
    if (presence) room.setServerPresence(presence);
    this.metrics.loadedDocuments.set(this.rooms.size);
    bus.publish(createEvent('session.opened', { tenantId, payload: { sessionId: docId } })).catch((error: unknown) => logger.warn({ err: error }, 'could not publish session.opened'));
    return room;
  }

  private scheduleUnload(room: Room): void {
    const existing = this.unloadTimers.get(room.key);
    if (existing) clearTimeout(existing);
    this.unloadTimers.set(
      room.key,
      setTimeout(() => {
        this.unloadTimers.delete(room.key);
        void this.unload(room);
      }, this.deps.settings.unloadDelayMs),
    );
  }

  /** Unloads a room nobody has open now (to make room in the memory budget). */
  private readonly unloadNow = async (room: Room): Promise<void> => {
    const timer = this.unloadTimers.get(room.key);
    if (timer) clearTimeout(timer);
    this.unloadTimers.delete(room.key);
    await this.unload(room);
  };

  /** Stores what the room holds, then frees it; if storage fails the room stays and is retried. */
  private async unload(room: Room): Promise<void> {
    try {
      if (this.writer.isPending(room.key)) await this.writer.flush(room.tenantId);
      await room.snapshot();
    } catch (error) {
      this.deps.logger.warn({ err: error, doc: room.key }, 'could not store document before unloading; keeping it loaded');
      if (room.size === 0) this.scheduleUnload(room);
      return;
    }
    if (room.size > 0 || this.rooms.get(room.key) !== room) return;
    this.rooms.delete(room.key);
    this.cluster?.detach(room);
    this.metrics.loadedDocuments.set(this.rooms.size);
    this.reports.forget(room);
    room.destroy();
  }

  /** Drops a room without storing its memory state; clients reconnect and reload from storage. */
  private evict(room: Room): void {
    if (this.rooms.get(room.key) !== room) return;
    this.rooms.delete(room.key);
    this.cluster?.detach(room);
    this.metrics.loadedDocuments.set(this.rooms.size);
    for (const ws of this.sockets) {
      if (ws.getUserData().state.room === room) ws.end(CloseCode.internalError, 'document reloaded after a failed update; reconnect');
    }
    this.hocuspocus?.closeRoom(room, 'document reloaded after a failed update; open it again');
    this.reports.forget(room);
    room.destroy();
  }

  /**
   * Rooms due for a snapshot are written one at a time, each after the event loop had its turn:
   * rooms that filled up together (documents opened together and edited at the same pace) would
   * otherwise encode their whole states in one tick, a stall of milliseconds for every client.
   */
  private readonly snapshotDue = (room: Room): void => {
    this.snapshotQueue.add(room);
    if (this.snapshotQueue.size === 1) setImmediate(this.nextSnapshot);
  };

  private readonly nextSnapshot = (): void => {
    const room = this.snapshotQueue.values().next().value;
    if (!room || this.closed) return;
    const done = () => {
      this.snapshotQueue.delete(room);
      if (this.snapshotQueue.size > 0) setImmediate(this.nextSnapshot);
    };
    if (!room.needsSnapshot) return done();
    room.snapshot().then(done, (error: unknown) => {
      this.deps.logger.warn({ err: error, doc: room.key }, 'snapshot failed; will retry');
      done();
    });
  };

  private readonly armSweep = (): void => {
    if (this.sweep || this.closed) return;
    this.sweep = setTimeout(() => {
      this.sweep = null;
      // A queue grows only when something is sent, and every send arms a look within SWEEP_MS.
      this.closeSlowConsumers();
    }, SWEEP_MS);
    this.sweep.unref();
  };

  /**
   * A client whose queue passes the limit is closed with 1013, except while the sync answer that
   * brought it the document is still draining: that one message may be as large as the document,
   * and closing for it would make a large document unreachable over a slow link (a reconnect loop).
   */
  private closeSlowConsumers(): void {
    const limit = this.deps.settings.maxBackpressureBytes;
    for (const ws of this.sockets) {
      const conn = ws.getUserData().state;
      const buffered = ws.getBufferedAmount();
      if (buffered <= limit) conn.syncAllowance = 0;
      else if (buffered > limit + conn.syncAllowance) ws.end(CloseCode.tryAgainLater, 'client too slow to keep up; reconnect');
    }
    this.hocuspocus?.closeSlowConsumers(limit);
  }

  /** Shutdown: everything accepted is written (or the deadline passes), then snapshots, then memory. */
  async close(deadline: number): Promise<boolean> {
    this.closed = true;
    if (this.sweep) clearTimeout(this.sweep);
    this.reports.close();
    await this.cluster?.close();
    for (const timer of this.unloadTimers.values()) clearTimeout(timer);
    this.unloadTimers.clear();
    const written = await this.writer.drain(deadline);
    for (const room of this.rooms.values()) {
      await room.snapshot().catch((error: unknown) => this.deps.logger.warn({ err: error, doc: room.key }, 'snapshot at shutdown failed'));
      room.destroy();
    }
    this.rooms.clear();
    if (!written) this.deps.logger.error('shutdown deadline passed with updates not yet stored');
    return written;
  }
}
