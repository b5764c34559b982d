// What a room is given by the collaboration service: storage, the writer, the bus, its limits, and
// the callbacks through which it tells the service about itself (generic in the room, which imports it).
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import type { ClusterSync } from './cluster.js';
import type { DocumentStore } from './document-store.js';
import type { CollabMetrics } from './metrics.js';
import type { UpdateWriter } from './update-writer.js';

export interface RoomDeps<R> {
  store: DocumentStore;
  writer: UpdateWriter;
  bus: EventBus;
  metrics: CollabMetrics;
  logger: Logger;
  /** Sends to every connection of a topic (used when no sender is left to exclude). */
  publish(topic: string, message: Uint8Array): void;
  onEmpty(room: R): void;
  /** The room's document can no longer be trusted: close its connections and forget it. */
  onCorrupt(room: R): void;
  maxDocBytes: number;
  snapshotEvery: number;
  /** The room has logged `snapshotEvery` updates since its last snapshot: the service snapshots rooms one at a time. */
  snapshotDue(room: R): void;
  /** The room has changes to report as `session.updated`; the service calls `reportUpdates` for all such rooms at once. */
  changed(room: R): void;
  /** Other nodes serving the same documents (Redis), when configured. */
  cluster: ClusterSync | null;
  /** Something was queued to this room's sockets (the slow-client check looks only after traffic). */
  sent(): void;
  /** Bytes queued to the room's connections: updates and presence fanned out, sync answers (metering). */
  egress?(tenantId: string, bytes: number): void;
}
