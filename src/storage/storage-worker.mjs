// The database client on its own thread: PGlite itself (PostgreSQL compiled to WASM), or node-postgres'
// protocol encoding and decoding. The main thread compiles queries with kysely and sends them here
// (see worker-dialect.ts), so no query, however large its batch, stalls WebSocket traffic. Other
// threads of the process (the event consumers) reach the same database through ports the main
// thread attaches; a port that closes gives back its connections, rolling back what was open.
// Plain JavaScript so that it starts the same way under node, tsx and vitest, with no loader.
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { lowerThreadPriority } from '../server/thread-priority.mjs';
import { openPGlite } from './pglite-open.mjs';

/** @type {{ kind: 'pglite' | 'postgres', databaseUrl?: string, pgliteDir?: string, pgliteParams?: string[], poolSize: number }} */
const options = workerData;
/** @type {import('kysely').Driver} */
let driver;
/** @type {Map<number, { connection: import('kysely').DatabaseConnection, owner: unknown, inTransaction: boolean }>} */
const connections = new Map();
/** PGlite's WASM memory (PostgreSQL's whole address space); null on PostgreSQL. @type {WebAssembly.Memory | null} */
let wasmMemory = null;
let nextConnection = 1;

/**
 * PGlite has one connection. Each thread's kysely serialises its own use of it, but the threads
 * share it here: a second thread's transaction waits for the first to release the connection. The
 * main thread (the update log's group commit, requests) goes before the event consumers' thread, so
 * a backlog of side-module work never delays what the realtime path stores.
 */
const waiting = { main: [], others: [] };
let held = false;
async function lockConnection(owner) {
  if (options.kind !== 'pglite') return;
  if (!held) {
    held = true;
    return;
  }
  await new Promise((resolve) => (owner === parentPort ? waiting.main : waiting.others).push(resolve));
}
function unlockConnection() {
  if (options.kind !== 'pglite') return;
  const next = waiting.main.shift() ?? waiting.others.shift();
  if (next) next();
  else held = false;
}

// What this thread does (the update log's writes, the consumers' queries) can wait a moment for the
// main thread's forwarding.
lowerThreadPriority(5);

async function init() {
  if (options.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize });
    // An idle client losing its server must not end the thread; the next query reconnects.
    pool.on('error', () => undefined);
    driver = new PostgresDialect({ pool }).createDriver();
  } else {
    const pglite = await openPGlite(options.pgliteDir, options.pgliteParams);
    // Not part of PGlite's typed interface: its Emscripten module, read only for the memory figure.
    wasmMemory = pglite.mod?.wasmMemory ?? null;
    driver = new PGliteDialect({ pglite }).createDriver();
  }
  await driver.init();
}

/** @param {number} id */
function connection(id) {
  const found = connections.get(id);
  if (!found) throw new Error(`storage worker: unknown connection ${id}`);
  return found;
}

/** @type {Record<string, (request: any, owner: unknown) => Promise<unknown>>} */
const operations = {
  acquire: async (_request, owner) => {
    await lockConnection(owner);
    try {
      // Its thread went away while this waited: nobody would release it.
      if (gone.has(owner)) throw new Error('storage worker: the requesting thread is gone');
      const id = nextConnection++;
      connections.set(id, { connection: await driver.acquireConnection(), owner, inTransaction: false });
      return id;
    } catch (error) {
      unlockConnection();
      throw error;
    }
  },
  release: async ({ conn }) => {
    const released = connection(conn);
    connections.delete(conn);
    try {
      await driver.releaseConnection(released.connection);
    } finally {
      unlockConnection();
    }
  },
  begin: async ({ conn, settings }) => {
    const found = connection(conn);
    await driver.beginTransaction(found.connection, settings);
    found.inTransaction = true;
  },
  commit: async ({ conn }) => {
    const found = connection(conn);
    found.inTransaction = false;
    await driver.commitTransaction(found.connection);
  },
  rollback: async ({ conn }) => {
    const found = connection(conn);
    found.inTransaction = false;
    await driver.rollbackTransaction(found.connection);
  },
  query: ({ conn, sql, parameters, queryId }) => connection(conn).connection.executeQuery({ sql, parameters, queryId, query: { kind: 'RawNode' } }),
  memory: async () => ({ heapUsedBytes: getHeapStatistics().used_heap_size, wasmBytes: wasmMemory ? wasmMemory.buffer.byteLength : null }),
  destroy: async () => {
    await driver.destroy();
    connections.clear();
  },
};

/** Errors cross the thread as plain objects; PostgreSQL's fields (code, detail, constraint...) are kept. */
function plain(error) {
  if (!(error instanceof Error)) return { message: String(error) };
  const copy = { name: error.name, message: error.message, stack: error.stack };
  for (const key of ['code', 'detail', 'hint', 'constraint', 'table', 'column', 'schema', 'severity', 'routine', 'where']) {
    if (error[key] !== undefined) copy[key] = error[key];
  }
  return copy;
}

/** Serves requests arriving on `port` (the parent's, or one attached for another thread). */
function serve(port) {
  port.on('message', (request) => {
    if (request.op === 'attach') {
      serve(request.port);
      request.port.on('close', () => void releaseAll(request.port));
      return;
    }
    const operation = operations[request.op];
    Promise.resolve()
      .then(() => {
        if (!operation) throw new Error(`storage worker: unknown operation ${request.op}`);
        return operation(request, port);
      })
      .then(
        (result) => port.postMessage({ id: request.id, result }),
        (error) => port.postMessage({ id: request.id, error: plain(error) }),
      )
      .finally(() => {
        if (request.op === 'destroy') parentPort.close();
      });
  });
}

/** Ports whose thread went away. */
const gone = new WeakSet();

/** A thread went away: its connections come back, and a transaction it left open is rolled back. */
async function releaseAll(owner) {
  gone.add(owner);
  for (const [id, found] of [...connections]) {
    if (found.owner !== owner) continue;
    connections.delete(id);
    if (found.inTransaction) await driver.rollbackTransaction(found.connection).catch(() => undefined);
    await driver.releaseConnection(found.connection).catch(() => undefined);
    unlockConnection();
  }
}

serve(parentPort);
init().then(
  () => parentPort.postMessage({ ready: true }),
  (error) => parentPort.postMessage({ ready: false, error: plain(error) }),
);
