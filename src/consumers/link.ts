// Named calls between the server's main thread and its event consumers: over a MessagePort when the
// consumers run on their own thread, or directly when they share the main thread. Both sides see the
// same typed interface, so a module's consumer does not know where it runs.
import { MessagePort } from 'node:worker_threads';

/** Method name → [payload, answer]. */
export type Methods = Record<string, [unknown, unknown]>;

export interface Link<Out extends Methods, In extends Methods> {
  /** Calls the other side's handler; rejects with its error, or when the other side is gone. */
  call<K extends keyof Out & string>(name: K, payload: Out[K][0]): Promise<Out[K][1]>;
  /** Calls without waiting for an answer; a failure on the other side goes to its `onError`. */
  notify<K extends keyof Out & string>(name: K, payload: Out[K][0]): void;
  /** Answers the other side's calls of `name` (one handler per name). */
  handle<K extends keyof In & string>(name: K, handler: (payload: In[K][0]) => In[K][1] | Promise<In[K][1]>): void;
  close(): void;
}

type Message =
  | { kind: 'call'; id: number; name: string; payload: unknown }
  | { kind: 'notify'; name: string; payload: unknown }
  | { kind: 'reply'; id: number; result?: unknown; error?: { message: string; name?: string } };

type Handler = (payload: unknown) => unknown;

/** Calls over one end of a MessageChannel. A handler may answer a MessagePort: it is transferred. */
export class PortLink<Out extends Methods, In extends Methods> implements Link<Out, In> {
  private readonly handlers = new Map<string, Handler>();
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private closed = false;

  /**
   * Referenced only while a call is outstanding, so an idle link never keeps the process alive;
   * with `keepAlive` (a thread that must live until told to stop), always.
   */
  constructor(
    private readonly port: MessagePort,
    private readonly onError: (error: unknown, name: string) => void,
    private readonly keepAlive = false,
  ) {
    port.on('message', (message: Message) => this.receive(message));
    port.on('close', () => this.fail(new Error('the other thread is gone')));
    if (!keepAlive) port.unref();
  }

  call<K extends keyof Out & string>(name: K, payload: Out[K][0]): Promise<Out[K][1]> {
    if (this.closed) return Promise.reject(new Error(`link closed; ${name} not sent`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.size === 1 && !this.keepAlive) this.port.ref();
      this.port.postMessage({ kind: 'call', id, name, payload } satisfies Message);
    });
  }

  notify<K extends keyof Out & string>(name: K, payload: Out[K][0]): void {
    if (!this.closed) this.port.postMessage({ kind: 'notify', name, payload } satisfies Message);
  }

  handle<K extends keyof In & string>(name: K, handler: (payload: In[K][0]) => In[K][1] | Promise<In[K][1]>): void {
    if (this.handlers.has(name)) throw new Error(`${name} already has a handler`);
    this.handlers.set(name, handler as Handler);
  }

  close(): void {
    this.fail(new Error('link closed'));
    this.port.close();
  }

  private receive(message: Message): void {
    if (message.kind === 'reply') {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0 && !this.keepAlive) this.port.unref();
      if (message.error) waiting.reject(Object.assign(new Error(message.error.message), message.error.name ? { name: message.error.name } : {}));
      else waiting.resolve(message.result);
      return;
    }
    const handler = this.handlers.get(message.name);
    if (message.kind === 'notify') {
      Promise.resolve()
        .then(() => {
          if (!handler) throw new Error(`no handler for ${message.name}`);
          return handler(message.payload);
        })
        .catch((error: unknown) => this.onError(error, message.name));
      return;
    }
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no handler for ${message.name}`);
        return handler(message.payload);
      })
      .then(
        (result) => {
          if (this.closed) return;
          const transfer = result instanceof MessagePort ? [result] : [];
          this.port.postMessage({ kind: 'reply', id: message.id, result } satisfies Message, transfer);
        },
        (error: unknown) => {
          if (this.closed) return;
          const { message: text, name } = error instanceof Error ? error : { message: String(error), name: undefined };
          this.port.postMessage({ kind: 'reply', id: message.id, error: { message: text, ...(name ? { name } : {}) } } satisfies Message);
        },
      );
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

/** Two ends that call each other's handlers directly (the consumers on the main thread). */
export function localLinks<A extends Methods, B extends Methods>(onError: (error: unknown, name: string) => void): [Link<A, B>, Link<B, A>] {
  const handlersOf = [new Map<string, Handler>(), new Map<string, Handler>()] as const;
  const end = <Out extends Methods, In extends Methods>(own: Map<string, Handler>, other: Map<string, Handler>): Link<Out, In> => ({
    async call(name, payload) {
      const handler = other.get(name);
      if (!handler) throw new Error(`no handler for ${name}`);
      return handler(payload) as never;
    },
    notify(name, payload) {
      Promise.resolve()
        .then(() => {
          const handler = other.get(name);
          if (!handler) throw new Error(`no handler for ${name}`);
          return handler(payload);
        })
        .catch((error: unknown) => onError(error, name));
    },
    handle(name, handler) {
      if (own.has(name)) throw new Error(`${name} already has a handler`);
      own.set(name, handler as Handler);
    },
    close() {
      own.clear();
    },
  });
  return [end<A, B>(handlersOf[0], handlersOf[1]), end<B, A>(handlersOf[1], handlersOf[0])];
}
