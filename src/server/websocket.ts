import type { Logger } from '../log.js';
import { AuthError, type Authenticator, type Principal } from './auth.js';
import { CloseCode, HttpError, problemBody, statusText } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import { QuotaSeam, type SocketMeter } from './quota.js';
import { RateLimiter } from './rate-limit.js';
import { scopedSocketPrincipal } from './scopes.js';
import { BEARER_PROTOCOL_PREFIX, paramNames, requestIp, snapshotRequest, socketCredentials, type RequestSnapshot } from './request.js';
import type { ServerSettings } from './settings.js';
import type { UsageSink } from './usage.js';
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
  /** The tenant's quota meter, when quotas are installed: checked at every message. */
  quota: SocketMeter | null;
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
  /**
   * The client sends its tokens in messages, one per document (Hocuspocus), not at the upgrade: the
   * upgrade checks the address limits only, `authorize` gets `ANONYMOUS`, and the route admits each
   * token with `admitToken` and reports it open and closed with `tokenOpened`/`tokenClosed`.
   */
  tokensInMessages?: boolean;
}

/** The principal of a socket whose tokens come in its messages: it matches no tenant and no user. */
export const ANONYMOUS: Principal = Object.freeze({ userId: '', tenantId: '', docs: Object.freeze({}) });

/** Closes what a route attached on sockets for principals that `which` picks; returns how many. */
export type AttachmentCloser = (which: (principal: Principal) => boolean, code: number, reason: string) => number;

interface WsDeps {
  settings: ServerSettings;
  logger: Logger;
  auth: Authenticator;
  metrics: ServerMetrics;
  quotas?: QuotaSeam;
}

/**
 * WebSocket routes with authentication at upgrade: nothing of the route runs before the token has
 * verified, the connection limits have passed and `authorize` accepted. Refusals are HTTP answers
 * with problem JSON (401, 403, 429), so clients see why before any socket exists.
 */
export class WebSocketRouter {
  readonly upgradeLimiter: RateLimiter;
  /** Tenants' quotas: connections, joins and channels at upgrade, messages and bytes per message. */
  readonly quotas: QuotaSeam;
  private readonly perIp = new Map<string, number>();
  /** Open sockets per `tenant/user`. */
  private readonly perUser = new Map<string, number>();
  /** The answers of the refusals made before a token is read: precomputed, so a flood of them costs little. */
  private readonly cheap: Record<'full' | 'ipRate' | 'ipConcurrent', CheapRefusal>;
  private readonly open = new Set<VezaSocket<unknown>>();
  private readonly attachmentClosers: AttachmentCloser[] = [];
  private usage: UsageSink | null = null;

  constructor(
    private readonly app: TemplatedApp,
    private readonly deps: WsDeps,
  ) {
    this.quotas = deps.quotas ?? new QuotaSeam();
    this.upgradeLimiter = new RateLimiter(deps.settings.rateLimitConnectionsPerMinute, Math.max(1, Math.ceil(deps.settings.rateLimitConnectionsPerMinute / 4)));
    const { maxConnections, maxConnectionsPerIp } = deps.settings;
    this.cheap = {
      full: cheapRefusal(503, 'unavailable', `this server holds its maximum of ${maxConnections} connections; retry later or on another node`, 'global-cap'),
      ipRate: cheapRefusal(429, 'rate-limited', 'too many connections from this address', 'ws-upgrade-ip'),
      ipConcurrent: cheapRefusal(429, 'rate-limited', `at most ${maxConnectionsPerIp} open connections per address`, 'ws-concurrent-ip'),
    };
  }

  /** Sends to every socket subscribed to `topic` (uWS pub/sub, in C++: one copy of the message). */
  publish(topic: string, message: Uint8Array | string, binary: boolean): boolean {
    return this.app.publish(topic, message, binary);
  }

  /** Reports sockets opened and closed, and the bytes routes send, to `sink` (the tenants module's metering). */
  meterWith(sink: UsageSink): void {
    this.usage = sink;
  }

  /** A route queued `bytes` to the sockets of `tenantId` (a fan-out counted once per receiver). */
  egress(tenantId: string, bytes: number): void {
    this.usage?.egress(tenantId, bytes);
  }

  get connections(): number {
    return this.open.size;
  }

  private readonly patterns: string[] = [];

  /** Every WebSocket path registered so far, in order (the isolation tests open each). */
  get registered(): readonly string[] {
    return [...this.patterns];
  }

  route<S>(pattern: string, route: WebSocketRoute<S>): this {
    this.patterns.push(pattern);
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
        // Refusals that need only the address come first, answered with precomputed bytes.
        const early = this.refuseEarly(requestIp(res, req, settings.trustProxy));
        if (early) {
          metrics.wsRejected.inc({ route: pattern, reason: early.refusal.reason });
          if (early.refusal.kind) metrics.rateLimited.inc({ kind: early.refusal.kind });
          res.writeStatus(early.refusal.status);
          res.writeHeader('content-type', 'application/problem+json');
          res.writeHeader('retry-after', early.retryAfter);
          res.end(early.refusal.body, true);
          return;
        }
        const snapshot = snapshotRequest(res, req, names, settings.trustProxy);
        const credentials = socketCredentials(snapshot);
        let admitted: { principal: Principal; state: S; quota: SocketMeter | null };
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
        if (data.principal !== ANONYMOUS) this.countUser(data.principal, 1);
        if (data.quota) this.quotas.gate?.socketOpened(data.principal, data.quota);
        metrics.wsConnections.inc({ route: pattern });
        if (data.principal !== ANONYMOUS) this.usage?.socketOpened(data.principal.tenantId);
        this.guard(ws, pattern, () => route.open?.(ws));
      },
      message: (ws, message, isBinary) => {
        if (message.byteLength > maxMessage) {
          metrics.wsRejected.inc({ route: pattern, reason: 'message-too-big' });
          ws.end(CloseCode.tooBig, `message of ${message.byteLength} bytes exceeds the limit of ${maxMessage}`);
          return;
        }
        const data = ws.getUserData();
        if (perSecond > 0 && !takeMessageToken(data, perSecond)) {
          metrics.rateLimited.inc({ kind: 'ws-message' });
          ws.end(CloseCode.rateLimited, 'message rate limit exceeded');
          return;
        }
        const quota = data.quota;
        if (quota !== null && !quota.take(message.byteLength)) {
          metrics.rateLimited.inc({ kind: 'ws-tenant-quota' });
          ws.end(CloseCode.rateLimited, quota.refusal().closeReason);
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
        if (data.principal !== ANONYMOUS) this.countUser(data.principal, -1);
        if (data.quota) this.quotas.gate?.socketClosed(data.principal, data.quota);
        metrics.wsConnections.dec({ route: pattern });
        if (data.principal !== ANONYMOUS) this.usage?.socketClosed(data.principal.tenantId);
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
      const principal = ws.getUserData().principal;
      if (principal === ANONYMOUS || !which(principal)) continue;
      ws.end(code, reason);
      closed++;
    }
    for (const closer of this.attachmentClosers) closed += closer(which, code, reason);
    return closed;
  }

  /** `closeWhere` also reaches what a route attached per token on its sockets (Hocuspocus documents). */
  closeAttachmentsWith(closer: AttachmentCloser): void {
    this.attachmentClosers.push(closer);
  }

  /**
   * Admits a token that arrived in a message of an open socket, as an upgrade admits its token:
   * verified, allowed on the host and by an API key's scopes for `path`, within the user's rate of
   * connections, then `authorize`, then the tenant's quotas. Throws AuthError or HttpError.
   */
  admitToken<T>(token: string | null, where: { host: string | undefined; path: string }, authorize: (principal: Principal) => T): { principal: Principal; quota: SocketMeter | null; state: T } {
    const principal = this.admitPrincipal(token, where.host, where.path);
    const state = authorize(principal);
    return { principal, state, quota: this.quotas.gate?.admitSocket(principal) ?? null };
  }

  /** A token `admitToken` admitted is in use (counted as a connection of its tenant) or no longer. */
  tokenOpened(principal: Principal, quota: SocketMeter | null): void {
    this.countUser(principal, 1);
    if (quota) this.quotas.gate?.socketOpened(principal, quota);
    this.usage?.socketOpened(principal.tenantId);
  }

  tokenClosed(principal: Principal, quota: SocketMeter | null): void {
    this.countUser(principal, -1);
    if (quota) this.quotas.gate?.socketClosed(principal, quota);
    this.usage?.socketClosed(principal.tenantId);
  }

  private countUser(principal: Principal, change: 1 | -1): void {
    const user = userKey(principal);
    const count = (this.perUser.get(user) ?? 0) + change;
    if (count > 0) this.perUser.set(user, count);
    else this.perUser.delete(user);
  }

  private admit<S>(snapshot: RequestSnapshot, credentials: { token: string | null; protocol: string }, route: WebSocketRoute<S>): { principal: Principal; state: S; quota: SocketMeter | null } {
    const { settings } = this.deps;
    if (snapshot.headerBytes > settings.maxHeaderBytes) {
      throw new HttpError(431, 'headers-too-large', `request headers total ${snapshot.headerBytes} bytes; the limit is ${settings.maxHeaderBytes}`);
    }
    if (route.tokensInMessages) return { principal: ANONYMOUS, state: route.authorize({ ...snapshot, principal: ANONYMOUS }), quota: null };
    if (credentials.protocol === '' && snapshot.headers['sec-websocket-protocol']) {
      // Answering with the token's own entry would send it back in a header; answering with none fails the handshake.
      throw new HttpError(400, 'bad-request', `offer a subprotocol beside the token's entry, e.g. ['veza', '${BEARER_PROTOCOL_PREFIX}<token>']`);
    }
    let principal: Principal;
    try {
      principal = this.admitPrincipal(credentials.token, snapshot.headers.host, snapshot.path);
    } catch (error) {
      if (error instanceof AuthError) throw new HttpError(error.status, error.status === 403 ? 'forbidden' : 'unauthorized', error.message);
      throw error;
    }
    const state = route.authorize({ ...snapshot, principal });
    // Last: a refusal for any other reason does not count as one of the tenant's joins.
    const quota = this.quotas.gate?.admitSocket(principal) ?? null;
    return { principal, state, quota };
  }

  /**
   * The token's principal, admitted on the host and scoped to the path, within the user's rate of
   * connections and open connections (sockets, and documents a route admitted with `admitToken`).
   */
  private admitPrincipal(token: string | null, host: string | undefined, path: string): Principal {
    const { metrics, auth, settings } = this.deps;
    const verified = auth.verify(token);
    auth.admitOnHost(verified, host);
    const principal = scopedSocketPrincipal(verified, path);
    const userWait = this.upgradeLimiter.take(`user:${principal.tenantId}/${principal.userId}`);
    if (userWait > 0) {
      metrics.rateLimited.inc({ kind: 'ws-upgrade-user' });
      throw new HttpError(429, 'rate-limited', 'too many connections for this user', { headers: { 'retry-after': String(userWait) } });
    }
    if (settings.maxConnectionsPerUser > 0 && (this.perUser.get(userKey(principal)) ?? 0) >= settings.maxConnectionsPerUser) {
      metrics.rateLimited.inc({ kind: 'ws-concurrent-user' });
      throw new HttpError(429, 'rate-limited', `at most ${settings.maxConnectionsPerUser} open connections per user`, { headers: { 'retry-after': '5' } });
    }
    return principal;
  }

  /** The node's connection cap, then the address's upgrade rate and open connections: a refusal and its Retry-After, or null. */
  private refuseEarly(ip: string): { refusal: CheapRefusal; retryAfter: string } | null {
    const { maxConnections, maxConnectionsPerIp } = this.deps.settings;
    if (maxConnections > 0 && this.open.size >= maxConnections) return { refusal: this.cheap.full, retryAfter: '5' };
    const ipWait = this.upgradeLimiter.take(`ip:${ip}`);
    if (ipWait > 0) return { refusal: this.cheap.ipRate, retryAfter: String(ipWait) };
    if (maxConnectionsPerIp > 0 && (this.perIp.get(ip) ?? 0) >= maxConnectionsPerIp) return { refusal: this.cheap.ipConcurrent, retryAfter: '5' };
    return null;
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

/** A refusal answered before the request is read: its status line and problem JSON, built once. */
interface CheapRefusal {
  status: string;
  body: string;
  reason: string;
  /** The rate-limit metric's kind, for those that are rate limits. */
  kind: string | null;
}

function cheapRefusal(status: number, problem: string, detail: string, kind: string): CheapRefusal {
  const error = new HttpError(status, problem, detail);
  const full = problemBody(error, '', '');
  const body = { type: full.type, title: full.title, status, detail: full.detail };
  return { status: `${status} ${statusText[status] ?? ''}`.trim(), body: JSON.stringify(body), reason: problem, kind: status === 429 ? kind : null };
}

function userKey(principal: Principal): string {
  return `${principal.tenantId}/${principal.userId}`;
}
