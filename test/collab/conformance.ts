import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { WebsocketProvider } from 'y-websocket';
import { waitFor } from '../helpers/wait.js';

/**
 * A conformance suite for y-websocket servers, in the manner of automerge-repo's
 * `runStorageAdapterTests(setup)`: every server (ours, and in the benchmark the anchors) runs the
 * same assertions through real, unmodified `y-websocket` `WebsocketProvider` clients.
 *
 * The suite never relies on a document outliving its last connection (servers without persistence
 * drop it), gives every test its own document ids (so one target serves the whole suite), and never
 * waits on timing: each step polls for the state it expects.
 */

export type ConformanceRole = 'owner' | 'editor' | 'viewer';

export interface ConformanceClient {
  doc: Y.Doc;
  provider: WebsocketProvider;
  /** Destroys the provider (closing its connection) and the document. */
  destroy(): void;
}

export interface ConformanceTarget {
  /**
   * Connects one client to `docId` with `role`, resolving once the provider reports `synced`.
   * `doc`, when given, is the document the provider syncs (it may already hold content). A target
   * that has no roles may ignore `role`. Every call should act as a different user.
   */
  connect(docId: string, role: ConformanceRole, doc?: Y.Doc): Promise<ConformanceClient>;
  /** Stops what `setup` started. Clients are already destroyed when this runs. */
  teardown(): Promise<void>;
}

export interface ConformanceOptions {
  /** Shown in the suite's name. */
  name?: string;
  /** The server enforces `viewer` as read-only; when false the read-only cases are skipped. Default true. */
  supportsReadOnly?: boolean;
  /** Size of the large document, in characters of a Y.Text. Default 10 MiB. */
  largeDocChars?: number;
  /** Clients that disconnect and reconnect at once. Default 50. */
  reconnectingClients?: number;
  /** Clients editing at random concurrently. Default 8. */
  randomClients?: number;
  /** Seed of the random edits (the network interleaving still varies). Default 0x5eed. */
  seed?: number;
  /** How long one wait for an expected state may take, in ms. Default 30 s. */
  waitMs?: number;
}

/** mulberry32: a tiny seeded PRNG, enough to make the random edits reproducible. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(items: readonly T[]): T; string(n: number): string } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 ';
  return {
    next,
    int,
    pick: <T>(items: readonly T[]) => items[int(items.length)]!,
    string: (n: number) => {
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[int(alphabet.length)];
      return s;
    },
  };
}

/** What the suite compares: the shared types it writes, read through each document. */
function content(doc: Y.Doc): { arr: unknown[]; txt: string; map: Record<string, unknown> } {
  return { arr: doc.getArray('arr').toJSON(), txt: doc.getText('txt').toString(), map: doc.getMap('map').toJSON() };
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** JSON with object keys sorted: a Y.Map lists its keys in the order this replica learnt them. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

interface Close {
  client: number;
  code: number;
  reason: string;
}

export function runCollabConformance(setup: () => Promise<ConformanceTarget>, options: ConformanceOptions = {}): void {
  const supportsReadOnly = options.supportsReadOnly ?? true;
  const largeDocChars = options.largeDocChars ?? 10 << 20;
  const reconnecting = options.reconnectingClients ?? 50;
  const randomClients = options.randomClients ?? 8;
  const seed = options.seed ?? 0x5eed;
  const waitMs = options.waitMs ?? 30_000;
  const testMs = 4 * waitMs;

  describe(`collab conformance${options.name ? `: ${options.name}` : ''}`, () => {
    let target: ConformanceTarget | undefined;
    const clients: ConformanceClient[] = [];
    /** Connections that closed while their provider still wanted to be connected: the server dropped them. */
    const unexpectedCloses: Close[] = [];
    const run = `c${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const docId = (name: string) => `${run}-${name}`;

    beforeAll(async () => {
      target = await setup();
    }, 120_000);
    afterEach(() => {
      for (const c of clients.splice(0)) c.destroy();
      unexpectedCloses.length = 0;
    });
    afterAll(async () => {
      for (const c of clients.splice(0)) c.destroy();
      await target?.teardown();
    }, 120_000);

    async function connect(id: string, role: ConformanceRole, doc?: Y.Doc): Promise<ConformanceClient> {
      const c = await target!.connect(id, role, doc);
      const index = clients.push(c) - 1;
      c.provider.on('connection-close', (event: { code?: number; reason?: string } | null) => {
        if (c.provider.shouldConnect) unexpectedCloses.push({ client: index, code: event?.code ?? 0, reason: event?.reason ?? '' });
      });
      return c;
    }
    const until = <T>(check: () => T | undefined | false, what: string) => waitFor(check, what, waitMs);
    /** `provider.disconnect()`, then wait until the socket is really gone (the provider can reconnect only then). */
    async function goOffline(c: ConformanceClient): Promise<void> {
      c.provider.disconnect();
      await until(() => c.provider.ws === null && !c.provider.wsconnected, 'the provider to close its connection');
    }
    async function goOnline(c: ConformanceClient): Promise<void> {
      c.provider.connect();
      await until(() => c.provider.synced, 'the provider to reconnect and sync');
    }
    /** Waits until every document holds the same content; returns it. */
    async function converged(docs: Y.Doc[], what: string): Promise<ReturnType<typeof content>> {
      let last: string[] = [];
      try {
        await until(() => {
          last = docs.map((d) => canonical(content(d)));
          return last.every((s) => s === last[0]);
        }, what);
      } catch (error) {
        // Show what differs rather than only "timed out".
        expect(last.map((s) => JSON.parse(s) as unknown)).toEqual(last.map(() => JSON.parse(last[0]!) as unknown));
        throw error;
      }
      return content(docs[0]!);
    }

    describe('sync', () => {
      it('two clients converge both ways', async () => {
        const id = docId('sync');
        const a = await connect(id, 'editor');
        const b = await connect(id, 'owner');
        a.doc.getMap('map').set('from', 'a');
        a.doc.getText('txt').insert(0, 'hello');
        b.doc.getArray('arr').push([1, 2, 3]);
        b.doc.getMap('map').set('other', 'b');
        await until(() => b.doc.getMap('map').get('from') === 'a' && b.doc.getText('txt').toString() === 'hello', 'b to receive a\'s edits');
        await until(() => a.doc.getArray('arr').length === 3 && a.doc.getMap('map').get('other') === 'b', 'a to receive b\'s edits');
        expect(await converged([a.doc, b.doc], 'a and b to converge')).toEqual({ arr: [1, 2, 3], txt: 'hello', map: { from: 'a', other: 'b' } });
        expect(unexpectedCloses).toEqual([]);
      }, testMs);

      it('a late joiner receives the whole document, and a client that brings content shares it', async () => {
        const id = docId('late');
        const a = await connect(id, 'editor');
        for (let i = 0; i < 100; i++) a.doc.getArray('arr').push([i]);
        a.doc.getText('txt').insert(0, 'the whole document');
        a.doc.getMap('map').set('k', { nested: [1, 2] });
        const b = await connect(id, 'editor');
        await until(() => b.doc.getArray('arr').length === 100, 'b to have a\'s edits');
        const late = await connect(id, 'viewer');
        expect(content(late.doc)).toEqual(content(a.doc));
        expect(content(late.doc).arr).toEqual([...Array(100).keys()]);

        // A client whose document already has content before it connects: the server takes it in.
        const preset = new Y.Doc();
        preset.getMap('map').set('brought', 'along');
        await connect(id, 'editor', preset);
        await until(() => a.doc.getMap('map').get('brought') === 'along', 'a to receive what the new client brought');
        await converged([a.doc, b.doc, late.doc, preset], 'everyone to converge');
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });

    describe('awareness', () => {
      it('states propagate both ways and reach a late joiner', async () => {
        const id = docId('aw');
        const a = await connect(id, 'editor');
        const b = await connect(id, 'editor');
        a.provider.awareness.setLocalStateField('cursor', { at: 7 });
        b.provider.awareness.setLocalStateField('user', { name: 'bob' });
        const state = (c: ConformanceClient, of: ConformanceClient) => c.provider.awareness.getStates().get(of.doc.clientID) as Record<string, unknown> | undefined;
        await until(() => (state(b, a)?.cursor as { at?: number } | undefined)?.at === 7, 'b to see a\'s cursor');
        await until(() => (state(a, b)?.user as { name?: string } | undefined)?.name === 'bob', 'a to see b\'s user');
        a.provider.awareness.setLocalStateField('cursor', { at: 8 });
        await until(() => (state(b, a)?.cursor as { at?: number } | undefined)?.at === 8, 'b to see a\'s cursor move');

        const late = await connect(id, 'viewer');
        await until(() => (state(late, a)?.cursor as { at?: number } | undefined)?.at === 8 && (state(late, b)?.user as { name?: string } | undefined)?.name === 'bob', 'the late joiner to see existing states');
        // Viewers take part in presence too.
        late.provider.awareness.setLocalStateField('user', { name: 'vic' });
        await until(() => (state(a, late)?.user as { name?: string } | undefined)?.name === 'vic', 'a to see the viewer\'s state');
        expect(unexpectedCloses).toEqual([]);
      }, testMs);

      it('a client\'s state is removed for the others when it disconnects, announced or not', async () => {
        const id = docId('aw-leave');
        const [a, b, d, c] = await Promise.all([connect(id, 'editor'), connect(id, 'editor'), connect(id, 'viewer'), connect(id, 'editor')]);
        a.provider.awareness.setLocalStateField('cursor', 1);
        b.provider.awareness.setLocalStateField('cursor', 2);
        d.provider.awareness.setLocalStateField('cursor', 3);
        const has = (of: ConformanceClient) => c.provider.awareness.getStates().has(of.doc.clientID);
        await until(() => [a, b, d].every((x, i) => c.provider.awareness.getStates().get(x.doc.clientID)?.cursor === i + 1), 'c to see a, b and d');

        // disconnect(): y-websocket 1.5.4 announces a null state itself, which the server must forward.
        a.provider.disconnect();
        await until(() => !has(a), 'a\'s state to be removed after disconnect()');
        // A close frame without that announcement (a closed tab, a killed process): the server must remove it.
        b.provider.shouldConnect = false;
        b.provider.ws?.close();
        await until(() => !has(b), 'b\'s state to be removed after a close without announcement');
        // A connection lost without even a close frame.
        d.provider.shouldConnect = false;
        const socket = d.provider.ws as unknown as { terminate?: () => void; close(): void } | null;
        if (socket?.terminate) socket.terminate();
        else socket?.close();
        await until(() => !has(d), 'd\'s state to be removed after the connection dropped');
        expect([...c.provider.awareness.getStates().keys()]).toEqual([c.doc.clientID]);
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });

    describe('offline edits', () => {
      it('are merged on reconnect, both ways', async () => {
        const id = docId('offline');
        const a = await connect(id, 'editor');
        const b = await connect(id, 'editor');
        a.doc.getText('txt').insert(0, 'shared ');
        await until(() => b.doc.getText('txt').toString() === 'shared ', 'b to receive the shared start');

        await goOffline(a);
        a.doc.getMap('map').set('a-offline', true);
        a.doc.getText('txt').insert(0, 'A');
        a.doc.getArray('arr').push(['a1', 'a2']);
        b.doc.getMap('map').set('b-while-a-away', true);
        b.doc.getText('txt').insert(0, 'B');
        b.doc.getArray('arr').push(['b1']);
        // Let b's edits reach the server, through a witness that stays online.
        const witness = await connect(id, 'viewer');
        await until(() => witness.doc.getMap('map').get('b-while-a-away') === true, 'the witness to see b\'s edit');
        expect(witness.doc.getMap('map').has('a-offline')).toBe(false);
        expect(b.doc.getMap('map').has('a-offline')).toBe(false);
        expect(a.doc.getMap('map').has('b-while-a-away')).toBe(false);

        await goOnline(a);
        const merged = await converged([a.doc, b.doc, witness.doc], 'a, b and the witness to converge');
        expect(merged.map).toEqual({ 'a-offline': true, 'b-while-a-away': true });
        expect(merged.txt).toHaveLength('shared AB'.length);
        expect(merged.txt).toContain('A');
        expect(merged.txt).toContain('B');
        expect(merged.txt.endsWith('shared ')).toBe(true);
        expect([...merged.arr].sort()).toEqual(['a1', 'a2', 'b1']);
        const late = await connect(id, 'viewer');
        expect(content(late.doc)).toEqual(merged);
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });

    describe('read-only enforcement', () => {
      it.skipIf(!supportsReadOnly)('a viewer\'s local edits never reach editors nor a late joiner, even when it reconnects', async () => {
        const id = docId('readonly');
        const editor = await connect(id, 'editor');
        editor.doc.getMap('map').set('by-editor', 1);
        const viewer = await connect(id, 'viewer');
        await until(() => viewer.doc.getMap('map').get('by-editor') === 1, 'the viewer to receive the editor\'s content');
        const other = await connect(id, 'owner');

        // The viewer edits, then changes its awareness. The server handles one connection's
        // messages in order, so once the awareness change arrives the edit was handled too.
        viewer.doc.getMap('map').set('by-viewer', 'forbidden');
        viewer.doc.getText('txt').insert(0, 'forbidden');
        viewer.doc.getArray('arr').push(['forbidden']);
        viewer.provider.awareness.setLocalStateField('barrier', 1);
        const sawBarrier = (c: ConformanceClient, n: number) => c.provider.awareness.getStates().get(viewer.doc.clientID)?.barrier === n;
        await until(() => sawBarrier(editor, 1) && sawBarrier(other, 1), 'the editors to see the viewer\'s barrier');
        for (const c of [editor, other]) expect(content(c.doc)).toEqual({ arr: [], txt: '', map: { 'by-editor': 1 } });

        // The viewer still receives everything.
        editor.doc.getMap('map').set('after', 2);
        await until(() => viewer.doc.getMap('map').get('after') === 2, 'the viewer to keep receiving');

        // Reconnecting makes the viewer offer its edits again (sync step 2): still refused.
        await goOffline(viewer);
        viewer.doc.getMap('map').set('offline-by-viewer', 'forbidden');
        await goOnline(viewer);
        viewer.provider.awareness.setLocalStateField('barrier', 2);
        await until(() => sawBarrier(editor, 2) && sawBarrier(other, 2), 'the editors to see the viewer\'s second barrier');

        const late = await connect(id, 'editor');
        for (const c of [editor, other, late]) expect(content(c.doc)).toEqual({ arr: [], txt: '', map: { 'by-editor': 1, after: 2 } });
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });

    describe('large documents', () => {
      it(`a ${(largeDocChars / (1 << 20)).toFixed(1)} MiB document syncs intact to a fresh client`, async () => {
        const id = docId('large');
        const writer = await connect(id, 'editor');
        const observer = await connect(id, 'viewer');
        const chunk = 64 << 10;
        const random = prng(seed);
        const hash = createHash('sha256');
        const text = writer.doc.getText('txt');
        for (let at = 0; at < largeDocChars; at += chunk) {
          const piece = random.string(Math.min(chunk, largeDocChars - at));
          hash.update(piece);
          text.insert(at, piece);
        }
        writer.doc.getMap('map').set('done', true);
        const expected = hash.digest('hex');
        expect(text.length).toBe(largeDocChars);
        // Everything the writer sent was handled once the observer holds it all.
        await until(() => observer.doc.getMap('map').get('done') === true && observer.doc.getText('txt').length === largeDocChars, 'the observer to receive the whole document');
        expect(sha256(observer.doc.getText('txt').toString())).toBe(expected);

        const fresh = await connect(id, 'viewer');
        await until(() => fresh.doc.getMap('map').get('done') === true, 'the fresh client to receive the document');
        expect(fresh.doc.getText('txt').length).toBe(largeDocChars);
        expect(sha256(fresh.doc.getText('txt').toString())).toBe(expected);
        // It arrived over the first connection: nobody was dropped on the way.
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });

    describe('many clients', () => {
      it(`${reconnecting} clients disconnect and reconnect at once, converge, and keep what they wrote in the gap`, async () => {
        const id = docId('herd');
        const herd = await Promise.all(Array.from({ length: reconnecting }, () => connect(id, 'editor')));
        const witness = await connect(id, 'editor');
        herd.forEach((c, i) => c.doc.getArray('arr').push([`before-${i}`]));
        await until(() => [...herd, witness].every((c) => c.doc.getArray('arr').length === reconnecting), 'everyone to hold every client\'s first edit');

        await Promise.all(herd.map((c) => goOffline(c)));
        herd.forEach((c, i) => {
          c.doc.getMap('map').set(`gap-${i}`, i);
          c.doc.getArray('arr').push([`gap-${i}`]);
        });
        witness.doc.getMap('map').set('witness', true);
        expect(witness.doc.getMap('map').size).toBe(1);

        await Promise.all(herd.map((c) => goOnline(c)));
        const all = [...herd, witness];
        const final = await converged(all.map((c) => c.doc), 'every client to converge after reconnecting');
        expect(Object.keys(final.map).sort()).toEqual([...herd.map((_, i) => `gap-${i}`), 'witness'].sort());
        expect([...final.arr].sort()).toEqual(herd.flatMap((_, i) => [`before-${i}`, `gap-${i}`]).sort());
        const late = await connect(id, 'viewer');
        expect(content(late.doc)).toEqual(final);
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });

    describe('convergence', () => {
      it(`${randomClients} clients editing an array, a text and a map at random converge, also with a late joiner`, async () => {
        const id = docId('random');
        const editors = await Promise.all(Array.from({ length: randomClients }, () => connect(id, 'editor')));
        const random = prng(seed);
        const offline = editors[0]!;
        let ops = 0;
        for (let round = 0; round < 40; round++) {
          // One client spends a stretch of rounds offline, editing all the same.
          if (round === 10) await goOffline(offline);
          if (round === 25) await goOnline(offline);
          for (const [i, c] of editors.entries()) {
            const count = 1 + random.int(4);
            for (let k = 0; k < count; k++) {
              const arr = c.doc.getArray<string>('arr');
              const txt = c.doc.getText('txt');
              const map = c.doc.getMap<string>('map');
              ops++;
              switch (random.int(7)) {
                case 0:
                case 1:
                  arr.insert(random.int(arr.length + 1), [`${i}.${round}.${k}`]);
                  break;
                case 2:
                  if (arr.length > 0) {
                    const at = random.int(arr.length);
                    arr.delete(at, Math.min(1 + random.int(3), arr.length - at));
                  }
                  break;
                case 3:
                  txt.insert(random.int(txt.length + 1), random.string(1 + random.int(8)));
                  break;
                case 4:
                  if (txt.length > 0) {
                    const at = random.int(txt.length);
                    txt.delete(at, Math.min(1 + random.int(5), txt.length - at));
                  }
                  break;
                case 5:
                  map.set(`k${random.int(12)}`, `${i}.${round}.${k}`);
                  break;
                case 6:
                  c.doc.transact(() => {
                    map.delete(`k${random.int(12)}`);
                    arr.push([`t${i}.${round}`]);
                    txt.insert(0, `${i}`);
                  });
                  break;
              }
            }
          }
          // Now and then one client waits until it holds everything another one wrote, so later
          // edits build on some of the others' edits while staying concurrent with the rest.
          if (round % 4 === 3) {
            const online = editors.filter((c) => c.provider.wsconnected);
            const from = random.pick(online);
            const to = random.pick(online.filter((c) => c !== from));
            const clock = (d: Y.Doc, of: number) => Y.decodeStateVector(Y.encodeStateVector(d)).get(of) ?? 0;
            const wrote = clock(from.doc, from.doc.clientID);
            await until(() => clock(to.doc, from.doc.clientID) >= wrote, 'one client to receive another\'s edits');
          } else if (random.int(2) === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        // Each client marks the end of its edits; when everyone has every mark, nothing is in flight.
        editors.forEach((c, i) => c.doc.getMap('done').set(`${i}`, true));
        await until(() => editors.every((c) => c.doc.getMap('done').size === randomClients), 'every client to see every end mark');
        const final = await converged(editors.map((c) => c.doc), 'all clients to converge');
        expect(ops).toBeGreaterThan(randomClients * 40);
        expect(final.arr.length + final.txt.length + Object.keys(final.map).length).toBeGreaterThan(0);
        const late = await connect(id, 'viewer');
        expect(content(late.doc)).toEqual(final);
        expect(late.doc.getMap('done').size).toBe(randomClients);
        expect(unexpectedCloses).toEqual([]);
      }, testMs);
    });
  });
}
