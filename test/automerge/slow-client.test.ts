import { encodeSyncMessage } from '@automerge/automerge';
import { cbor } from '@automerge/automerge-repo';
import { expect, it } from 'vitest';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { automergeUrl, clientRepo, closeOf, join, rawSocket, UNLIMITED } from './support.js';

/**
 * A client that stops reading is closed with 1013 and a reason once more than
 * VEZA_COLLAB_MAX_BACKPRESSURE_BYTES wait for it, instead of the server buffering without bound.
 * Ephemeral messages (presence) are what the server forwards without flow control, so they fill it.
 */
it('closes a client that stops reading with 1013', async () => {
  const server = await startTestServer({ ...UNLIMITED, 'collab-max-backpressure-bytes': '65536' });
  const token = await server.veza.auth.sign({ sub: 'slow', docs: { '*': 'editor' } });
  const alice = clientRepo(automergeUrl(server, token));
  try {
    const handle = alice.create<{ n: number }>({ n: 1 });
    await waitFor(() => server.veza.server.ws.connections > 0, 'alice to connect');

    const slow = await rawSocket(automergeUrl(server, token));
    const serverPeer = await join(slow, 'slow-peer');
    const empty = encodeSyncMessage({ heads: [], need: [], have: [], changes: [] });
    const answered = new Promise((resolve) => slow.once('message', resolve));
    slow.send(cbor.encode({ type: 'request', senderId: 'slow-peer', targetId: serverPeer, documentId: handle.documentId, data: empty }));
    await answered;
    const closed = closeOf(slow);
    // The ws client's TCP socket: pausing it stops reading, as a stalled browser tab would.
    (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    const payload = 'x'.repeat(100_000);
    // Until the server lets go of it (its close frame waits behind what the client has not read).
    // The kernel's socket buffers take tens of MB before the server sees backpressure; a busy machine
    // needs more time, not more data, so keep sending (briefly yielding) until the server lets go.
    for (let i = 0; i < 3000 && server.veza.server.ws.connections > 1; i++) {
      handle.broadcast({ payload, i });
      await new Promise((resolve) => setTimeout(resolve, i % 10 === 0 ? 5 : 0));
    }
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toEqual({ code: 1013, reason: 'client too slow to keep up; reconnect' });
  } finally {
    await alice.shutdown();
    await server.stop();
  }
});
