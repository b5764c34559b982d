// The sync framing the server writes against y-protocols' own: the bytes a y-websocket client
// decodes must be the ones `syncProtocol.writeUpdate` (and steps 1 and 2) would have written, for
// payload lengths on each side of every varuint boundary.
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { hasEmptyItem, messageTypeOf, readMessage, syncStep1, syncStep2, updateMessage } from '../../src/collab/protocol.js';
import { EMPTY_ITEM_UPDATE } from '../helpers/yjs.js';

const LENGTHS = [0, 1, 2, 64, 127, 128, 129, 16_383, 16_384, 16_385, 2_097_151, 2_097_152];

/** y-protocols' framing: the message type, then what `write` adds. */
function reference(write: (encoder: encoding.Encoder) => void): Buffer {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  write(encoder);
  return Buffer.from(encoding.toUint8Array(encoder));
}

const bytes = (array: Uint8Array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength);

describe('sync messages', () => {
  it.each(LENGTHS)('frames a payload of %i bytes as y-protocols does, and reads it back', (length) => {
    const payload = new Uint8Array(length);
    for (let i = 0; i < length; i++) payload[i] = (i * 31 + 7) & 0xff;
    const framed = (sub: number) => reference((e) => (encoding.writeVarUint(e, sub), encoding.writeVarUint8Array(e, payload)));
    expect(bytes(updateMessage(payload)).equals(reference((e) => syncProtocol.writeUpdate(e, payload)))).toBe(true);
    expect(bytes(syncStep2(payload)).equals(framed(syncProtocol.messageYjsSyncStep2))).toBe(true);
    expect(bytes(syncStep1(payload)).equals(framed(syncProtocol.messageYjsSyncStep1))).toBe(true);
    const read = readMessage(updateMessage(payload));
    expect(read.type).toBe('update');
    expect(bytes((read as { update: Uint8Array }).update).equals(bytes(payload))).toBe(true);
  });
});

describe('message types', () => {
  it('reads the first varuint, one byte or several, and -1 when there is none', () => {
    expect(messageTypeOf(Uint8Array.from([0, 1, 2]))).toBe(0);
    expect(messageTypeOf(Uint8Array.from([100, 0, 0]))).toBe(100);
    expect(messageTypeOf(Uint8Array.from([0xac, 0x02]))).toBe(300);
    expect(messageTypeOf(new Uint8Array(0))).toBe(-1);
    expect(messageTypeOf(Uint8Array.from([0x80]))).toBe(-1); // a varuint cut short
  });

  it('leaves a type it does not know to be counted and skipped', () => {
    expect(readMessage(Uint8Array.from([100, 1, 2, 3]))).toEqual({ type: 'ignored', messageType: 100 });
  });
});

describe('items without content', () => {
  it('finds the empty item a fuzzed frame carried, and none in what Yjs writes', () => {
    expect(hasEmptyItem(EMPTY_ITEM_UPDATE)).toBe(true);
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => updates.push(u));
    doc.getText('t').insert(0, 'a');
    doc.getMap('m').set('k', []);
    doc.getArray('a').push([{}]);
    doc.getText('t').delete(0, 1);
    expect(updates.map(hasEmptyItem)).toEqual([false, false, false, false]);
    // Yjs itself integrates it: a peer that receives it then fails on the struct store.
    const peer = new Y.Doc();
    expect(() => Y.applyUpdate(peer, EMPTY_ITEM_UPDATE)).not.toThrow();
    expect(() => hasEmptyItem(Uint8Array.from([1, 1, 0xff]))).toThrow();
  });
});
