import { Repo, type DocumentId, type PeerId } from '@automerge/automerge-repo';
import { ClusterSync } from '../collab/cluster.js';
import type { MemoryBudget } from '../collab/memory-budget.js';
import type { Logger } from '../log.js';
import type { Principal } from '../server/auth.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { WebSocketRouter } from '../server/websocket.js';
import { forbidden } from '../server/errors.js';
import type { Storage } from '../storage/database.js';
import { TenantDocuments } from './documents.js';
import { AutomergeMetrics } from './metrics.js';
import { automergeRoute, UwsServerAdapter } from './network-adapter.js';
import type { AutomergeSettings } from './settings.js';
import { PendingFinds } from './pending-finds.js';
import { DatabaseStorageAdapter } from './storage-adapter.js';

export interface AutomergeDeps {
  settings: AutomergeSettings;
  /** Bytes queued to one slow client before it is closed with 1013 (collab's limit, which this route shares). */
  maxBackpressureBytes: number;
  /** With REDIS_URL: documents sync across nodes through one stream each, under this key prefix. */
  redis: { url: string; prefix: string } | null;
  /** Collab's memory budget, which the Automerge documents share with the Yjs ones. */
  budget: MemoryBudget | null;
  /** When a socket's token expires (Unix seconds). */
  expiresAt: (principal: Principal) => number | undefined;
  storage: Storage;
  ws: WebSocketRouter;
  metrics: ServerMetrics;
  logger: Logger;
}

interface TenantRepo {
  repo: Repo;
  network: UwsServerAdapter;
  storage: DatabaseStorageAdapter;
  documents: TenantDocuments;
  finds: PendingFinds;
}

/** How often idle documents are looked for (at most; the unload delay when shorter). */
const SWEEP_MS = 1_000;

/**
 * Automerge documents at `ws://HOST/automerge?token=…`, speaking automerge-repo's WebSocket
 * protocol: one automerge-repo `Repo` per tenant (created on its first connection), stored in the
 * tenant's `automerge_chunks` rows; with Redis, changes cross nodes on the documents' streams.
 */
export class AutomergeService {
  private readonly tenants = new Map<string, TenantRepo>();
  readonly metrics: AutomergeMetrics;
  private cluster: ClusterSync | null = null;
  private sweep: NodeJS.Timeout | null = null;
  private lastStoreFailure: { at: string; message: string } | null = null;

  constructor(private readonly deps: AutomergeDeps) {
    this.metrics = new AutomergeMetrics(deps.metrics.registry);
    this.metrics.state = () => this.state();
    deps.budget?.share({
      used: () => this.memoryBytes(),
      reclaimable: () => [...this.tenants.values()].some((t) => t.documents.idle > 0),
      unloadIdle: async () => {
        for (const { documents } of this.tenants.values()) await documents.unloadForBudget();
      },
    });
  }

  async start(): Promise<this> {
    const { redis, logger } = this.deps;
    if (redis) this.cluster = await new ClusterSync(redis.url, { prefix: redis.prefix, maxLen: 10_000, logger, metrics: this.metrics }).connect();
    const every = Math.max(50, Math.min(SWEEP_MS, this.deps.settings.unloadDelayMs));
    this.sweep = setInterval(() => void this.unloadIdle(), every);
    this.sweep.unref();
    return this;
  }

  /** `/automerge`: registered once the module has started, before the server listens. */
  registerRoutes(): void {
    this.deps.ws.route(
      '/automerge',
      automergeRoute(({ principal }) => {
        // Roles are per document and checked per message; a token naming none has nothing to do here.
        if (Object.keys(principal.docs).length === 0) throw forbidden('the token gives no role on any document');
        return this.tenant(principal.tenantId).network;
      }),
    );
  }

  /** The tenant's repo, as the server holds it (other modules read or change documents through it). */
  repo(tenantId: string): Repo {
    return this.tenant(tenantId).repo;
  }

  /** The tenant's loaded documents (for tests and checks). */
  documents(tenantId: string): TenantDocuments {
    return this.tenant(tenantId).documents;
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const { documents } of this.tenants.values()) bytes += documents.memoryBytes();
    return bytes;
  }

  /** What `/healthz` shows: loaded documents, their memory, and writes that fail and are retried. */
  health(): Record<string, unknown> {
    const { documents, memoryBytes, retryingWrites } = this.state();
    return { documentsLoaded: documents, memoryBytes, memoryBudgetBytes: this.deps.budget?.budget ?? 0, retryingWrites, lastStoreFailure: this.lastStoreFailure, cluster: this.cluster !== null };
  }

  private state() {
    let documents = 0;
    let retryingWrites = 0;
    for (const tenant of this.tenants.values()) {
      documents += tenant.documents.documents;
      retryingWrites += tenant.storage.retrying;
    }
    return { documents, memoryBytes: this.memoryBytes(), retryingWrites };
  }

  private async unloadIdle(): Promise<void> {
    for (const { documents } of this.tenants.values()) {
      try {
        const unloaded = await documents.unloadIdle();
        if (unloaded > 0) this.metrics.unloads.inc({ reason: 'idle' }, unloaded);
      } catch (error) {
        this.deps.logger.warn({ err: error }, 'could not unload idle automerge documents');
      }
    }
  }

  private tenant(tenantId: string): TenantRepo {
    let tenant = this.tenants.get(tenantId);
    if (tenant) return tenant;
    const { maxBackpressureBytes, storage, logger, settings, budget } = this.deps;
    const chunks = new DatabaseStorageAdapter(storage, tenantId, {
      onWriteFailed: (error) => {
        this.metrics.storeFailures.inc();
        this.lastStoreFailure = { at: new Date().toISOString(), message: error instanceof Error ? error.message : String(error) };
        logger.warn({ err: error, tenant: tenantId }, 'an automerge storage write failed; retrying with backoff');
      },
      onSaved: (key) => documents.saved(key),
    });
    const network = new UwsServerAdapter({
      logger,
      maxBackpressureBytes,
      onRefused: (reason) => this.metrics.refused.inc({ reason }),
      documentFor: (documentId) => {
        const handle = repo.handles[documentId];
        return handle?.isReady() ? handle.doc() : undefined;
      },
      intake: (peerId, message) => {
        if (message.type === 'request') finds.asked(peerId, message.documentId as DocumentId);
        return documents.intake(peerId, message);
      },
      onPeerLeft: (peerId) => {
        documents.peerLeft(peerId);
        finds.peerLeft(peerId);
      },
      expiresAt: this.deps.expiresAt,
    });
    const repo: Repo = new Repo({
      // Stable, so a client reconnecting after a restart meets the same peer.
      peerId: `veza-server:${tenantId}` as PeerId,
      network: [network],
      storage: chunks,
      saveDebounceRate: settings.saveDelayMs,
      shareConfig: {
        // A server announces nothing: a client gets a document by asking for its id, and only one
        // its token names (or `*`).
        announce: async () => false,
        access: async (peerId, documentId) => network.mayRead(peerId, documentId),
      },
    });
    const documents: TenantDocuments = new TenantDocuments({
      tenantId,
      repo,
      storage: chunks,
      settings,
      cluster: this.cluster,
      logger,
      budget,
      counters: {
        journaled: () => this.metrics.journaled.inc(),
        unloaded: (reason) => this.metrics.unloads.inc({ reason }),
      },
    });
    const finds: PendingFinds = new PendingFinds({
      repo,
      answerWithinMs: settings.findAnswerMs,
      answer: (peerId, documentId) => network.send({ type: 'doc-unavailable', senderId: repo.peerId, targetId: peerId, documentId }),
    });
    tenant = { repo, network, storage: chunks, documents, finds };
    this.tenants.set(tenantId, tenant);
    return tenant;
  }

  /**
   * Shutdown: disconnects every client and writes what each repo has not stored yet. Not
   * `repo.shutdown()`: its flush throws on a handle that is not ready (a document a client asked
   * for and nobody had), and would then skip the rest.
   */
  async close(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    const tenants = [...this.tenants.values()];
    this.tenants.clear();
    await Promise.all(
      tenants.map(async ({ repo, network, storage, finds }) => {
        finds.close();
        network.disconnect();
        await repo.flush(Object.values(repo.handles).filter((handle) => handle.isReady()).map((handle) => handle.documentId));
        await storage.close();
      }),
    );
    await this.cluster?.close();
  }
}
