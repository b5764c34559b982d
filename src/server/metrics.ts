import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How often the event loop's delay is sampled, ms (veza_nodejs_eventloop_lag_* in /metrics). */
const EVENT_LOOP_SAMPLE_MS = 100;

/** The server's own instruments; modules add theirs to the same registry. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'veza_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'veza_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly wsConnections = new Gauge({
    name: 'veza_ws_connections',
    help: 'Open WebSocket connections by route',
    labelNames: ['route'],
    registers: [this.registry],
  });
  readonly wsRejected = new Counter({
    name: 'veza_ws_rejected_total',
    help: 'WebSocket upgrades refused, by reason',
    labelNames: ['route', 'reason'],
    registers: [this.registry],
  });
  readonly responseChecks = new Counter({
    name: 'veza_http_response_checks_total',
    help: 'Test mode: JSON replies checked against their route\'s declared schema (match, mismatch, undescribed)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'veza_rate_limited_total',
    help: 'Requests, upgrades and messages refused by a rate limit',
    labelNames: ['kind'],
    registers: [this.registry],
  });

  constructor() {
    // The event loop's delay is sampled every 100 ms, not prom-client's 10: each sample wakes the
    // loop, and a hundred wake-ups a second cost an idle server most of its CPU.
    collectDefaultMetrics({ register: this.registry, prefix: 'veza_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
}
