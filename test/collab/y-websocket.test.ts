import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient, type Client } from '../helpers/yjs.js';

const data = tempDir('collab');
let server: TestServer;
const clients: Client[] = [];
const token = (docs: Record<string, 'owner' | 'editor' | 'viewer'>, sub = 'alice') => server.veza.auth.sign({ sub, docs });
async function client(docId: string, tok: string) {
  const c = await connectClient(server.url, docId, tok);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startTestServer({ 'data-dir': data.dir, 'collab-unload-delay-ms': '50' });
});
afterAll(async () => {
  clients.forEach((c) => c.destroy());
  await server?.stop();
  data.remove();
});

describe('y-websocket WebsocketProvider', () => {
  it('syncs two editors both ways', async () => {
    const a = await client('song-1', await token({ 'song-1': 'editor' }, 'alice'));
    const b = await client('song-1', await token({ 'song-1': 'owner' }, 'bob'));
    a.doc.getMap('tracks').set('t1', 'drums');
    b.doc.getArray('notes').push([60, 62, 64]);
    await waitFor(() => b.doc.getMap('tracks').get('t1') === 'drums', 'b to see a');
    await waitFor(() => a.doc.getArray('notes').length === 3, 'a to see b');
  });

  it('gives a late joiner the whole document', async () => {
    const c = await client('song-1', await token({ '*': 'viewer' }, 'carol'));
    expect(c.doc.getMap('tracks').get('t1')).toBe('drums');
    expect(c.doc.getArray('notes').toArray()).toEqual([60, 62, 64]);
  });

  it('never applies or forwards a viewer\'s changes', async () => {
    const editor = await client('song-2', await token({ 'song-2': 'editor' }));
    const viewer = await client('song-2', await token({ 'song-2': 'viewer' }, 'vic'));
    viewer.doc.getMap('m').set('hacked', true);
    editor.doc.getMap('m').set('fine', true);
    await waitFor(() => viewer.doc.getMap('m').get('fine') === true, 'viewer to receive');
    const late = await client('song-2', await token({ 'song-2': 'editor' }, 'dan'));
    expect(late.doc.getMap('m').get('hacked')).toBeUndefined();
    expect(editor.doc.getMap('m').get('hacked')).toBeUndefined();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/veza_collab_rejected_writes_total\{reason="read-only"\} [1-9]/);
  });

  it('shares awareness and removes a client\'s state when it disconnects', async () => {
    const a = await client('song-3', await token({ 'song-3': 'editor' }, 'alice'));
    const b = await client('song-3', await token({ 'song-3': 'editor' }, 'bob'));
    a.provider.awareness.setLocalStateField('cursor', { tick: 480 });
    const aId = a.doc.clientID;
    await waitFor(() => (b.provider.awareness.getStates().get(aId) as { cursor?: { tick: number } } | undefined)?.cursor?.tick === 480, 'b to see a\'s cursor');
    a.provider.ws?.close();
    a.provider.shouldConnect = false;
    await waitFor(() => !b.provider.awareness.getStates().has(aId), 'a\'s state to be removed');
  });
});
