import { getHeads, loadIncremental, save, stats, type Doc } from '@automerge/automerge';
import type { DocHandle, DocumentId, PeerId, Repo } from '@automerge/automerge-repo';
import type { ClusterRoom, ClusterSync } from '../collab/cluster.js';
import type { Logger } from '../log.js';
import { CloseCode } from '../server/errors.js';
import { applied, headsHash, journalEntry, type JournalEntry } from './change-journal.js';
import { forgetDepartedPeer } from './departed-peers.js';
import type { RepoMessage } from './messages.js';
import { Refusal } from './network-adapter.js';
import type { AutomergeSettings } from './settings.js';
import type { DatabaseStorageAdapter } from './storage-adapter.js';

/**
 * What a loaded Automerge document costs, estimated from what it holds: 160 bytes per operation
 * plus twice the encoded size. Measured here: a document of 80,102 operations in 20,001 changes
 * (50 lists of notes as maps), 103 KB encoded, took 12.3 MB of resident memory per loaded copy,
 * about 154 bytes per operation (bench/RESULTS.md, "Automerge across nodes").
 */
export const BYTES_PER_OP = 160;
export const BYTES_PER_ENCODED_BYTE = 2;

export function estimateAutomergeBytes(encodedBytes: number, ops: number): number {
  return BYTES_PER_ENCODED_BYTE * encodedBytes + BYTES_PER_OP * ops;
}

/** The memory budget shared with the Yjs documents (collab's), as this side sees it. */
export interface SharedBudget {
  readonly budget: number;
  /** Both kinds' estimated memory. */
  used(): number;
  /** Unloads idle documents of both kinds while the total (plus `extra`) passes the budget; resolves with whether it still does. */
  unloadIdle(extra?: number): Promise<boolean>;
}

export interface DocumentsDeps {
  tenantId: string;
  repo: Repo;
  storage: DatabaseStorageAdapter;
  settings: AutomergeSettings;
  cluster: ClusterSync | null;
  logger: Logger;
  budget: SharedBudget | null;
  counters: {
    journaled(): void;
    unloaded(reason: 'idle' | 'memory-budget'): void;
  };
}

interface Loaded {
  handle: DocHandle<unknown>;
  /** Its size when loaded plus the changes accepted since (the size limit's measure). */
  encodedBytes: number;
  memoryBytes: number;
  room: ClusterRoom | null;
}

/**
 * The documents of one tenant's repo on this node: changes made durable before the repo applies
 * (and so before it answers with heads that include them), the Redis stream the other nodes tail,
 * the size limit, and unloading documents no connected client uses.
 *
 * A change a client sends is written as its own chunk (`[doc, "incremental", "journal-<sha256>"]`)
 * before the repo sees the message, so a node killed at any point has stored every change it
 * acknowledged; automerge-repo's loader reads those chunks with its own, and they are deleted once
 * a snapshot the repo stored holds them.
 */
export class TenantDocuments {
  /** Each used document: who uses it here and, once the repo has it ready, what it costs. */
  private readonly users = new Map<DocumentId, Set<PeerId>>();
  private readonly idleSince = new Map<DocumentId, number>();
  private readonly loaded = new Map<DocumentId, Loaded>();
  private readonly byPeer = new Map<PeerId, Set<DocumentId>>();
  /** Journal entries not yet covered by a stored snapshot, per document. */
  private readonly journal = new Map<DocumentId, JournalEntry[]>();
  private readonly unloading = new Set<DocumentId>();

  constructor(private readonly deps: DocumentsDeps) {}

  /** Loaded documents and their estimated memory. */
  get documents(): number {
    return this.loaded.size;
  }

  /** Documents no connected client uses (unloaded after the delay, or sooner for the memory budget). */
  get idle(): number {
    return this.idleSince.size;
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const doc of this.loaded.values()) bytes += doc.memoryBytes;
    return bytes;
  }

  /**
   * A client's message, before the repo sees it: notes who uses the document and, for changes,
   * writes them first. Throws a Refusal (or ProtocolError) to refuse the message.
   */
  intake(peerId: PeerId, message: RepoMessage): { durable: Promise<void>; peerGone(): void } | null {
    if (!('documentId' in message)) return null;
    const documentId = message.documentId as DocumentId;
    this.use(peerId, documentId);
    if (message.type !== 'sync' && message.type !== 'request') return null;
    const entry = journalEntry(documentId, message.data);
    const revived = this.reviveIfStored(documentId);
    if (!entry) return revived ? { durable: revived, peerGone: () => undefined } : null;
    const loaded = this.loaded.get(documentId);
    const limit = this.deps.settings.maxDocBytes;
    if (loaded && loaded.encodedBytes + entry.bytes.byteLength > limit) {
      throw new Refusal('too-big', CloseCode.tooBig, `the change would take the document past its limit of ${limit} bytes`);
    }
    const durable = (async () => {
      await revived;
      if (!this.deps.repo.handles[documentId]?.isReady()) await this.makeRoom();
      await this.deps.storage.saveOnce(entry.key, entry.bytes);
      this.deps.counters.journaled();
      let entries = this.journal.get(documentId);
      if (!entries) this.journal.set(documentId, (entries = []));
      entries.push(entry);
      if (loaded) loaded.encodedBytes += entry.bytes.byteLength;
      this.deps.cluster?.publish(this.room(documentId), entry.bytes);
    })();
    return { durable, peerGone: () => this.applyChanges(documentId, entry.bytes) };
  }

  /**
   * A document the repo found nowhere stays "unavailable" in it, and the repo never looks at
   * storage again. On several nodes it may have been stored since by another node: a client that
   * asks again finds it, and the clients told "unavailable" receive it.
   */
  private reviveIfStored(documentId: DocumentId): Promise<void> | null {
    const handle = this.deps.repo.handles[documentId];
    if (!handle?.inState(['unavailable'])) return null;
    return (async () => {
      const chunks = await this.deps.storage.loadRange([documentId]);
      const parts = chunks.filter((c) => (c.key[1] === 'snapshot' || c.key[1] === 'incremental') && c.data).map((c) => c.data!);
      if (parts.length === 0 || !handle.inState(['unavailable'])) return;
      handle.update((doc) => parts.reduce((merged, part) => loadIncremental(merged, part), doc));
    })();
  }

  /** A peer left: the documents it used may become idle. */
  peerLeft(peerId: PeerId): void {
    const docs = this.byPeer.get(peerId);
    if (!docs) return;
    this.byPeer.delete(peerId);
    forgetDepartedPeer(this.deps.repo, peerId, docs);
    const now = Date.now();
    for (const documentId of docs) {
      const users = this.users.get(documentId);
      users?.delete(peerId);
      if (users?.size === 0) this.idleSince.set(documentId, now);
    }
  }

  /** A chunk is stored: a snapshot of the document as loaded here covers its journal entries. */
  saved(key: readonly string[]): void {
    if (key[1] !== 'snapshot' || key[2] === undefined) return;
    const documentId = key[0] as DocumentId;
    const entries = this.journal.get(documentId);
    const handle = this.deps.repo.handles[documentId];
    if (!entries || !handle?.isReady()) return;
    const doc = handle.doc() as Doc<unknown>;
    if (headsHash(doc) !== key[2]) return;
    const covered = entries.filter((entry) => applied(doc, entry));
    if (covered.length === 0) return;
    this.journal.set(documentId, entries.filter((entry) => !covered.includes(entry)));
    for (const entry of covered) void this.deps.storage.remove(entry.key);
  }

  /** Stores and frees the documents no connected client has used for the unload delay. */
  async unloadIdle(now = Date.now(), force = false): Promise<number> {
    let unloaded = 0;
    for (const [documentId, since] of [...this.idleSince]) {
      if (!force && now - since < this.deps.settings.unloadDelayMs) continue;
      if (await this.unload(documentId)) unloaded++;
    }
    return unloaded;
  }

  /** Stores and frees one document nobody here uses; false when it is in use or could not be stored. */
  async unload(documentId: DocumentId): Promise<boolean> {
    if ((this.users.get(documentId)?.size ?? 0) > 0 || this.unloading.has(documentId)) return false;
    // While writes fail the document stays loaded: unloading would wait on a save that cannot finish.
    if (this.deps.storage.retrying > 0) return false;
    const { repo, cluster } = this.deps;
    const handle = repo.handles[documentId];
    this.unloading.add(documentId);
    try {
      if (handle?.isReady()) {
        await repo.flush([documentId]);
        // A client may have come back while it was written.
        if ((this.users.get(documentId)?.size ?? 0) > 0) return false;
        // Unloading empties the handle's document and reports that as a change: the repo would
        // then store the empty document as a snapshot and delete the real one. Nothing may listen.
        handle.removeAllListeners('heads-changed');
        handle.removeAllListeners('change');
        await repo.removeFromCache(documentId);
      }
      const loaded = this.loaded.get(documentId);
      if (loaded?.room) cluster?.detach(loaded.room);
      this.loaded.delete(documentId);
      this.users.delete(documentId);
      this.idleSince.delete(documentId);
      // What the journal holds is in storage: the repo's next load reads it with its own chunks.
      this.journal.delete(documentId);
      return true;
    } catch (error) {
      this.deps.logger.warn({ err: error, doc: documentId }, 'could not unload an automerge document; it stays loaded');
      return false;
    } finally {
      this.unloading.delete(documentId);
    }
  }

  /** Evicts documents nobody uses, oldest idle first, while the shared budget is passed. */
  async unloadForBudget(): Promise<boolean> {
    const budget = this.deps.budget;
    if (!budget || budget.budget === 0) return false;
    const idle = [...this.idleSince].sort((a, b) => a[1] - b[1]);
    for (const [documentId] of idle) {
      if (budget.used() < budget.budget) return false;
      if (await this.unload(documentId)) this.deps.counters.unloaded('memory-budget');
    }
    return budget.used() >= budget.budget;
  }

  /** Before a document loads: room in the shared budget, or a refusal (close 1013). */
  private async makeRoom(): Promise<void> {
    const budget = this.deps.budget;
    if (!budget || budget.budget === 0 || budget.used() < budget.budget) return;
    if (!(await this.unloadForBudget())) return;
    if (!(await budget.unloadIdle(0))) return;
    // A node always takes one document, however large.
    if (![...this.loaded.values()].some((doc) => doc.handle.isReady())) return;
    throw new Refusal('memory-budget', CloseCode.tryAgainLater, "the server's memory budget for documents is reached; retry later");
  }

  private use(peerId: PeerId, documentId: DocumentId): void {
    let users = this.users.get(documentId);
    if (!users) this.users.set(documentId, (users = new Set()));
    users.add(peerId);
    this.idleSince.delete(documentId);
    let docs = this.byPeer.get(peerId);
    if (!docs) this.byPeer.set(peerId, (docs = new Set()));
    docs.add(documentId);
    if (!this.loaded.has(documentId)) this.watch(documentId);
  }

  /** Once the repo holds the document ready: its cost, and the stream of the other nodes' changes. */
  private watch(documentId: DocumentId): void {
    // After the repo has started its own lookup of the message's document (it names the handle).
    setImmediate(() => {
      const handle = this.deps.repo.handles[documentId];
      if (!handle || this.loaded.has(documentId)) return;
      const loaded: Loaded = { handle, encodedBytes: 0, memoryBytes: 0, room: null };
      this.loaded.set(documentId, loaded);
      handle.whenReady(['ready']).then(
        async () => {
          if (this.loaded.get(documentId) !== loaded) return;
          this.measure(loaded, true);
          // Also emitted when the handle unloads (its document is then empty and not readable).
          handle.on('heads-changed', () => handle.isReady() && this.measure(loaded, false));
          if (this.deps.cluster) {
            loaded.room = this.room(documentId);
            await this.deps.cluster.attach(loaded.room);
          }
          void this.unloadForBudget().catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not unload idle automerge documents over the memory budget'));
        },
        () => {
          // Never became ready (nobody had it): looked at again on its next message.
          if (this.loaded.get(documentId) === loaded) this.loaded.delete(documentId);
        },
      );
    });
  }

  private measure(loaded: Loaded, full: boolean): void {
    const doc = loaded.handle.doc() as Doc<unknown>;
    if (full) loaded.encodedBytes = save(doc).byteLength;
    loaded.memoryBytes = estimateAutomergeBytes(loaded.encodedBytes, stats(doc).numOps);
  }

  /** Changes from another node (or a closed client's last durable message) applied to the loaded document. */
  applyChanges(documentId: DocumentId, bytes: Uint8Array): void {
    const handle = this.deps.repo.handles[documentId];
    if (!handle?.isReady()) return;
    const before = getHeads(handle.doc() as Doc<unknown>).join();
    handle.update((doc) => loadIncremental(doc, bytes));
    const loaded = this.loaded.get(documentId);
    if (loaded && getHeads(handle.doc() as Doc<unknown>).join() !== before) loaded.encodedBytes += bytes.byteLength;
  }

  private room(documentId: DocumentId): ClusterRoom {
    const existing = this.loaded.get(documentId)?.room;
    if (existing) return existing;
    return {
      key: `${this.deps.tenantId}/${documentId}`,
      applyRemote: (bytes) => this.applyChanges(documentId, bytes),
      fullState: () => {
        const handle = this.deps.repo.handles[documentId];
        return handle?.isReady() ? save(handle.doc() as Doc<unknown>) : new Uint8Array(0);
      },
      reloadFromStorage: async () => {
        const chunks = await this.deps.storage.loadRange([documentId]);
        for (const chunk of chunks) if ((chunk.key[1] === 'snapshot' || chunk.key[1] === 'incremental') && chunk.data) this.applyChanges(documentId, chunk.data);
      },
    };
  }
}
