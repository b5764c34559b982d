// The sync framing the server writes against y-protocols' own: the bytes a y-websocket client
// decodes must be the ones `syncProtocol.writeUpdate` (and steps 1 and 2) would have written, for
// payload lengths on each side of every varuint boundary.
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { seededRandom } from '../../src/shared/random.js';
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

describe('the empty-item check against Yjs\'s own decoder', () => {
  /** What Y.decodeUpdate says: null when it cannot read the update. */
  const reference = (update: Uint8Array): boolean | null => {
    try {
      return Y.decodeUpdate(update).structs.some((s) => s.length === 0);
    } catch {
      return null;
    }
  };

  it('reads every kind of content Yjs writes, finding none empty, and agrees with Yjs on mutated updates', () => {
    const random = seededRandom(7);
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => updates.push(u));
    const text = doc.getText('text');
    const xml = doc.getXmlFragment('xml');
    for (let i = 0; i < 400; i++) {
      const r = Math.floor(random() * 12);
      if (r === 0) text.insert(Math.floor(random() * (text.length + 1)), `é${i}😀`);
      else if (r === 1 && text.length > 2) text.format(0, 2, { bold: true });
      else if (r === 2) text.insertEmbed(0, { image: `i${i}` });
      else if (r === 3) doc.getMap('map').set(`k${i % 7}`, random() < 0.5 ? i : { nested: [i, 'x', null, true, 1.5] });
      else if (r === 4) doc.getArray('array').push([new Uint8Array([i & 0xff, 1, 2])]);
      else if (r === 5) doc.getArray('array').push([new Y.Map(), new Y.Array(), new Y.Text('t')]);
      else if (r === 6) xml.push([new Y.XmlElement(`el${i % 3}`), new Y.XmlText('x')]);
      else if (r === 7) doc.getArray('array').push([new Y.Doc({ guid: `sub-${i}` })]);
      else if (r === 8 && text.length > 1) text.delete(0, 1);
      else if (r === 9) doc.getArray('array').push([i, `s${i}`, [1, 2], { a: 1 }]);
      else if (r === 10 && doc.getArray('array').length > 0) doc.getArray('array').delete(0, 1);
      else doc.getMap('map').set(`t${i % 3}`, new Y.XmlHook('hook'));
    }
    updates.push(Y.encodeStateAsUpdate(doc));
    for (const update of updates) expect(hasEmptyItem(update)).toBe(false);
    // Mutated: wherever Yjs reads the update, the check reads it too and says the same.
    let compared = 0;
    for (let i = 0; i < 20_000; i++) {
      const out = Buffer.from(updates[i % updates.length]!);
      const at = Math.floor(random() * out.length);
      if (i % 3 === 0) out[at] = Math.floor(random() * 256);
      else out[at] = out[at]! ^ (1 << Math.floor(random() * 8));
      const expected = reference(out);
      if (expected === null) continue;
      compared++;
      expect(hasEmptyItem(out), `update ${out.toString('hex')}`).toBe(expected);
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('finds an empty string, an empty any list and a zero-length deletion', () => {
    // A one-struct update: one group, one struct of client 1 at clock 0 on root type "t", then no deletions.
    const item = (info: number, ...content: number[]) => Uint8Array.from([1, 1, 1, 0, info, 1, 1, 0x74, ...content, 0]);
    expect(hasEmptyItem(item(4, 0))).toBe(true); // string ""
    expect(hasEmptyItem(item(4, 1, 0x61))).toBe(false); // string "a"
    expect(hasEmptyItem(item(8, 0))).toBe(true); // any []
    expect(hasEmptyItem(item(1, 0))).toBe(true); // deleted, length 0
    for (const update of [item(4, 0), item(8, 0), item(1, 0), item(4, 1, 0x61)]) expect(hasEmptyItem(update)).toBe(reference(update));
  });
});
