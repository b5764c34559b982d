import { Repo, type PeerId } from '@automerge/automerge-repo';
import { Counter } from 'prom-client';
import type { Logger } from '../log.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { WebSocketRouter } from '../server/websocket.js';
import { forbidden } from '../server/errors.js';
import type { Storage } from '../storage/database.js';
import { automergeRoute, UwsServerAdapter } from './network-adapter.js';
import { DatabaseStorageAdapter } from './storage-adapter.js';

export interface AutomergeDeps {
  /** Bytes queued to one slow client before it is closed with 1013 (collab's limit, which this route shares). */
  maxBackpressureBytes: number;
  storage: Storage;
  ws: WebSocketRouter;
  metrics: ServerMetrics;
  logger: Logger;
}

interface TenantRepo {
  repo: Repo;
  network: UwsServerAdapter;
  storage: DatabaseStorageAdapter;
}

/**
 * Automerge documents at `ws://HOST/automerge?token=…`, speaking automerge-repo's WebSocket
 * protocol: one automerge-repo `Repo` per tenant (created on its first connection), stored in the
 * tenant's `automerge_chunks` rows.
 */
export class AutomergeService {
  private readonly tenants = new Map<string, TenantRepo>();
  private readonly refused: Counter<'reason'>;

  constructor(private readonly deps: AutomergeDeps) {
    this.refused = new Counter({
      name: 'veza_automerge_refused_messages_total',
      help: 'Automerge messages refused: malformed (sender closed), read-only (changes stripped), no-role (document refused), peer-id-taken',
      labelNames: ['reason'],
      registers: [deps.metrics.registry],
    });
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

  private tenant(tenantId: string): TenantRepo {
    let tenant = this.tenants.get(tenantId);
    if (tenant) return tenant;
    const { maxBackpressureBytes, storage, logger } = this.deps;
    const network = new UwsServerAdapter({
      logger,
      maxBackpressureBytes,
      onRefused: (reason) => this.refused.inc({ reason }),
      documentFor: (documentId) => {
        const handle = repo.handles[documentId];
        return handle?.isReady() ? handle.doc() : undefined;
      },
    });
    const chunks = new DatabaseStorageAdapter(storage, tenantId);
    const repo: Repo = new Repo({
      // Stable, so a client reconnecting after a restart meets the same peer.
      peerId: `veza-server:${tenantId}` as PeerId,
      network: [network],
      storage: chunks,
      shareConfig: {
        // A server announces nothing: a client gets a document by asking for its id, and only one
        // its token names (or `*`).
        announce: async () => false,
        access: async (peerId, documentId) => network.mayRead(peerId, documentId),
      },
    });
    tenant = { repo, network, storage: chunks };
    this.tenants.set(tenantId, tenant);
    return tenant;
  }

  /**
   * Shutdown: disconnects every client and writes what each repo has not stored yet. Not
   * `repo.shutdown()`: its flush throws on a handle that is not ready (a document a client asked
   * for and nobody had), and would then skip the rest.
   */
  async close(): Promise<void> {
    const tenants = [...this.tenants.values()];
    this.tenants.clear();
    await Promise.all(
      tenants.map(async ({ repo, network, storage }) => {
        network.disconnect();
        await repo.flush(Object.values(repo.handles).filter((handle) => handle.isReady()).map((handle) => handle.documentId));
        await storage.close();
      }),
    );
  }
}
