import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Collaboration instruments, on the server's registry. */
export class CollabMetrics {
  readonly loadedDocuments: Gauge;
  readonly connections: Gauge<'role'>;
  readonly messagesIn: Counter;
  readonly updatesIn: Counter;
  readonly updatesOut: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly rejectedWrites: Counter<'reason'>;
  readonly malformed: Counter<'kind'>;
  readonly storedUpdates: Counter;
  readonly storeFailures: Counter;
  readonly pendingBytes: Gauge;
  readonly flushSeconds: Histogram;
  readonly loadSeconds: Histogram;
  readonly propagationSeconds: Histogram;
  readonly clusterUpdatesIn: Counter;
  readonly clusterPartitions: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.loadedDocuments = new Gauge({ name: 'veza_collab_documents_loaded', help: 'Documents held in memory', registers });
    this.connections = new Gauge({ name: 'veza_collab_connections', help: 'Open collaboration connections by role', labelNames: ['role'], registers });
    this.messagesIn = new Counter({ name: 'veza_collab_messages_in_total', help: 'Collaboration messages received (any type, valid or not)', registers });
    this.updatesIn = new Counter({ name: 'veza_collab_updates_in_total', help: 'Document updates accepted from clients', registers });
    this.updatesOut = new Counter({ name: 'veza_collab_updates_out_total', help: 'Update deliveries to clients (one per receiving connection)', registers });
    this.bytesIn = new Counter({ name: 'veza_collab_bytes_in_total', help: 'Bytes of collaboration messages received', registers });
    this.bytesOut = new Counter({ name: 'veza_collab_bytes_out_total', help: 'Bytes of collaboration messages sent (fan-out counted per connection)', registers });
    this.rejectedWrites = new Counter({ name: 'veza_collab_rejected_writes_total', help: 'Document changes refused, by reason', labelNames: ['reason'], registers });
    this.malformed = new Counter({ name: 'veza_collab_malformed_messages_total', help: 'Messages that could not be decoded, by kind', labelNames: ['kind'], registers });
    this.storedUpdates = new Counter({ name: 'veza_collab_updates_stored_total', help: 'Updates written to the update log', registers });
    this.storeFailures = new Counter({ name: 'veza_collab_store_failures_total', help: 'Failed update log writes (retried)', registers });
    this.pendingBytes = new Gauge({ name: 'veza_collab_pending_bytes', help: 'Accepted update bytes not yet in storage', registers });
    this.flushSeconds = new Histogram({ name: 'veza_collab_flush_seconds', help: 'Group commit duration', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    this.loadSeconds = new Histogram({ name: 'veza_collab_load_seconds', help: 'Document load duration', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers });
    this.clusterUpdatesIn = new Counter({ name: 'veza_collab_cluster_updates_in_total', help: 'Updates applied from other nodes (Redis streams)', registers });
    this.clusterPartitions = new Counter({ name: 'veza_collab_cluster_partitions_total', help: 'Times this node lost Redis (it keeps serving local clients and catches up)', registers });
    this.propagationSeconds = new Histogram({
      name: 'veza_collab_propagation_seconds',
      help: 'From receiving an update to handing it to the other connections (server side)',
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05],
      registers,
    });
  }
}
