// The server core's settings (listening, request and WebSocket limits, rate limits, the web client,
// logging, tracing, shutdown) and the sign-in settings its Authenticator reads. Each entry gives its
// environment variable, flag, schema (with the default) and its row in docs/configuration.md.
import { z } from 'zod';
import { bool, int, optionalUrl, splitList, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the server core reads: the uWS app, its HTTP and WebSocket routers, logging, tracing and shutdown. */
export const serverSettings = {
  host: { env: 'VEZA_HOST', flag: 'host', schema: z.string().min(1).default('0.0.0.0'), doc: 'Address to listen on' },
  port: { env: 'VEZA_PORT', flag: 'port', schema: int(0, 65535).default(8080), doc: 'HTTP/WebSocket port (0 picks a free one)' },
  logLevel: { env: 'VEZA_LOG_LEVEL', flag: 'log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), doc: 'pino log level' },
  corsOrigins: { env: 'VEZA_CORS_ORIGINS', flag: 'cors-origins', schema: z.string().default('').transform(splitList), doc: 'Comma-separated origins allowed by CORS (`*` allows any); empty allows none' },
  maxBodyBytes: { env: 'VEZA_MAX_BODY_BYTES', flag: 'max-body-bytes', schema: int(1, 1 << 30).default(1 << 20), doc: 'Largest accepted request body (413 beyond)' },
  maxHeaderBytes: { env: 'VEZA_MAX_HEADER_BYTES', flag: 'max-header-bytes', schema: int(256, 1 << 20).default(8192), doc: 'Largest accepted total of request header names and values (431 beyond)' },
  compressMinBytes: { env: 'VEZA_COMPRESS_MIN_BYTES', flag: 'compress-min-bytes', schema: int(1, 1 << 30).default(1024), doc: 'JSON and text replies at least this large are sent with Brotli or gzip when the client accepts it' },
  brotliQuality: { env: 'VEZA_BROTLI_QUALITY', flag: 'brotli-quality', schema: int(0, 11).default(1), doc: 'Brotli quality of replies made per request (the spec and the web client\'s files use 11, once)' },
  checkResponses: { env: 'VEZA_CHECK_RESPONSES', flag: 'check-responses', schema: bool.default(false), doc: 'Test mode: each JSON reply is checked against its route\'s declared schema; a mismatch answers 500 (on in the test suite)' },
  maxWsMessageBytes: { env: 'VEZA_MAX_WS_MESSAGE_BYTES', flag: 'max-ws-message-bytes', schema: int(1024, 1 << 30).default(16 << 20), doc: 'Largest WebSocket message (close 1009 beyond)' },
  rateLimitRequestsPerMinute: { env: 'VEZA_RATE_LIMIT_REQUESTS_PER_MINUTE', flag: 'rate-limit-requests-per-minute', schema: int(0, 1e9).default(600), doc: 'HTTP requests per minute per IP and per user (0 disables)' },
  rateLimitBurst: { env: 'VEZA_RATE_LIMIT_BURST', flag: 'rate-limit-burst', schema: int(1, 1e9).default(120), doc: 'Requests allowed in a burst above the steady rate' },
  rateLimitConnectionsPerMinute: { env: 'VEZA_RATE_LIMIT_CONNECTIONS_PER_MINUTE', flag: 'rate-limit-connections-per-minute', schema: int(0, 1e9).default(120), doc: 'WebSocket upgrades per minute per IP and per user, in bursts of up to a quarter of it (0 disables)' },
  maxConnectionsPerIp: { env: 'VEZA_MAX_CONNECTIONS_PER_IP', flag: 'max-connections-per-ip', schema: int(0, 1e9).default(256), doc: 'Concurrent WebSocket connections per IP (0 disables)' },
  maxConnections: { env: 'VEZA_MAX_CONNECTIONS', flag: 'max-connections', schema: int(0, 1e9).default(20_000), doc: 'WebSocket connections this node holds at most, all routes together (503 beyond; 0 disables)' },
  maxConnectionsPerUser: { env: 'VEZA_MAX_CONNECTIONS_PER_USER', flag: 'max-connections-per-user', schema: int(0, 1e9).default(64), doc: 'Concurrent WebSocket connections per user of a tenant (429 beyond; 0 disables)' },
  wsMessagesPerSecond: { env: 'VEZA_WS_MESSAGES_PER_SECOND', flag: 'ws-messages-per-second', schema: int(0, 1e9).default(500), doc: 'Messages per second per WebSocket before it is closed with 4429 (0 disables)' },
  dev: { env: 'VEZA_DEV', flag: 'dev', schema: bool.default(false), doc: 'Development mode: POST /api/v1/dev/token signs anyone in (the web client\'s sign-in); never in production' },
  webDir: { env: 'VEZA_WEB_DIR', flag: 'web-dir', schema: z.string().min(1).default('web/dist'), doc: 'The built web client served at / (`npm run build:web`); relative to the package' },
  trustProxy: { env: 'VEZA_TRUST_PROXY', flag: 'trust-proxy', schema: bool.default(false), doc: 'Behind one trusted reverse proxy: take the client IP from the last X-Forwarded-For entry' },
  shutdownTimeoutMs: { env: 'VEZA_SHUTDOWN_TIMEOUT_MS', flag: 'shutdown-timeout-ms', schema: int(100, 600_000).default(10_000), doc: 'How long SIGTERM waits for requests, the bus and storage to drain' },
  otlpEndpoint: { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', flag: 'otlp-endpoint', schema: optionalUrl(['http:', 'https:']), doc: 'OTLP/HTTP collector; spans are exported only when it is set' },
} as const satisfies SettingsGroup;

export type ServerSettings = SettingsOf<typeof serverSettings>;

/** How tokens are verified and signed (`Authenticator`). */
export const authSettings = {
  jwtSecret: { env: 'VEZA_JWT_SECRET', flag: 'jwt-secret', schema: z.string().min(32, 'must be at least 32 characters').optional(), doc: 'HS256 secret; unset (and no public key) means a development secret generated into the data directory' },
  jwtPublicKey: { env: 'VEZA_JWT_PUBLIC_KEY', flag: 'jwt-public-key', schema: z.string().min(1).optional(), doc: 'RS256 public key (PEM text, or a path to a PEM file); when set, tokens must be RS256' },
  jwtIssuer: { env: 'VEZA_JWT_ISSUER', flag: 'jwt-issuer', schema: z.string().min(1).optional(), doc: 'Required `iss` claim, when set' },
  jwtAudience: { env: 'VEZA_JWT_AUDIENCE', flag: 'jwt-audience', schema: z.string().min(1).optional(), doc: 'Required `aud` claim, when set' },
} as const satisfies SettingsGroup;

export type AuthSettings = SettingsOf<typeof authSettings>;
