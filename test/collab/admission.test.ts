import WebSocket from 'ws';
import * as Y from 'yjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient } from '../helpers/yjs.js';

/**
 * Admission beyond the address: a node-wide connection cap, per-user caps on sockets and open
 * documents, a pace for document loads, and a memory budget for the loaded documents that unloads
 * idle ones first and then refuses. Each refusal is a clear answer (problem JSON with Retry-After at
 * upgrade), and nothing accepted is lost.
 */
type Outcome = { open: WebSocket } | { status: number; retryAfter: string | undefined; body: { detail: string; status: number } };

function connect(server: TestServer, path: string, token: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${path}?token=${token}`);
    ws.on('open', () => resolve({ open: ws }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(body) as { detail: string; status: number } }));
    });
    ws.on('error', (error) => {
      if (!('status' in ws)) reject(error);
    });
  });
}

const opened = (outcome: Outcome): WebSocket => {
  if (!('open' in outcome)) throw new Error(`refused with ${outcome.status}: ${outcome.body.detail}`);
  return outcome.open;
};
const refused = (outcome: Outcome) => {
  if ('open' in outcome) {
    outcome.open.close();
    throw new Error('the connection was admitted');
  }
  return outcome;
};
const closeAll = (sockets: WebSocket[]) => Promise.all(sockets.map((ws) => new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(null) : (ws.once('close', resolve), ws.close())))));
const generous = { 'rate-limit-connections-per-minute': '100000', 'max-connections-per-ip': '0' };

describe('connection caps', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    server = await startTestServer({ ...generous, 'max-connections': '4', 'max-connections-per-user': '2', 'collab-max-documents-per-user': '2' });
    for (const user of ['ana', 'ben', 'cy']) tokens[user] = await server.veza.auth.sign({ sub: user, docs: { '*': 'editor' } });
  }, 60_000);
  afterAll(() => server?.stop());

  it('caps one user\'s sockets, then the node\'s connections, each with a clear refusal', async () => {
    const sockets = [opened(await connect(server, '/collab/doc-1', tokens.ana!)), opened(await connect(server, '/collab/doc-2', tokens.ben!)), opened(await connect(server, '/collab/doc-2', tokens.ana!))];
    const third = refused(await connect(server, '/collab/doc-3', tokens.ana!));
    expect(third).toEqual({ status: 429, retryAfter: '5', body: expect.objectContaining({ status: 429, detail: 'at most 2 open connections per user' }) });
    sockets.push(opened(await connect(server, '/collab/doc-3', tokens.cy!)));
    // Four open: the node is full for everyone, refused before the token is read.
    const full = refused(await connect(server, '/collab/doc-1', tokens.cy!));
    expect(full).toEqual({ status: 503, retryAfter: '5', body: expect.objectContaining({ status: 503, detail: 'this server holds its maximum of 4 connections; retry later or on another node' }) });
    expect(refused(await connect(server, '/collab/doc-1', 'not-a-token')).status).toBe(503);
    await closeAll(sockets.splice(0, 1));
    await waitFor(async () => {
      const outcome = await connect(server, '/collab/doc-1', tokens.cy!);
      if ('open' in outcome) sockets.push(outcome.open);
      return 'open' in outcome;
    }, 'a place to free up');
    await closeAll(sockets);
  });

  it('counts a user\'s open documents, not its sockets on one document', async () => {
    const limited = await startTestServer({ ...generous, 'collab-max-documents-per-user': '2' });
    try {
      const dee = await limited.veza.auth.sign({ sub: 'dee', docs: { '*': 'editor' } });
      const sockets = [opened(await connect(limited, '/collab/a', dee)), opened(await connect(limited, '/collab/b', dee)), opened(await connect(limited, '/collab/a', dee)), opened(await connect(limited, '/collab/b', dee))];
      const third = refused(await connect(limited, '/collab/c', dee));
      expect(third).toEqual({ status: 429, retryAfter: '5', body: expect.objectContaining({ detail: 'at most 2 open documents per user' }) });
      await closeAll(sockets.splice(0, 1));
      // Still two sockets on `a` and `b` between them: `a` remains open through the other one.
      expect(refused(await connect(limited, '/collab/c', dee)).status).toBe(429);
      await closeAll(sockets.splice(1, 1));
      await waitFor(async () => {
        const outcome = await connect(limited, '/collab/c', dee);
        if ('open' in outcome) sockets.push(outcome.open);
        return 'open' in outcome;
      }, 'a document to free up');
      await closeAll(sockets);
    } finally {
      await limited.stop();
    }
  });
});

describe('document loads and memory', () => {
  it('paces loads from storage; documents already loaded are not held back', { timeout: 60_000 }, async () => {
    const server = await startTestServer({ ...generous, 'collab-max-loads-per-second': '2' });
    try {
      const token = await server.veza.auth.sign({ sub: 'ana', docs: { '*': 'editor' } });
      const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => connect(server, `/collab/paced-${i}`, token)));
      const admitted = outcomes.filter((o) => 'open' in o);
      const paced = outcomes.filter((o) => !('open' in o)).map(refused);
      expect(admitted.length).toBe(2);
      expect(paced.map((p) => [p.status, p.retryAfter, p.body.detail])).toEqual(Array(4).fill([503, '1', "documents are loading at this server's pace of 2 a second; retry in a second"]));
      // The two loaded ones take more sockets at once.
      const more = await Promise.all(Array.from({ length: 4 }, () => connect(server, '/collab/paced-0', token)));
      expect(more.every((o) => 'open' in o)).toBe(true);
      await closeAll([...admitted, ...more].map(opened));
    } finally {
      await server.stop();
    }
  });

  it('paces one user\'s loads on its own, so one user\'s opens leave the node\'s pace to the others', { timeout: 60_000 }, async () => {
    const server = await startTestServer({ ...generous, 'collab-max-loads-per-user-per-second': '1', 'collab-max-loads-per-second': '100' });
    try {
      const [ana, ben] = await Promise.all(['ana', 'ben'].map((sub) => server.veza.auth.sign({ sub, docs: { '*': 'editor' } })));
      const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => connect(server, `/collab/ana-${i}`, ana!)));
      expect(outcomes.filter((o) => 'open' in o)).toHaveLength(2);
      const paced = outcomes.filter((o) => !('open' in o)).map(refused);
      expect(paced.map((p) => [p.status, p.body.detail])).toEqual(Array(3).fill([429, 'documents loaded for one user: at most 1 a second; retry in 1 s']));
      const others = await Promise.all(Array.from({ length: 2 }, (_, i) => connect(server, `/collab/ben-${i}`, ben!)));
      expect(others.every((o) => 'open' in o)).toBe(true);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('veza_collab_admission_refusals_total{reason="user-load-pace"} 3');
      await closeAll([...outcomes.filter((o) => 'open' in o), ...others].map(opened));
    } finally {
      await server.stop();
    }
  });

  it('keeps loaded documents within the budget: idle ones are unloaded first, then loads are refused, and nothing stored is lost', { timeout: 90_000 }, async () => {
    const server = await startTestServer({ ...generous, 'collab-memory-budget-bytes': String(2 << 20), 'collab-unload-delay-ms': '600000', 'collab-flush-ms': '5' });
    try {
      const token = await server.veza.auth.sign({ sub: 'ana', docs: { '*': 'editor' } });
      const health = async () => ((await (await fetch(`${server.url}/healthz`)).json()) as { collab: { documentsLoaded: number; memoryBytes: number; memoryBudgetBytes: number } }).collab;
      const metric = async (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(await (await fetch(`${server.url}/metrics`)).text())?.[1] ?? 0);
      // A document of about 1.2 MB of estimated memory (3,000 map entries).
      const fill = async (docId: string) => {
        const client = await connectClient(server.url, docId, token);
        client.doc.transact(() => {
          const map = client.doc.getMap('notes');
          for (let i = 0; i < 3000; i++) map.set(`n${i}`, i);
        });
        await waitFor(async () => (await server.veza.collab.state('default', docId)).byteLength > 10_000 && true, `${docId} to arrive`);
        return client;
      };
      const first = await fill('big-1');
      const one = (await health()).memoryBytes;
      expect(one).toBeGreaterThan(1 << 20);
      expect(one).toBeLessThan(2 << 20);
      expect(await health()).toMatchObject({ documentsLoaded: 1, memoryBudgetBytes: 2 << 20 });
      expect(await metric('veza_collab_memory_budget_bytes')).toBe(2 << 20);
      first.destroy();
      // big-1 is idle (its unload is ten minutes away); big-2 grows past the budget beside it, and the
      // check that follows edits unloads big-1.
      const second = await fill('big-2');
      await waitFor(async () => (await health()).documentsLoaded === 1, 'the idle document to be unloaded', 15_000);
      expect(await metric('veza_collab_budget_unloads_total')).toBe(1);
      const third = await fill('big-3');
      // Now nothing is idle and the budget is spent: the next document is refused at upgrade.
      expect((await health()).memoryBytes).toBeGreaterThan(2 << 20);
      const over = refused(await connect(server, '/collab/big-4', token));
      expect([over.status, over.retryAfter, over.body.detail]).toEqual([503, '5', `the server's memory budget for documents (${2 << 20} bytes) is reached; retry later`]);
      expect(await metric('veza_collab_admission_refusals_total')).toBeGreaterThan(0);
      // Documents already loaded still take sockets and edits.
      const again = await connectClient(server.url, 'big-2', token);
      again.doc.getMap('notes').set('late', 1);
      await waitFor(() => second.doc.getMap('notes').get('late') === 1, 'the edit to reach the other client');
      again.destroy();
      second.destroy();
      third.destroy();
      // big-1 comes back from storage whole.
      await waitFor(async () => 'open' in (await connect(server, '/collab/big-4', token).then((o) => (('open' in o && o.open.close(), o)))), 'room for another document');
      const back = new Y.Doc();
      const reader = await connectClient(server.url, 'big-1', token, { doc: back });
      expect(back.getMap('notes').size).toBe(3000);
      reader.destroy();
    } finally {
      await server.stop();
    }
  });
});
