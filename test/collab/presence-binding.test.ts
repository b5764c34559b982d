import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awarenessMessage } from '../../src/collab/protocol.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient, type Client } from '../helpers/yjs.js';

/**
 * Presence is bound to the connection that set it: what a connection (a viewer's too) sends for
 * another's awareness entry is dropped, and the entry stays as its owner set it; the connection stays
 * open (y-websocket clients echo others' entries). The same user's new connection may take over its
 * own entry (a client that reconnects).
 */
describe('presence bound to its connection', () => {
  let server: TestServer;
  let ana: Client;
  let ben: Client;
  const doc = 'band';
  const token = (sub: string, role: 'editor' | 'viewer') => server.veza.auth.sign({ sub, docs: { [doc]: role } });

  beforeAll(async () => {
    server = await startTestServer();
    ana = await connectClient(server.url, doc, await token('ana', 'editor'));
    ben = await connectClient(server.url, doc, await token('ben', 'editor'));
    ana.provider.awareness.setLocalState({ user: 'ana' });
    await waitFor(() => ben.provider.awareness.getStates().get(ana.doc.clientID)?.user === 'ana', 'ben to see ana');
  }, 60_000);
  afterAll(async () => {
    ana?.destroy();
    ben?.destroy();
    await server?.stop();
  });

  /** One raw connection that sends `message` once open; resolves with how it was closed. */
  const raw = (tokenValue: string, message: Uint8Array) =>
    new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/collab/${doc}?token=${tokenValue}`);
      ws.on('open', () => ws.send(message));
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      // An accepted message leaves the socket open: close it after a moment.
      setTimeout(() => ws.close(1000), 1500);
    });

  /** An awareness message for client `id` at `clock` with `state` (null removes the entry). */
  const entry = (id: number, clock: number, state: unknown) => {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 1);
    encoding.writeVarUint(encoder, id);
    encoding.writeVarUint(encoder, clock);
    encoding.writeVarString(encoder, JSON.stringify(state));
    return awarenessMessage(encoding.toUint8Array(encoder));
  };
  const anaSeenByBen = () => ben.provider.awareness.getStates().get(ana.doc.clientID);
  const clockOfAna = () => ana.provider.awareness.meta.get(ana.doc.clientID)!.clock;

  it('drops what a viewer or another user sends for someone else\'s entry, which stays as its owner set it', async () => {
    const dropped = async () => Number(/^veza_collab_foreign_presence_entries_total (\d+)/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
    const before = await dropped();
    const vic = await token('vic', 'viewer');
    expect(await raw(vic, entry(ana.doc.clientID, clockOfAna() + 5, { user: 'forged' }))).toEqual({ code: 1000, reason: '' });
    expect(await raw(vic, entry(ana.doc.clientID, clockOfAna() + 6, null))).toEqual({ code: 1000, reason: '' });
    expect(await raw(await token('cy', 'editor'), entry(ana.doc.clientID, clockOfAna() + 7, { user: 'forged' }))).toEqual({ code: 1000, reason: '' });
    expect(await dropped()).toBe(before + 3);
    expect(anaSeenByBen()).toEqual({ user: 'ana' });
    expect(ana.provider.awareness.getStates().get(ana.doc.clientID)).toEqual({ user: 'ana' });
    // Of a message holding both, the sender's own entry still goes through.
    const mixed = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/collab/${doc}?token=${vic}`);
      const encoder = encoding.createEncoder();
      encoding.writeVarUint(encoder, 2);
      for (const [id, clock, state] of [[ana.doc.clientID, clockOfAna() + 8, { user: 'forged' }], [424242, 1, { user: 'vic' }]] as const) {
        encoding.writeVarUint(encoder, id);
        encoding.writeVarUint(encoder, clock);
        encoding.writeVarString(encoder, JSON.stringify(state));
      }
      ws.on('open', () => ws.send(awarenessMessage(encoding.toUint8Array(encoder))));
      void waitFor(() => ben.provider.awareness.getStates().get(424242)?.user === 'vic', 'ben to see vic\'s own entry').then(() => {
        ws.close(1000);
        resolve(424242);
      });
    });
    expect(mixed).toBe(424242);
    expect(anaSeenByBen()).toEqual({ user: 'ana' });
  });

  it('lets a viewer have presence of its own, seen by the others', async () => {
    const viewer = await connectClient(server.url, doc, await token('vic', 'viewer'));
    try {
      viewer.provider.awareness.setLocalState({ user: 'vic', watching: true });
      await waitFor(() => ben.provider.awareness.getStates().get(viewer.doc.clientID)?.user === 'vic', 'ben to see the viewer');
    } finally {
      viewer.destroy();
    }
    await waitFor(() => !ben.provider.awareness.getStates().has(viewer.doc.clientID), 'the viewer\'s entry to go with it');
  });

  it('lets the same user\'s new connection take over its entry', async () => {
    const again = await token('ana', 'editor');
    const closed = await raw(again, entry(ana.doc.clientID, clockOfAna() + 10, { user: 'ana', device: 'laptop' }));
    expect(closed.code).toBe(1000);
    await waitFor(() => anaSeenByBen()?.device === 'laptop', 'ben to see ana\'s new state');
    // ana's first client adopted the newer state of its own id and holds it now: it outlives the new connection.
    expect(ana.provider.awareness.getLocalState()).toEqual({ user: 'ana', device: 'laptop' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(anaSeenByBen()).toEqual({ user: 'ana', device: 'laptop' });
  });
});
