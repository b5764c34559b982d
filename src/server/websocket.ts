import type { Logger } from '../log.js';
import { AuthError, type Authenticator, type Principal } from './auth.js';
import { CloseCode, HttpError, problemBody, statusText } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { BEARER_PROTOCOL_PREFIX, paramNames, snapshotRequest, socketCredentials, type RequestSnapshot } from './request.js';
import type { ServerSettings } from './settings.js';
import type { TemplatedApp, WebSocket } from './uws.js';

export interface UpgradeContext extends RequestSnapshot {
  principal: Principal;
}

/** What each open socket carries: who it is, and the route's own state. */
export interface SocketData<S> {
  principal: Principal;
  ip: string;
  state: S;
  messageTokens: number;
  messageAt: number;
}

export type VezaSocket<S> = WebSocket<SocketData<S>>;

export interface WebSocketRoute<S> {
  /**
   * Runs after the token verified and before anything else: decide whether this principal may open
   * this route (throw an HttpError to refuse) and return the connection's state. Synchronous: the
   * upgrade completes inside uWS's handler (see `route`); do I/O after open.
   */
  authorize(ctx: UpgradeContext): S;
  open?(ws: VezaSocket<S>): void;
  message?(ws: VezaSocket<S>, data: ArrayBuffer, isBinary: boolean): void;
  drain?(ws: VezaSocket<S>): void;
  close?(ws: VezaSocket<S>, code: number, reason: ArrayBuffer): void;
  /** Defaults to the server's `maxWsMessageBytes`. */
  maxPayloadLength?: number;
  idleTimeout?: number;
  maxBackpressure?: number;
  closeOnBackpressureLimit?: boolean;
}

interface WsDeps {
  settings: ServerSettings;
  logger: Logger;
  auth: Authenticator;
  metrics: ServerMetrics;
}

/**
 * WebSocket routes with authentication at upgrade: nothing of the route runs before the token has
 * verified, the connection limits have passed and `authorize` accepted. Refusals are HTTP answers
 * with problem JSON (401, 403, 429), so clients see why before any socket exists.
 */
export class WebSocketRouter {
  readonly upgradeLimiter: RateLimiter;
  private readonly perIp = new Map<string, number>();
  private readonly open = new Set<VezaSocket<unknown>>();

  constructor(
    private readonly app: TemplatedApp,
    private readonly deps: WsDeps,
  ) {
    this.upgradeLimiter = new RateLimiter(deps.settings.rateLimitConnectionsPerMinute, Math.max(1, Math.ceil(deps.settings.rateLimitConnectionsPerMinute / 4)));
  }

  /** Sends to every socket subscribed to `topic` (uWS pub/sub, in C++: one copy of the message). */
  publish(topic: string, message: Uint8Array | string, binary: boolean): boolean {
    return this.app.publish(topic, message, binary);
  }

  get connections(): number {
    return this.open.size;
  }

  route<S>(pattern: string, route: WebSocketRoute<S>): this {
    const { settings, logger, metrics } = this.deps;
    const names = paramNames(pattern);
    const perSecond = settings.wsMessagesPerSecond;
    const maxMessage = route.maxPayloadLength ?? settings.maxWsMessageBytes;
    this.app.ws<SocketData<S>>(pattern, {
      // uWS drops a connection whose frame exceeds its limit without a close frame. Giving it twice
      // our limit lets us close the common oversize case ourselves, with 1009 and a reason.
      maxPayloadLength: Math.min(2 * maxMessage, 2 ** 31 - 1),
      idleTimeout: route.idleTimeout ?? 120,
      maxBackpressure: route.maxBackpressure ?? 16 * 1024 * 1024,
      closeOnBackpressureLimit: Number(route.closeOnBackpressureLimit ?? false),
      sendPingsAutomatically: true,
      // Admission is synchronous and the upgrade happens inside this handler: uWS 20.30 can close a
      // socket upgraded later from a promise continuation inside res.cork (uWebSockets PR #1929),
      // and uncorked it warns on every upgrade. Routes that need I/O do it after open.
      upgrade: (res, req, context) => {
        const snapshot = snapshotRequest(res, req, names, settings.trustProxy);
        const credentials = socketCredentials(snapshot);
        let admitted: { principal: Principal; state: S };
        try {
          admitted = this.admit(snapshot, credentials, route);
        } catch (error) {
          const refusal = error instanceof HttpError ? error : new HttpError(500, 'internal', 'internal error');
          if (!(error instanceof HttpError)) logger.error({ err: error, path: snapshot.path }, 'websocket upgrade failed');
          metrics.wsRejected.inc({ route: pattern, reason: refusal.problem });
          res.writeStatus(`${refusal.status} ${statusText[refusal.status] ?? ''}`.trim());
          res.writeHeader('content-type', 'application/problem+json');
          res.writeHeader('x-request-id', snapshot.requestId);
          for (const [name, value] of Object.entries(refusal.extra.headers ?? {})) res.writeHeader(name, value);
          res.end(JSON.stringify(problemBody(refusal, snapshot.path, snapshot.requestId)), true);
          return;
        }
        const data: SocketData<S> = { ...admitted, ip: snapshot.ip, messageTokens: perSecond, messageAt: Date.now() };
        // The answer names one protocol the client offered, never the entry that carried its token.
        res.upgrade(data, req.getHeader('sec-websocket-key'), credentials.protocol, req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws) => {
        const data = ws.getUserData();
        this.open.add(ws as VezaSocket<unknown>);
        this.perIp.set(data.ip, (this.perIp.get(data.ip) ?? 0) + 1);
        metrics.wsConnections.inc({ route: pattern });
        this.guard(ws, pattern, () => route.open?.(ws));
      },
      message: (ws, message, isBinary) => {
        if (message.byteLength > maxMessage) {
          metrics.wsRejected.inc({ route: pattern, reason: 'message-too-big' });
          ws.end(CloseCode.tooBig, `message of ${message.byteLength} bytes exceeds the limit of ${maxMessage}`);
          return;
        }
        if (perSecond > 0 && !takeMessageToken(ws.getUserData(), perSecond)) {
          metrics.rateLimited.inc({ kind: 'ws-message' });
          ws.end(CloseCode.rateLimited, 'message rate limit exceeded');
          return;
        }
        this.guard(ws, pattern, () => route.message?.(ws, message, isBinary));
      },
      drain: (ws) => this.guard(ws, pattern, () => route.drain?.(ws)),
      close: (ws, code, reason) => {
        const data = ws.getUserData();
        this.open.delete(ws as VezaSocket<unknown>);
        const left = (this.perIp.get(data.ip) ?? 1) - 1;
        if (left > 0) this.perIp.set(data.ip, left);
        else this.perIp.delete(data.ip);
        metrics.wsConnections.dec({ route: pattern });
        try {
          route.close?.(ws, code, reason);
        } catch (error) {
          logger.error({ err: error, route: pattern }, 'websocket close handler failed');
        }
      },
    });
    return this;
  }

  /** Closes every socket, e.g. on shutdown. */
  closeAll(code: number, reason: string): void {
    for (const ws of [...this.open]) ws.end(code, reason);
  }

  /** Closes the open sockets whose principal `which` picks (a suspended tenant's); returns how many. */
  closeWhere(which: (principal: Principal) => boolean, code: number, reason: string): number {
    let closed = 0;
    for (const ws of [...this.open]) {
      if (!which(ws.getUserData().principal)) continue;
      ws.end(code, reason);
      closed++;
    }
    return closed;
  }

  private admit<S>(snapshot: RequestSnapshot, credentials: { token: string | null; protocol: string }, route: WebSocketRoute<S>): { principal: Principal; state: S } {
    const { settings, metrics, auth } = this.deps;
    if (snapshot.headerBytes > settings.maxHeaderBytes) {
      throw new HttpError(431, 'headers-too-large', `request headers total ${snapshot.headerBytes} bytes; the limit is ${settings.maxHeaderBytes}`);
    }
    const ipWait = this.upgradeLimiter.take(`ip:${snapshot.ip}`);
    if (ipWait > 0) {
      metrics.rateLimited.inc({ kind: 'ws-upgrade-ip' });
      throw new HttpError(429, 'rate-limited', 'too many connections from this address', { headers: { 'retry-after': String(ipWait) } });
    }
    if (settings.maxConnectionsPerIp > 0 && (this.perIp.get(snapshot.ip) ?? 0) >= settings.maxConnectionsPerIp) {
      metrics.rateLimited.inc({ kind: 'ws-concurrent-ip' });
      throw new HttpError(429, 'rate-limited', `at most ${settings.maxConnectionsPerIp} open connections per address`, { headers: { 'retry-after': '5' } });
    }
    if (credentials.protocol === '' && snapshot.headers['sec-websocket-protocol']) {
      // Answering with the token's own entry would send it back in a header; answering with none fails the handshake.
      throw new HttpError(400, 'bad-request', `offer a subprotocol beside the token's entry, e.g. ['veza', '${BEARER_PROTOCOL_PREFIX}<token>']`);
    }
    let principal: Principal;
    try {
      principal = auth.verify(credentials.token);
    } catch (error) {
      if (error instanceof AuthError) throw new HttpError(error.status, error.status === 403 ? 'forbidden' : 'unauthorized', error.message);
      throw error;
    }
    const userWait = this.upgradeLimiter.take(`user:${principal.tenantId}/${principal.userId}`);
    if (userWait > 0) {
      metrics.rateLimited.inc({ kind: 'ws-upgrade-user' });
      throw new HttpError(429, 'rate-limited', 'too many connections for this user', { headers: { 'retry-after': String(userWait) } });
    }
    const state = route.authorize({ ...snapshot, principal });
    return { principal, state };
  }

  /** A throwing route handler closes its socket with 1011; it never takes the process down. */
  private guard<S>(ws: VezaSocket<S>, route: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.deps.logger.error({ err: error, route }, 'websocket handler failed');
      try {
        ws.end(CloseCode.internalError, 'internal error');
      } catch {
        // already closed
      }
    }
  }
}

function takeMessageToken(data: SocketData<unknown>, perSecond: number): boolean {
  const now = Date.now();
  data.messageTokens = Math.min(perSecond, data.messageTokens + ((now - data.messageAt) * perSecond) / 1000);
  data.messageAt = now;
  if (data.messageTokens < 1) return false;
  data.messageTokens -= 1;
  return true;
}
