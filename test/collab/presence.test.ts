// A room's presence (awareness) check runs only while someone is present: no timer per idle
// document, and the same renewal and expiry as y-protocols' own timer when there is presence.
import { Registry } from 'prom-client';
import { pino } from 'pino';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CollabMetrics } from '../../src/collab/metrics.js';
import { awarenessMessage } from '../../src/collab/protocol.js';
import { Room, type CollabConnection, type CollabSocket, type RoomDeps } from '../../src/collab/room.js';

function fakeSocket(userId: string): CollabSocket {
  const state: CollabConnection = { tenantId: 'default', docId: 'd', userId, role: 'editor', room: null, queued: [], queuedBytes: 0, awarenessIds: new Set(), syncAllowance: 0, closed: false };
  return { getUserData: () => ({ state }), send: () => 1, publish: () => true, subscribe: () => true, end: () => undefined } as unknown as CollabSocket;
}

function makeRoom(published: Uint8Array[]): Room {
  const deps: RoomDeps = {
    store: {} as RoomDeps['store'],
    writer: { hasRoom: () => true, append: () => undefined } as unknown as RoomDeps['writer'],
    bus: { publish: async () => undefined } as unknown as RoomDeps['bus'],
    metrics: new CollabMetrics(new Registry()),
    logger: pino({ level: 'silent' }),
    publish: (_topic, message) => void published.push(message),
    onEmpty: () => undefined,
    onCorrupt: () => undefined,
    maxDocBytes: 1 << 20,
    snapshotEvery: 1000,
    snapshotDue: () => undefined,
    changed: () => undefined,
    cluster: null,
    sent: () => undefined,
  };
  return new Room('default/d', 'default', 'd', { state: Y.encodeStateAsUpdate(new Y.Doc()), lastId: null, tail: 0 }, deps);
}

/** A client's awareness message announcing `state` for its own Y.Doc client id. */
function clientPresence(state: Record<string, unknown>): { clientId: number; message: Uint8Array } {
  const doc = new Y.Doc();
  const awareness = new awarenessProtocol.Awareness(doc);
  awareness.setLocalState(state);
  const message = awarenessMessage(awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]));
  awareness.destroy();
  return { clientId: doc.clientID, message };
}

/** Makes an entry look `ms` older (y-protocols reads the wall clock through lib0, which fake timers do not move). */
function age(room: Room, clientId: number, ms: number): void {
  room.awareness.meta.get(clientId)!.lastUpdated -= ms;
}

describe('room presence', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] }));
  afterEach(() => vi.useRealTimers());

  it('holds no timer while nobody is present', () => {
    const room = makeRoom([]);
    room.join(fakeSocket('ann'));
    expect(vi.getTimerCount()).toBe(0);
    room.destroy();
  });

  it('expires a client entry that is not renewed for 30 s, then stops checking', () => {
    const room = makeRoom([]);
    const ws = fakeSocket('ann');
    room.join(ws);
    const { clientId, message } = clientPresence({ user: 'ann' });
    room.receive(ws, message);
    expect(room.awareness.getStates().has(clientId)).toBe(true);
    expect(vi.getTimerCount()).toBe(1);
    age(room, clientId, 29_000);
    vi.advanceTimersByTime(3_000);
    expect(room.awareness.getStates().has(clientId)).toBe(true);
    age(room, clientId, 1_500);
    vi.advanceTimersByTime(3_000);
    expect(room.awareness.getStates().has(clientId)).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    room.destroy();
  });

  it("renews the server's own entry before clients would expire it, and stops when it is removed", () => {
    const published: Uint8Array[] = [];
    const room = makeRoom(published);
    room.setServerPresence({ voice: ['ann'] });
    expect(published).toHaveLength(1);
    const own = room.doc.clientID;
    age(room, own, 14_000);
    vi.advanceTimersByTime(3_000);
    expect(published).toHaveLength(1);
    // Renewed once half of the 30 s that clients wait has passed, so it stays present for everyone.
    age(room, own, 1_000);
    vi.advanceTimersByTime(3_000);
    expect(published).toHaveLength(2);
    expect(room.awareness.meta.get(own)!.lastUpdated).toBeGreaterThan(Date.now() - 1000);
    expect(room.awareness.getLocalState()).toEqual({ voice: ['ann'] });
    room.setServerPresence(null);
    vi.advanceTimersByTime(10_000);
    expect(vi.getTimerCount()).toBe(0);
    room.destroy();
  });
});
