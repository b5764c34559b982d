import { Worker } from 'node:worker_threads';
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
  poolSize: number;
  /** Called with each worker once it is ready (tests use it to kill one). */
  onWorker?: (worker: Worker) => void;
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/**
 * kysely on the main thread, the database client on a worker thread (`storage-worker.mjs`). Queries
 * are compiled here and executed there: PGlite runs PostgreSQL inside the process, and a group
 * commit of a few hundred rows kept the event loop busy for milliseconds each time; node-postgres'
 * encoding and decoding moves off it too. The SQL, adapters and transactions are PostgreSQL's, as
 * with the in-thread dialects.
 */
export class WorkerDialect implements Dialect {
  constructor(private readonly database: WorkerDatabase) {}

  createAdapter(): DialectAdapter {
    return this.database.kind === 'pglite' ? new PGliteAdapter() : new PostgresAdapter();
  }

  createDriver(): Driver {
    return new WorkerDriver(this.database);
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
}

/**
 * Requests and answers over the worker's message port. The worker is referenced only while a
 * request is outstanding, so it never keeps a finished process alive; if it dies, what was
 * outstanding fails and the next request starts a new one.
 */
class WorkerDriver implements Driver {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private destroyed = false;

  constructor(private readonly database: WorkerDatabase) {}

  async init(): Promise<void> {
    await this.start();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const worker = await this.start();
    return new WorkerConnection(this, worker, (await this.call(worker, 'acquire', {})) as number);
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
    const worker = this.worker ?? (await this.starting?.catch(() => null));
    if (!worker) return;
    try {
      await this.call(worker, 'destroy', {});
    } finally {
      await worker.terminate();
    }
  }

  current(): Worker | null {
    return this.worker;
  }

  /** Sends one request to `worker` (the one the connection was made on) and waits for its answer. */
  call(worker: Worker, op: string, args: Record<string, unknown>): Promise<unknown> {
    if (worker !== this.worker) return Promise.reject(new Error('storage worker restarted; the connection was lost'));
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, op, ...args });
    });
  }

  private start(): Promise<Worker> {
    if (this.destroyed) return Promise.reject(new Error('storage is closed'));
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= new Promise<Worker>((resolve, reject) => {
      const { onWorker, ...workerData } = this.database;
      const worker = new Worker(new URL('./storage-worker.mjs', import.meta.url), { workerData });
      worker.once('message', (message: { ready: boolean; error?: RemoteError }) => {
        if (!message.ready) {
          void worker.terminate();
          reject(remoteError(message.error ?? { message: 'storage worker failed to start' }));
          return;
        }
        worker.on('message', (answer: { id: number; result?: unknown; error?: RemoteError }) => this.answer(answer));
        this.worker = worker;
        worker.unref();
        onWorker?.(worker);
        resolve(worker);
      });
      worker.on('error', (error) => {
        reject(error);
        this.lost(worker, error);
      });
      worker.on('exit', (code) => {
        const error = new Error(`storage worker exited (code ${code})`);
        reject(error);
        this.lost(worker, error);
      });
    }).finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private answer({ id, result, error }: { id: number; result?: unknown; error?: RemoteError }): void {
    const request = this.pending.get(id);
    if (!request) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    if (error) request.reject(remoteError(error));
    else request.resolve(result);
  }

  /** The worker is gone: what it owed fails, and the next request starts another. */
  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
  }
}

class WorkerConnection implements DatabaseConnection {
  constructor(
    private readonly driver: WorkerDriver,
    private readonly worker: Worker,
    private readonly id: number,
  ) {}

  alive(): boolean {
    return this.driver.current() === this.worker;
  }

  request(op: string, args: Record<string, unknown>): Promise<unknown> {
    return this.driver.call(this.worker, op, { conn: this.id, ...args });
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
