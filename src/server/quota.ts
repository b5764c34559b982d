// The seam through which a tenant's quotas reach the realtime path. The server knows no plan and no
// tenant: it asks the installed gate at an upgrade, at each authenticated request and, through the
// meter it keeps on the socket, at each WebSocket message. Without a gate (nothing installed) every
// check is one null test. The tenants module installs the gate (src/tenants/quotas.ts).
import type { Principal } from './auth.js';
import { HttpError } from './errors.js';

/** What is counted where it is created or joined, rather than per message. */
export type QuotaResource = 'documents' | 'rooms' | 'participantsPerRoom' | 'storageBytes' | 'recordingMinutes';

/** A refusal over a quota: 429 with Retry-After over HTTP, close 4429 on an open socket. */
export class QuotaExceeded extends HttpError {
  constructor(
    readonly limit: string,
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(429, 'quota-exceeded', message, { headers: { 'retry-after': String(retryAfterSeconds) } });
    this.name = 'QuotaExceeded';
  }

  /** The close reason of a socket (at most 123 bytes): the limit and when to come back. */
  get closeReason(): string {
    return `quota ${this.limit} exceeded; retry after ${this.retryAfterSeconds} s`;
  }
}

/**
 * Kept on an open socket: `take` counts one message of `bytes` and answers false once the tenant is
 * over a rate. It runs for every message, so it must be O(1) and allocate nothing.
 */
export interface SocketMeter {
  take(bytes: number): boolean;
  /** Why the last `take` answered false (only asked then). */
  refusal(): QuotaExceeded;
}

export interface QuotaGate {
  /** At an upgrade, after the token verified: throws QuotaExceeded, else returns the socket's meter. */
  admitSocket(principal: Principal): SocketMeter;
  /** The socket opened (counted) or closed (released). */
  socketOpened(principal: Principal, meter: SocketMeter): void;
  socketClosed(principal: Principal, meter: SocketMeter): void;
  /** At each authenticated HTTP request: throws QuotaExceeded. */
  admitRequest(principal: Principal): void;
  /**
   * Before one more of `resource` is created or joined: throws QuotaExceeded. `current` is the count
   * the caller holds where only it knows it (the participants of one room).
   */
  admit(tenantId: string, resource: QuotaResource, current?: number): void;
  /** A counted thing (a live room) began or ended on this node. */
  entered(tenantId: string, resource: 'rooms'): void;
  left(tenantId: string, resource: 'rooms'): void;
}

/** Shared by the HTTP and WebSocket routers and the modules; empty until a gate is installed. */
export class QuotaSeam {
  gate: QuotaGate | null = null;

  install(gate: QuotaGate | null): void {
    this.gate = gate;
  }

  admit(tenantId: string, resource: QuotaResource, current?: number): void {
    this.gate?.admit(tenantId, resource, current);
  }

  entered(tenantId: string, resource: 'rooms'): void {
    this.gate?.entered(tenantId, resource);
  }

  left(tenantId: string, resource: 'rooms'): void {
    this.gate?.left(tenantId, resource);
  }
}
