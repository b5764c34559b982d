// Reference, not an anchor: the least work a uWebSockets.js server can do per delivery and still pass
// the benchmark. It forwards each client's bytes unchecked (ws.publish, one write per observer), keeps
// them in a list, and merges that list only when a client syncs. No validation, no storage, no auth:
// unsafe for real use. Its CPU per update per observer is the socket floor every server here pays.
// Usage: node bench/anchors/uws-floor.mjs PORT
import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import uWS from 'uWebSockets.js';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

const port = Number(process.argv[2] ?? 1234);
const host = process.env.HOST ?? '127.0.0.1';
/** Per document: the raw updates received so far, merged lazily. */
const docs = new Map();
/** FLOOR_FANOUT=send: one ws.send per observer from JS instead of uWS pub/sub (a what-if for the tail). */
const directSend = process.env.FLOOR_FANOUT === 'send';
/** Per document, its open sockets (only with FLOOR_FANOUT=send). */
const members = new Map();
/**
 * FLOOR_YJS=1: the least a safe Yjs server on uWS does (a what-if for the tail): each update applied
 * to the document's Y.Doc and what Yjs re-encodes published, never the client's bytes.
 */
const withYjs = process.env.FLOOR_YJS === '1';
/** Per document, its Y.Doc (only with FLOOR_YJS=1). */
const ydocs = new Map();

/**
 * FLOOR_LOG=file|pglite (with FLOOR_YJS=1): every accepted update also goes to a durable log, a batch
 * every LOG_FLUSH_MS written off the main thread, as veza's group commit does. `file` appends the
 * batch to one file and fdatasyncs it (libuv's pool); `pglite` inserts it, one row per update, into
 * a table shaped like veza's update log (identity key and its two indexes) in PGlite on a worker
 * thread. What durability itself costs the leanest Yjs server, with and without the embedded database.
 */
const logKind = withYjs ? (process.env.FLOOR_LOG ?? '') : '';
const LOG_FLUSH_MS = 100;
const logDir = logKind ? mkdtempSync(join(tmpdir(), 'uws-floor-log-')) : null;
/** Updates accepted since the last batch went: [document, update bytes, time ms]. */
let logPending = [];
let logTimer = null;
let logWriting = false;
const logFd = logKind === 'file' ? openSync(join(logDir, 'updates.log'), 'a') : -1;
const logWorker = logKind === 'pglite' ? new Worker(new URL('./pglite-log-worker.mjs', import.meta.url), { workerData: { dir: logDir } }) : null;
if (logKind && logKind !== 'file' && logKind !== 'pglite') throw new Error(`FLOOR_LOG must be file or pglite, got ${logKind}`);

function logAppend(doc, update) {
  logPending.push([doc, update.slice(), Date.now()]);
  logTimer ??= setTimeout(logFlush, LOG_FLUSH_MS);
}

function logFlush() {
  logTimer = null;
  if (logWriting || logPending.length === 0) {
    if (logPending.length) logTimer = setTimeout(logFlush, LOG_FLUSH_MS);
    return;
  }
  const batch = logPending;
  logPending = [];
  logWriting = true;
  const done = () => {
    logWriting = false;
    if (logPending.length) logTimer ??= setTimeout(logFlush, LOG_FLUSH_MS);
  };
  if (logWorker) {
    logWorker.once('message', done);
    logWorker.postMessage({ docs: batch.map((b) => b[0]), updates: batch.map((b) => b[1]), at: batch.map((b) => b[2]) });
    return;
  }
  // Frames: name length (u16), name, update length (u32), update.
  const parts = [];
  for (const [doc, update] of batch) {
    const name = Buffer.from(doc);
    const head = Buffer.alloc(6);
    head.writeUInt16LE(name.length, 0);
    head.writeUInt32LE(update.byteLength, 2);
    parts.push(head.subarray(0, 2), name, head.subarray(2), update);
  }
  write(logFd, Buffer.concat(parts), (error) => {
    if (error) throw error;
    fdatasync(logFd, (syncError) => {
      if (syncError) throw syncError;
      done();
    });
  });
}

function ydocOf(name) {
  let doc = ydocs.get(name);
  if (!doc) {
    doc = new Y.Doc({ gc: true });
    doc.on('update', (update, origin) => {
      const e = encoding.createEncoder();
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 2);
      encoding.writeVarUint8Array(e, update);
      if (origin) origin.publish(name, encoding.toUint8Array(e), true);
    });
    ydocs.set(name, doc);
  }
  return doc;
}

function stateOf(name) {
  let updates = docs.get(name);
  if (!updates) docs.set(name, (updates = []));
  if (updates.length > 1) updates.splice(0, updates.length, Y.mergeUpdates(updates));
  return updates[0] ?? new Uint8Array([0, 0]);
}

function syncMessage(step, payload) {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, step);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

const app = uWS.App().ws('/*', {
  maxPayloadLength: 16 << 20,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    res.upgrade({ doc: req.getUrl() }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const { doc } = ws.getUserData();
    if (directSend) {
      if (!members.has(doc)) members.set(doc, new Set());
      members.get(doc).add(ws);
    } else ws.subscribe(doc);
    // Sync step 1 with an empty state vector: the client answers with everything it holds.
    ws.send(syncMessage(0, new Uint8Array([0])), true);
  },
  message: (ws, message) => {
    const bytes = new Uint8Array(message);
    const d = decoding.createDecoder(bytes);
    if (decoding.readVarUint(d) !== 0) return;
    const step = decoding.readVarUint(d);
    const { doc } = ws.getUserData();
    if (step === 0) {
      const vector = decoding.readVarUint8Array(d);
      ws.send(syncMessage(1, withYjs ? Y.encodeStateAsUpdate(ydocOf(doc), vector) : Y.diffUpdate(stateOf(doc), vector)), true);
      return;
    }
    const update = decoding.readVarUint8Array(d);
    if (update.byteLength <= 2) return;
    if (withYjs) {
      Y.applyUpdate(ydocOf(doc), update, ws);
      if (logKind) logAppend(doc, update);
      return;
    }
    if (directSend) {
      for (const other of members.get(doc)) if (other !== ws) other.send(bytes, true);
    } else ws.publish(doc, bytes, true);
    const list = docs.get(doc);
    if (list) list.push(update.slice());
    else docs.set(doc, [update.slice()]);
  },
  close: (ws) => {
    if (directSend) members.get(ws.getUserData().doc)?.delete(ws);
  },
});

app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws-floor: could not listen on ${host}:${port}`);
    process.exit(1);
  }
  console.log(`uws-floor listening on ${host}:${port}`);
});
process.on('SIGTERM', () => {
  if (logFd >= 0) closeSync(logFd);
  if (logDir) rmSync(logDir, { recursive: true, force: true });
  process.exit(0);
});
