import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * A counter for the per-message hot path: adding is a plain number increment, and the total moves
 * into the Prometheus counter when it is scraped (prom-client's own inc costs far more per call).
 */
export class HotCounter {
  private pending = 0;
  constructor(name: string, help: string, registry: Registry) {
    const take = () => {
      const n = this.pending;
      this.pending = 0;
      return n;
    };
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const n = take();
        if (n > 0) this.inc(n);
      },
    });
  }

  inc(n = 1): void {
    this.pending += n;
  }
}

/** Collaboration instruments, on the server's registry. */
export class CollabMetrics {
  readonly loadedDocuments: Gauge;
  readonly connections: Gauge<'role'>;
  readonly messagesIn: HotCounter;
  readonly updatesIn: HotCounter;
  readonly updatesOut: HotCounter;
  readonly bytesIn: HotCounter;
  readonly bytesOut: HotCounter;
  readonly rejectedWrites: Counter<'reason'>;
  readonly malformed: Counter<'kind'>;
  readonly foreignPresence: Counter;
  readonly storedUpdates: Counter;
  readonly storeFailures: Counter;
  readonly journaledUpdates: Counter;
  readonly flushSeconds: Histogram;
  readonly loadSeconds: Histogram;
  readonly propagationSeconds: Histogram;
  readonly clusterUpdatesIn: HotCounter;
  readonly clusterPartitions: Counter;

  /** Read at scrape time, so the hot path never touches a gauge. */
  pendingBytes: () => number = () => 0;
  /** Tenants whose update log writes are failing, with the bytes each keeps in memory (read at scrape time). */
  failingTenants: () => { tenantId: string; pendingBytes: number }[] = () => [];
  readonly tenantStoreFailures: Counter<'tenant'>;
  /** The loaded documents' estimated memory and its budget (read at scrape time). */
  memory: () => { usedBytes: number; budgetBytes: number } = () => ({ usedBytes: 0, budgetBytes: 0 });
  readonly budgetRefusals: Counter<'reason'>;
  readonly budgetUnloads: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    const pending = () => this.pendingBytes();
    new Gauge({
      name: 'veza_collab_pending_bytes',
      help: 'Accepted update bytes not yet in storage',
      registers,
      collect() {
        this.set(pending());
      },
    });
    const memory = () => this.memory();
    new Gauge({
      name: 'veza_collab_memory_bytes',
      help: 'Estimated memory of the loaded documents (see docs/collab.md, "Memory budget")',
      registers,
      collect() {
        this.set(memory().usedBytes);
      },
    });
    new Gauge({
      name: 'veza_collab_memory_budget_bytes',
      help: 'What the loaded documents may cost in memory (0: no budget)',
      registers,
      collect() {
        this.set(memory().budgetBytes);
      },
    });
    this.budgetRefusals = new Counter({ name: 'veza_collab_admission_refusals_total', help: 'Document opens refused: per-user open documents, load pace, memory budget', labelNames: ['reason'], registers });
    this.budgetUnloads = new Counter({ name: 'veza_collab_budget_unloads_total', help: 'Documents nobody had open, unloaded early to keep within the memory budget', registers });
    this.loadedDocuments = new Gauge({ name: 'veza_collab_documents_loaded', help: 'Documents held in memory', registers });
    this.connections = new Gauge({ name: 'veza_collab_connections', help: 'Open collaboration connections by role', labelNames: ['role'], registers });
    this.messagesIn = new HotCounter('veza_collab_messages_in_total', 'Collaboration messages received (any type, valid or not)', registry);
    this.updatesIn = new HotCounter('veza_collab_updates_in_total', 'Document updates received from writers', registry);
    this.updatesOut = new HotCounter('veza_collab_updates_out_total', 'Update deliveries to clients (one per receiving connection)', registry);
    this.bytesIn = new HotCounter('veza_collab_bytes_in_total', 'Bytes of document updates received', registry);
    this.bytesOut = new HotCounter('veza_collab_bytes_out_total', 'Bytes of updates sent (fan-out counted per connection)', registry);
    this.rejectedWrites = new Counter({ name: 'veza_collab_rejected_writes_total', help: 'Document changes refused, by reason', labelNames: ['reason'], registers });
    this.malformed = new Counter({ name: 'veza_collab_malformed_messages_total', help: 'Messages that could not be decoded, by kind', labelNames: ['kind'], registers });
    this.foreignPresence = new Counter({ name: 'veza_collab_foreign_presence_entries_total', help: "Awareness entries of another connection dropped from what a client sent (y-websocket clients echo others' entries; a forger's land here too)", registers });
    this.storedUpdates = new Counter({ name: 'veza_collab_updates_stored_total', help: 'Updates written to the update log', registers });
    this.storeFailures = new Counter({ name: 'veza_collab_store_failures_total', help: 'Failed update log writes (retried)', registers });
    this.tenantStoreFailures = new Counter({ name: 'veza_collab_tenant_store_failures_total', help: 'Failed update log writes of one tenant (retried with backoff; other tenants are written meanwhile)', labelNames: ['tenant'], registers });
    const failing = () => this.failingTenants();
    new Gauge({
      name: 'veza_collab_tenant_failing_pending_bytes',
      help: 'Accepted update bytes kept in memory for a tenant whose update log writes are failing',
      labelNames: ['tenant'],
      registers,
      collect() {
        this.reset();
        for (const { tenantId, pendingBytes } of failing()) this.set({ tenant: tenantId }, pendingBytes);
      },
    });
    this.journaledUpdates = new Counter({ name: 'veza_collab_updates_journaled_total', help: 'Updates made durable in the update journal before their move to the database (embedded database)', registers });
    this.flushSeconds = new Histogram({ name: 'veza_collab_flush_seconds', help: 'Group commit duration', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    this.loadSeconds = new Histogram({ name: 'veza_collab_load_seconds', help: 'Document load duration', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers });
    this.clusterUpdatesIn = new HotCounter('veza_collab_cluster_updates_in_total', 'Updates applied from other nodes (Redis streams)', registry);
    this.clusterPartitions = new Counter({ name: 'veza_collab_cluster_partitions_total', help: 'Times this node lost Redis (it keeps serving local clients and catches up)', registers });
    this.propagationSeconds = new Histogram({
      name: 'veza_collab_propagation_seconds',
      help: 'From receiving an update to handing it to the other connections (server side; one update in 16 is timed)',
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05],
      registers,
    });
  }
}
