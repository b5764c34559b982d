import type { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import {
  PGliteAdapter,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

export interface WorkerDatabase {
  kind: 'pglite' | 'postgres';
  databaseUrl?: string | undefined;
  pgliteDir?: string;
  /** PGlite's start parameters (PostgreSQL's memory settings among them). */
  pgliteParams?: string[];
  poolSize: number;
  /** Called with each worker once it is ready (tests use it to kill one). */
  onWorker?: (worker: Worker) => void;
}

export interface StorageThreadMemory {
  heapUsedBytes: number;
  wasmBytes: number | null;
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** What requests travel over: the storage worker itself, or a port attached to it for another thread. */
type Endpoint = Worker | MessagePort;

/**
 * kysely on this thread, the database client on a worker thread (`storage-worker.mjs`). Queries
 * are compiled here and executed there: PGlite runs PostgreSQL inside the process, and a group
 * commit of a few hundred rows kept the event loop busy for milliseconds each time; node-postgres'
 * encoding and decoding moves off it too. The SQL, adapters and transactions are PostgreSQL's, as
 * with the in-thread dialects.
 */
export class WorkerDialect implements Dialect {
  private driver: RemoteDriver | null = null;

  /** From the thread that owns the worker: `database` says what it opens. From another thread: `port` attaches to it. */
  constructor(private readonly target: { database: WorkerDatabase } | { kind: 'pglite' | 'postgres'; port: () => Promise<MessagePort> }) {}

  get kind(): 'pglite' | 'postgres' {
    return 'database' in this.target ? this.target.database.kind : this.target.kind;
  }

  createAdapter(): DialectAdapter {
    return this.kind === 'pglite' ? new PGliteAdapter() : new PostgresAdapter();
  }

  createDriver(): Driver {
    const target = this.target;
    this.driver = 'database' in target ? new RemoteDriver(startWorker(target.database), stopWorker) : new RemoteDriver(openPort(target.port), closePort);
    return this.driver;
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  /** The worker's JavaScript heap in use, and PGlite's WASM memory (null on PostgreSQL), in bytes. */
  async memory(): Promise<StorageThreadMemory> {
    if (!this.driver) throw new Error('storage is not open');
    return this.driver.memory();
  }

  /** A port another thread of this process can open the same database through (see the `port` target). */
  async attachPort(): Promise<MessagePort> {
    if (!this.driver) throw new Error('storage is not open');
    return this.driver.attachPort();
  }
}

type Open = (lost: (error: Error) => void) => Promise<Endpoint>;

/**
 * The storage thread's young generation, in MB (V8 makes its semi-spaces a third of it): V8's default
 * lets each grow to 16 MiB and keeps what it grew to, tens of MiB resident for a thread whose live
 * heap is some 20 MiB; its scavenges, a little more frequent, run off the realtime thread.
 */
export const WORKER_YOUNG_GENERATION_MB = 6;

function startWorker(database: WorkerDatabase): Open {
  return (lost) =>
    new Promise<Endpoint>((resolve, reject) => {
      const { onWorker, ...workerData } = database;
      const worker = new Worker(new URL('./storage-worker.mjs', import.meta.url), { workerData, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
      worker.once('message', (message: { ready: boolean; error?: RemoteError }) => {
        if (!message.ready) {
          void worker.terminate();
          reject(remoteError(message.error ?? { message: 'storage worker failed to start' }));
          return;
        }
        onWorker?.(worker);
        resolve(worker);
      });
      worker.on('error', (error) => {
        reject(error);
        lost(error);
      });
      worker.on('exit', (code) => {
        const error = new Error(`storage worker exited (code ${code})`);
        reject(error);
        lost(error);
      });
    });
}

async function stopWorker(endpoint: Endpoint, request: (op: string) => Promise<unknown>): Promise<void> {
  try {
    await request('destroy');
  } finally {
    await (endpoint as Worker).terminate();
  }
}

function openPort(port: () => Promise<MessagePort>): Open {
  return async (lost) => {
    const opened = await port();
    opened.once('close', () => lost(new Error('storage port closed')));
    return opened;
  };
}

async function closePort(endpoint: Endpoint): Promise<void> {
  (endpoint as MessagePort).close();
}

/**
 * Requests and answers over the worker's message port. The endpoint is referenced only while a
 * request is outstanding, so it never keeps a finished process alive; if it goes away, what was
 * outstanding fails and the next request opens a new one.
 */
class RemoteDriver implements Driver {
  private endpoint: Endpoint | null = null;
  private starting: Promise<Endpoint> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private destroyed = false;

  constructor(
    private readonly open: Open,
    private readonly close: (endpoint: Endpoint, request: (op: string) => Promise<unknown>) => Promise<void>,
  ) {}

  async init(): Promise<void> {
    await this.start();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const endpoint = await this.start();
    return new WorkerConnection(this, endpoint, (await this.call(endpoint, 'acquire', {})) as number);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await (connection as WorkerConnection).request('begin', { settings });
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as WorkerConnection).request('commit', {});
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as WorkerConnection).request('rollback', {});
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const worker = connection as WorkerConnection;
    // A connection of a worker that died is gone with it; refusing to release it would leave
    // kysely's connection lock (PGlite has one connection) held for ever.
    if (!worker.alive()) return;
    await worker.request('release', {});
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    const endpoint = this.endpoint ?? (await this.starting?.catch(() => null));
    if (!endpoint) return;
    this.endpoint = null;
    await this.close(endpoint, (op) => this.send(endpoint, op, {}));
  }

  async memory(): Promise<StorageThreadMemory> {
    const endpoint = await this.start();
    return (await this.call(endpoint, 'memory', {})) as StorageThreadMemory;
  }

  current(): Endpoint | null {
    return this.endpoint;
  }

  async attachPort(): Promise<MessagePort> {
    const endpoint = await this.start();
    const channel = new MessageChannel();
    endpoint.postMessage({ op: 'attach', port: channel.port1 }, [channel.port1]);
    return channel.port2;
  }

  /** Sends one request to `endpoint` (the one the connection was made on) and waits for its answer. */
  call(endpoint: Endpoint, op: string, args: Record<string, unknown>): Promise<unknown> {
    if (endpoint !== this.endpoint) return Promise.reject(new Error('storage worker restarted; the connection was lost'));
    return this.send(endpoint, op, args);
  }

  private send(endpoint: Endpoint, op: string, args: Record<string, unknown>): Promise<unknown> {
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) endpoint.ref();
      endpoint.postMessage({ id, op, ...args });
    });
  }

  private start(): Promise<Endpoint> {
    if (this.destroyed) return Promise.reject(new Error('storage is closed'));
    if (this.endpoint) return Promise.resolve(this.endpoint);
    let opened: Endpoint | null = null;
    this.starting ??= this.open((error) => {
      if (opened) this.lost(opened, error);
    })
      .then((endpoint) => {
        opened = endpoint;
        (endpoint as EventEmitter).on('message', (answer: { id: number; result?: unknown; error?: RemoteError }) => this.answer(answer));
        this.endpoint = endpoint;
        endpoint.unref();
        return endpoint;
      })
      .finally(() => {
        this.starting = null;
      });
    return this.starting;
  }

  private answer({ id, result, error }: { id: number; result?: unknown; error?: RemoteError }): void {
    const request = this.pending.get(id);
    if (!request) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.endpoint?.unref();
    if (error) request.reject(remoteError(error));
    else request.resolve(result);
  }

  /** The worker is gone: what it owed fails, and the next request starts another. */
  private lost(endpoint: Endpoint, error: Error): void {
    if (this.endpoint !== endpoint) return;
    this.endpoint = null;
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
  }
}

class WorkerConnection implements DatabaseConnection {
  constructor(
    private readonly driver: RemoteDriver,
    private readonly endpoint: Endpoint,
    private readonly id: number,
  ) {}

  alive(): boolean {
    return this.driver.current() === this.endpoint;
  }

  request(op: string, args: Record<string, unknown>): Promise<unknown> {
    return this.driver.call(this.endpoint, op, { conn: this.id, ...args });
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    return (await this.request('query', { sql: compiledQuery.sql, parameters: compiledQuery.parameters, queryId: compiledQuery.queryId })) as QueryResult<R>;
  }

  // eslint-disable-next-line require-yield -- an async generator that refuses at once
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the storage worker');
  }
}

interface RemoteError {
  name?: string;
  message: string;
  stack?: string;
  [field: string]: unknown;
}

/** The worker's error as an Error here, with PostgreSQL's fields (code, detail, ...) kept. */
function remoteError(remote: RemoteError): Error {
  const { name, message, stack, ...fields } = remote;
  const error = Object.assign(new Error(message), fields);
  if (name) error.name = name;
  if (stack) error.stack = `${name ?? 'Error'}: ${message}\n    (in the storage worker)\n${stack.split('\n').slice(1).join('\n')}`;
  return error;
}
