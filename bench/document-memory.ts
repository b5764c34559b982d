// What a loaded Y.Doc costs in heap, beside what the memory budget estimates for it
// (src/collab/admission.ts): a studio session of nested maps (tracks, clips, 20,000 notes), a text
// typed one character pair at a time, and one long text inserted at once. Each document is loaded
// ten times from its encoded state; the heap is measured after a full collection.
// Usage: node --expose-gc --import tsx bench/document-memory.ts
import * as Y from 'yjs';
import { estimateDocumentBytes } from '../src/collab/admission.js';
import { StudioDoc } from '../src/studio/model.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function studio(): Uint8Array {
  const d = new StudioDoc();
  for (let t = 0; t < 8; t++) {
    const track = d.addTrack({ name: `track ${t}` });
    const clip = d.addClip(track, { start: 0, length: 400_000 });
    for (let k = 0; k < 50; k++) d.transact(() => d.addNotes(track, clip, Array.from({ length: 50 }, (_, i) => ({ pitch: 40 + (i % 40), start: (k * 50 + i) * 120, duration: 100, velocity: 90 }))));
  }
  return Y.encodeStateAsUpdate(d.doc);
}

function typed(): Uint8Array {
  const doc = new Y.Doc();
  const text = doc.getText('t');
  // Inserted all over the text, so few insertions merge into one struct.
  for (let i = 0; i < 20_000; i++) text.insert((i * 7919) % (text.length + 1), 'ab');
  return Y.encodeStateAsUpdate(doc);
}

function long(): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, 'x'.repeat(5_000_000));
  return Y.encodeStateAsUpdate(doc);
}

const COPIES = 10;
console.log('| document | encoded bytes | structs | heap per loaded copy | estimate | estimate / heap |');
console.log('|---|---:|---:|---:|---:|---:|');
const documents = [['studio session, 20,000 notes', studio()], ['text typed in 20,000 places', typed()], ['one 5 MB text', long()]] as const;
const collect = () => {
  for (let i = 0; i < 4; i++) gc();
};
for (const [name, state] of documents) {
  collect();
  const before = process.memoryUsage();
  const docs: Y.Doc[] = [];
  for (let i = 0; i < COPIES; i++) {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, state);
    docs.push(doc);
  }
  collect();
  const after = process.memoryUsage();
  const heap = (after.heapUsed + after.external - before.heapUsed - before.external) / COPIES;
  let structs = 0;
  for (const list of docs[0]!.store.clients.values()) structs += list.length;
  const estimate = estimateDocumentBytes(state.byteLength, structs);
  console.log(`| ${name} | ${state.byteLength} | ${structs} | ${Math.round(heap)} | ${estimate} | ${(estimate / heap).toFixed(2)} |`);
  docs.length = 0;
}
