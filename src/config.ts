import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CONSUMER_NAMES, type ConsumerName } from './consumers/names.js';

/** The package's root directory (web/dist and other shipped files are found from here). */
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Every setting the server reads, with its environment variable, CLI flag and default.
 * The configuration table in docs/configuration.md is written from this list; keep them together.
 */
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => URL.canParse(v) && protocols.includes(new URL(v).protocol), { message: `must use ${protocols.join(' or ')}` })
    .optional();

export const settings = {
  host: { env: 'VEZA_HOST', flag: 'host', schema: z.string().min(1).default('0.0.0.0'), doc: 'Address to listen on' },
  port: { env: 'VEZA_PORT', flag: 'port', schema: int(0, 65535).default(8080), doc: 'HTTP/WebSocket port (0 picks a free one)' },
  dataDir: { env: 'VEZA_DATA_DIR', flag: 'data-dir', schema: z.string().min(1).default('./data'), doc: 'Directory for the embedded database and the generated development secret' },
  databaseUrl: { env: 'DATABASE_URL', flag: 'database-url', schema: optionalUrl(['postgres:', 'postgresql:']), doc: 'PostgreSQL connection string; unset means embedded PGlite in the data directory' },
  storageThread: { env: 'VEZA_STORAGE_THREAD', flag: 'storage-thread', schema: bool.default(true), doc: 'Run the database client (embedded PGlite, or the PostgreSQL driver) on a worker thread, so that queries never stall WebSocket traffic' },
  redisUrl: { env: 'REDIS_URL', flag: 'redis-url', schema: optionalUrl(['redis:', 'rediss:']), doc: 'Redis connection string; set it to use the Redis Streams events bus' },
  logLevel: { env: 'VEZA_LOG_LEVEL', flag: 'log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), doc: 'pino log level' },
  jwtSecret: { env: 'VEZA_JWT_SECRET', flag: 'jwt-secret', schema: z.string().min(32, 'must be at least 32 characters').optional(), doc: 'HS256 secret; unset (and no public key) means a development secret generated into the data directory' },
  jwtPublicKey: { env: 'VEZA_JWT_PUBLIC_KEY', flag: 'jwt-public-key', schema: z.string().min(1).optional(), doc: 'RS256 public key (PEM text, or a path to a PEM file); when set, tokens must be RS256' },
  jwtIssuer: { env: 'VEZA_JWT_ISSUER', flag: 'jwt-issuer', schema: z.string().min(1).optional(), doc: 'Required `iss` claim, when set' },
  jwtAudience: { env: 'VEZA_JWT_AUDIENCE', flag: 'jwt-audience', schema: z.string().min(1).optional(), doc: 'Required `aud` claim, when set' },
  corsOrigins: { env: 'VEZA_CORS_ORIGINS', flag: 'cors-origins', schema: z.string().default('').transform(splitList), doc: 'Comma-separated origins allowed by CORS (`*` allows any); empty allows none' },
  maxBodyBytes: { env: 'VEZA_MAX_BODY_BYTES', flag: 'max-body-bytes', schema: int(1, 1 << 30).default(1 << 20), doc: 'Largest accepted request body (413 beyond)' },
  maxHeaderBytes: { env: 'VEZA_MAX_HEADER_BYTES', flag: 'max-header-bytes', schema: int(256, 1 << 20).default(8192), doc: 'Largest accepted total of request header names and values (431 beyond)' },
  maxWsMessageBytes: { env: 'VEZA_MAX_WS_MESSAGE_BYTES', flag: 'max-ws-message-bytes', schema: int(1024, 1 << 30).default(16 << 20), doc: 'Largest WebSocket message (close 1009 beyond)' },
  rateLimitRequestsPerMinute: { env: 'VEZA_RATE_LIMIT_REQUESTS_PER_MINUTE', flag: 'rate-limit-requests-per-minute', schema: int(0, 1e9).default(600), doc: 'HTTP requests per minute per IP and per user (0 disables)' },
  rateLimitBurst: { env: 'VEZA_RATE_LIMIT_BURST', flag: 'rate-limit-burst', schema: int(1, 1e9).default(120), doc: 'Requests allowed in a burst above the steady rate' },
  rateLimitConnectionsPerMinute: { env: 'VEZA_RATE_LIMIT_CONNECTIONS_PER_MINUTE', flag: 'rate-limit-connections-per-minute', schema: int(0, 1e9).default(120), doc: 'WebSocket upgrades per minute per IP and per user, in bursts of up to a quarter of it (0 disables)' },
  maxConnectionsPerIp: { env: 'VEZA_MAX_CONNECTIONS_PER_IP', flag: 'max-connections-per-ip', schema: int(0, 1e9).default(256), doc: 'Concurrent WebSocket connections per IP (0 disables)' },
  wsMessagesPerSecond: { env: 'VEZA_WS_MESSAGES_PER_SECOND', flag: 'ws-messages-per-second', schema: int(0, 1e9).default(500), doc: 'Messages per second per WebSocket before it is closed with 4429 (0 disables)' },
  dev: { env: 'VEZA_DEV', flag: 'dev', schema: bool.default(false), doc: 'Development mode: POST /api/v1/dev/token signs anyone in (the web client\'s sign-in); never in production' },
  exampleSessions: {
    env: 'VEZA_EXAMPLE_SESSIONS',
    flag: 'example-sessions',
    schema: z.enum(['auto', 'true', 'false', '1', '0', 'yes', 'no']).default('auto').transform((v) => (v === 'auto' ? 'auto' : v === 'true' || v === '1' || v === 'yes')),
    doc: 'Import the example sessions of sessions/ into the default tenant at start (those it does not hold yet); auto: in development mode on the embedded database',
  },
  webDir: { env: 'VEZA_WEB_DIR', flag: 'web-dir', schema: z.string().min(1).default('web/dist'), doc: 'The built web client served at / (`npm run build:web`); relative to the package' },
  trustProxy: { env: 'VEZA_TRUST_PROXY', flag: 'trust-proxy', schema: bool.default(false), doc: 'Behind one trusted reverse proxy: take the client IP from the last X-Forwarded-For entry' },
  shutdownTimeoutMs: { env: 'VEZA_SHUTDOWN_TIMEOUT_MS', flag: 'shutdown-timeout-ms', schema: int(100, 600_000).default(10_000), doc: 'How long SIGTERM waits for requests, the bus and storage to drain' },
  otlpEndpoint: { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', flag: 'otlp-endpoint', schema: optionalUrl(['http:', 'https:']), doc: 'OTLP/HTTP collector; spans are exported only when it is set' },
  eventsStream: { env: 'VEZA_EVENTS_STREAM', flag: 'events-stream', schema: z.string().min(1).default('veza:events'), doc: 'Redis stream key of the events bus' },
  eventsMaxAttempts: { env: 'VEZA_EVENTS_MAX_ATTEMPTS', flag: 'events-max-attempts', schema: int(1, 100).default(5), doc: 'Deliveries of one event to a failing consumer before it is parked' },
  collabMaxDocBytes: { env: 'VEZA_COLLAB_MAX_DOC_BYTES', flag: 'collab-max-doc-bytes', schema: int(1024, 1 << 30).default(64 << 20), doc: 'Largest document (encoded state plus updates since load); an update past it is refused with close 1009' },
  collabFlushMs: { env: 'VEZA_COLLAB_FLUSH_MS', flag: 'collab-flush-ms', schema: int(1, 60_000).default(100), doc: 'Group commit: accepted updates are durable within this many milliseconds (in the update journal on the embedded database, in the update log on PostgreSQL)' },
  collabStoreMs: { env: 'VEZA_COLLAB_STORE_MS', flag: 'collab-store-ms', schema: int(0, 60_000).default(1000), doc: 'Embedded database: updates move from the journal file to the update log in bulk within this many milliseconds (a statement costs about a millisecond whatever it holds); 0, or a value not above the group commit interval, turns the journal off and commits every group to the database' },
  collabSnapshotEvery: { env: 'VEZA_COLLAB_SNAPSHOT_EVERY', flag: 'collab-snapshot-every', schema: int(1, 1e9).default(1000), doc: 'Write a snapshot after this many logged updates (loading is snapshot + tail)' },
  collabUnloadDelayMs: { env: 'VEZA_COLLAB_UNLOAD_DELAY_MS', flag: 'collab-unload-delay-ms', schema: int(0, 3_600_000).default(5000), doc: 'How long a document with no connections stays in memory' },
  collabMaxPendingBytes: { env: 'VEZA_COLLAB_MAX_PENDING_BYTES', flag: 'collab-max-pending-bytes', schema: int(1024, 1 << 30).default(64 << 20), doc: 'Accepted updates kept in memory while storage is unreachable; past it writers are closed with 1013' },
  collabStreamPrefix: { env: 'VEZA_COLLAB_STREAM_PREFIX', flag: 'collab-stream-prefix', schema: z.string().min(1).default('veza:doc:'), doc: 'With REDIS_URL: key prefix of the per-document Redis streams that nodes sync through' },
  collabMaxBackpressureBytes: { env: 'VEZA_COLLAB_MAX_BACKPRESSURE_BYTES', flag: 'collab-max-backpressure-bytes', schema: int(1024, 1 << 30).default(4 << 20), doc: 'Bytes queued to one slow client before it is closed with 1013' },
  mediaWorkers: { env: 'VEZA_MEDIA_WORKERS', flag: 'media-workers', schema: int(0, 1024).default(0), doc: 'mediasoup worker processes (0: one per CPU core)' },
  mediaListenIp: { env: 'VEZA_MEDIA_LISTEN_IP', flag: 'media-listen-ip', schema: z.ipv4().or(z.ipv6()).default('127.0.0.1'), doc: 'Local IP that WebRTC and plain RTP transports listen on' },
  mediaAnnouncedAddress: { env: 'VEZA_MEDIA_ANNOUNCED_ADDRESS', flag: 'media-announced-address', schema: z.string().min(1).max(255).optional(), doc: 'Public IP or host name put in ICE candidates instead of the listen IP (behind NAT, or listening on 0.0.0.0)' },
  mediaRtcMinPort: { env: 'VEZA_MEDIA_RTC_MIN_PORT', flag: 'media-rtc-min-port', schema: int(1024, 65535).default(40000), doc: 'Lowest UDP/TCP port of media transports' },
  mediaRtcMaxPort: { env: 'VEZA_MEDIA_RTC_MAX_PORT', flag: 'media-rtc-max-port', schema: int(1024, 65535).default(49999), doc: 'Highest UDP/TCP port of media transports' },
  mediaRouterMaxConsumers: { env: 'VEZA_MEDIA_ROUTER_MAX_CONSUMERS', flag: 'media-router-max-consumers', schema: int(0, 100_000).default(300), doc: 'Consumers on one router of a room before new viewers go to a router on another worker (pipeToRouter); 0: no limit' },
  mediaMaxViewers: { env: 'VEZA_MEDIA_MAX_VIEWERS', flag: 'media-max-viewers', schema: int(0, 1_000_000).default(0), doc: 'Viewers receiving a live room over WebRTC; past it a viewer\'s receiving transport is refused with `room-full` and the client watches HLS (0: no limit)' },
  mediaStatsIntervalMs: { env: 'VEZA_MEDIA_STATS_INTERVAL_MS', flag: 'media-stats-interval-ms', schema: int(0, 3_600_000).default(10_000), doc: 'Period of the stream.quality events (bitrate, loss, jitter per consumer); 0: off' },
  recsTrainIntervalS: { env: 'VEZA_RECS_TRAIN_INTERVAL_S', flag: 'recs-train-interval-s', schema: int(0, 30 * 86_400).default(86_400), doc: 'Period of scheduled recommendation training for every tenant with interactions; 0: only on demand' },
  recsReloadIntervalMs: { env: 'VEZA_RECS_RELOAD_INTERVAL_MS', flag: 'recs-reload-interval-ms', schema: int(0, 3_600_000).default(30_000), doc: 'How often serving looks for a model version trained elsewhere (another node, `veza recommend train`); 0: never' },
  recsMaxImportBytes: { env: 'VEZA_RECS_MAX_IMPORT_BYTES', flag: 'recs-max-import-bytes', schema: int(1, 1 << 30).default(64 << 20), doc: 'Largest NDJSON body of POST /api/v1/interactions (413 beyond)' },
  insightsAlertIntervalS: { env: 'VEZA_INSIGHTS_ALERT_INTERVAL_S', flag: 'insights-alert-interval-s', schema: int(0, 86_400).default(300), doc: 'How often creators with webhooks are checked for plays spikes and drops (and undelivered alerts retried); 0: off' },
  consumers: {
    env: 'VEZA_CONSUMERS',
    flag: 'consumers',
    schema: z
      .string()
      .default('all')
      .transform((value, ctx) => {
        const names = value === 'all' ? [...CONSUMER_NAMES] : value === 'none' ? [] : splitList(value);
        for (const name of names) if (!(CONSUMER_NAMES as readonly string[]).includes(name)) ctx.addIssue({ code: 'custom', message: `unknown consumer ${name}; choose from all, none, ${CONSUMER_NAMES.join(', ')}` });
        return names as ConsumerName[];
      }),
    doc: `Side modules whose event consumers this process runs: all, none, or a list of ${CONSUMER_NAMES.join(', ')} (with REDIS_URL, other processes can run the rest)`,
  },
  consumerThread: { env: 'VEZA_CONSUMER_THREAD', flag: 'consumer-thread', schema: bool.default(true), doc: 'Run the event consumers and their database work on their own thread, off the realtime path (needs the storage thread; otherwise they share the main thread)' },
  recsThreads: { env: 'VEZA_RECS_THREADS', flag: 'recs-threads', schema: int(1, 64).default(1), doc: 'Threads of one ONNX scoring call (requests already run side by side)' },
} as const;

type Settings = typeof settings;
export type Config = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Flags win over the environment; an empty environment variable counts as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: Record<string, string> = {}): Config {
  const known = new Set<string>(Object.values(settings).map((s) => s.flag));
  const problems: string[] = [];
  for (const flag of Object.keys(flags)) {
    if (!known.has(flag)) problems.push(`--${flag}: unknown flag`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const fromFlag = flags[setting.flag];
    const fromEnv = env[setting.env];
    const raw = fromFlag ?? (fromEnv === '' ? undefined : fromEnv);
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) {
      out[key] = parsed.data;
    } else {
      const source = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      problems.push(`${source}=${JSON.stringify(raw)}: ${why}`);
    }
  }
  if (typeof out.mediaRtcMinPort === 'number' && typeof out.mediaRtcMaxPort === 'number' && out.mediaRtcMinPort > out.mediaRtcMaxPort) {
    problems.push(`VEZA_MEDIA_RTC_MIN_PORT (${out.mediaRtcMinPort}) is above VEZA_MEDIA_RTC_MAX_PORT (${out.mediaRtcMaxPort})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  out.dataDir = path.resolve(out.dataDir as string);
  out.webDir = path.resolve(PACKAGE_ROOT, out.webDir as string);
  return out as Config;
}
