import { Counter, Gauge, type Registry } from 'prom-client';
import { HotCounter } from '../collab/metrics.js';

/** The Automerge documents' instruments, on the server's registry; gauges are read at scrape time. */
export class AutomergeMetrics {
  readonly refused: Counter<'reason'>;
  readonly journaled: Counter;
  readonly unloads: Counter<'reason'>;
  readonly storeFailures: Counter;
  readonly clusterUpdatesIn: HotCounter;
  readonly clusterPartitions: Counter;
  /** Read at scrape time, set by the service. */
  state: () => { documents: number; memoryBytes: number; retryingWrites: number } = () => ({ documents: 0, memoryBytes: 0, retryingWrites: 0 });

  constructor(registry: Registry) {
    const registers = [registry];
    const state = () => this.state();
    this.refused = new Counter({
      name: 'veza_automerge_refused_messages_total',
      help: 'Automerge messages refused: malformed (sender closed), read-only (changes stripped), no-role (document refused), peer-id-taken, too-big (1009), memory-budget (1013)',
      labelNames: ['reason'],
      registers,
    });
    this.journaled = new Counter({ name: 'veza_automerge_changes_journaled_total', help: "Clients' sync messages whose changes were stored before the repo applied them", registers });
    this.unloads = new Counter({ name: 'veza_automerge_unloads_total', help: 'Automerge documents stored and freed: idle (no client used them for the unload delay) or memory-budget', labelNames: ['reason'], registers });
    this.storeFailures = new Counter({ name: 'veza_automerge_store_failures_total', help: 'Failed Automerge storage writes (retried with backoff until they succeed)', registers });
    this.clusterUpdatesIn = new HotCounter('veza_automerge_cluster_changes_in_total', 'Automerge changes applied from other nodes (Redis streams)', registry);
    this.clusterPartitions = new Counter({ name: 'veza_automerge_cluster_partitions_total', help: 'Times the Automerge cluster sync lost Redis (it keeps serving local clients and catches up)', registers });
    new Gauge({
      name: 'veza_automerge_documents_loaded',
      help: 'Automerge documents held in memory',
      registers,
      collect() {
        this.set(state().documents);
      },
    });
    new Gauge({
      name: 'veza_automerge_memory_bytes',
      help: 'Estimated memory of the loaded Automerge documents (under the memory budget shared with the Yjs documents)',
      registers,
      collect() {
        this.set(state().memoryBytes);
      },
    });
    new Gauge({
      name: 'veza_automerge_store_retrying',
      help: 'Automerge storage writes that failed and wait to be tried again',
      registers,
      collect() {
        this.set(state().retryingWrites);
      },
    });
  }
}
