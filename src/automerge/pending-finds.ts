import type { DocumentId, PeerId, Repo } from '@automerge/automerge-repo';

export interface PendingFindsOptions {
  repo: Repo;
  /** How long a client asking for a document may wait on a peer that claims it (the setting). */
  answerWithinMs: number;
  /** Tells the client "unavailable" (automerge-repo's `doc-unavailable` message). */
  answer: (peerId: PeerId, documentId: DocumentId) => void;
}

/**
 * A bounded wait for a client that asks for a document the server does not have.
 *
 * automerge-repo's server tells such a client "unavailable" only once every other peer that
 * asked about the document has said it lacks it too. A client that claims the document (its first
 * sync names the heads, its changes follow) and then goes quiet while staying connected (a frozen
 * tab, a dead link not noticed yet) holds every finder until its own timeout, a minute later.
 * So once storage was read and found nothing (the handle is `requesting`), a finder still waiting
 * after the bound is told "unavailable" here. The repo still counts it as a peer that wants the
 * document: if the document arrives later, the finder receives it all the same.
 */
export class PendingFinds {
  private readonly timers = new Map<PeerId, Map<DocumentId, NodeJS.Timeout>>();

  constructor(private readonly options: PendingFindsOptions) {}

  /** A client asked for a document (a `request` message). */
  asked(peerId: PeerId, documentId: DocumentId): void {
    if (this.options.repo.handles[documentId]?.isReady()) return;
    let mine = this.timers.get(peerId);
    if (mine?.has(documentId)) return;
    if (!mine) this.timers.set(peerId, (mine = new Map()));
    this.arm(peerId, documentId, mine);
  }

  /** The client left: nothing to answer any more. */
  peerLeft(peerId: PeerId): void {
    for (const timer of this.timers.get(peerId)?.values() ?? []) clearTimeout(timer);
    this.timers.delete(peerId);
  }

  close(): void {
    for (const peerId of [...this.timers.keys()]) this.peerLeft(peerId);
  }

  private arm(peerId: PeerId, documentId: DocumentId, mine: Map<DocumentId, NodeJS.Timeout>): void {
    const timer = setTimeout(() => {
      const handle = this.options.repo.handles[documentId];
      // Storage is still being read: the bound counts from when it has answered.
      if (handle?.inState(['idle', 'loading'])) return this.arm(peerId, documentId, mine);
      mine.delete(documentId);
      if (mine.size === 0) this.timers.delete(peerId);
      // Found, or already answered "unavailable" by the repo itself.
      if (!handle?.inState(['requesting'])) return;
      this.options.answer(peerId, documentId);
    }, this.options.answerWithinMs);
    timer.unref();
    mine.set(documentId, timer);
  }
}
