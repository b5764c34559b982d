/**
 * The seam through which the server reports what a tenant used: answered requests, open sockets and
 * bytes sent. The server knows nothing of how usage is counted or billed; the tenants module installs
 * a sink (`meterWith`) the way it installs tenant admission. Every call is on the realtime path, so a
 * sink does constant work per call and never awaits.
 */
export interface UsageSink {
  /**
   * A request of an admitted token is about to be answered with `status` and `bytes` of body. Called
   * before the answer is written, so that a sink that records it durably never misses an answer sent.
   */
  answered(tenantId: string, status: number, bytes: number): void;
  socketOpened(tenantId: string): void;
  socketClosed(tenantId: string): void;
  /** Bytes queued to a tenant's sockets (a fan-out counts once per receiving connection). */
  egress(tenantId: string, bytes: number): void;
}
