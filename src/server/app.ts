import type { Tracer } from '@opentelemetry/api';
import type { Logger } from '../log.js';
import type { Authenticator } from './auth.js';
import { CloseCode } from './errors.js';
import { HttpRouter } from './http.js';
import type { ServerMetrics } from './metrics.js';
import { QuotaSeam } from './quota.js';
import type { ServerSettings } from './settings.js';
import { uws, type TemplatedApp, type us_listen_socket } from './uws.js';
import { WebSocketRouter } from './websocket.js';

export interface ServerDeps {
  settings: ServerSettings;
  logger: Logger;
  auth: Authenticator;
  metrics: ServerMetrics;
  tracer: Tracer;
}

/** The uWS app with its HTTP and WebSocket routers; knows how to listen and how to drain. */
export class VezaServer {
  readonly app: TemplatedApp = uws.App();
  readonly http: HttpRouter;
  readonly ws: WebSocketRouter;
  /** Tenants' quotas, shared by both routers; the tenants module installs them. */
  readonly quotas = new QuotaSeam();
  private listenSocket: us_listen_socket | null = null;

  readonly metrics: ServerMetrics;

  constructor(private readonly deps: ServerDeps) {
    this.metrics = deps.metrics;
    this.http = new HttpRouter(this.app, { ...deps, quotas: this.quotas });
    this.ws = new WebSocketRouter(this.app, { ...deps, quotas: this.quotas });
  }

  /** Resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    this.http.finish();
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${host}:${port} (in use, or not permitted)`));
        this.listenSocket = socket;
        resolve(uws.us_socket_local_port(socket));
      });
    });
  }

  /**
   * Closes every connection left once shutdown is over: idle keep-alive connections would otherwise
   * stay with this server (answering 503) where a process hosts another after it, as tests do.
   */
  close(): void {
    // uWS 20.30 has App.close() (closing every socket of the app); its type declarations lack it.
    (this.app as TemplatedApp & { close(): void }).close();
  }

  /** Stops accepting, tells WebSocket clients to go, and waits (bounded) for requests in flight. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.http.draining = true;
    if (this.listenSocket) {
      uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    this.ws.closeAll(CloseCode.goingAway, 'server shutting down');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const done = await Promise.race([this.http.idle().then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (!done) this.deps.logger.warn({ timeoutMs }, 'requests still in flight at the drain deadline');
    return done;
  }
}
