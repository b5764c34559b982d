import type { DocumentId, PeerId, Repo } from '@automerge/automerge-repo';

/** Every state a handle's lookup ends in (anything but idle and loading). */
const SETTLED = ['ready', 'requesting', 'unavailable', 'unloaded', 'deleted'] as const;

/**
 * Makes sure a peer that left no longer counts for the documents it used.
 *
 * automerge-repo forgets a peer when it leaves, but a message of that peer which was still waiting
 * for the repo's storage lookup of its document is handled after that, and puts the peer back
 * into the document's synchronizer. If the message claimed the document (a creator's first
 * message names its heads; the changes follow in the next one), the repo then waits for that
 * peer forever: it never has the document, and it never tells the clients that ask for it
 * "unavailable", since one peer still seems to have it. Once each lookup has ended, the peer is
 * removed again; the repo then answers those clients at once.
 */
export function forgetDepartedPeer(repo: Repo, peerId: PeerId, documentIds: Iterable<DocumentId>): void {
  for (const documentId of documentIds) {
    const handle = repo.handles[documentId];
    if (!handle) continue;
    void handle
      .whenReady([...SETTLED])
      // After the repo's own continuation of the lookup, which re-adds the peer.
      .then(() => new Promise((resolve) => setImmediate(resolve)))
      .then(
        () => {
          // Back already (a reconnection keeps its peer id): it speaks for itself again.
          if (repo.peers.includes(peerId)) return;
          const synchronizer = repo.synchronizer.docSynchronizers[documentId];
          if (synchronizer?.hasPeer(peerId)) synchronizer.endSync(peerId);
        },
        // A lookup that never ended: the repo gave the handle up itself.
        () => undefined,
      );
  }
}
