import type { ColumnType, Generated } from 'kysely';
import type { NftDropTables } from './schema-nft-drops.js';
import type { InsSessionAuthorshipTable, ReplayCheckpointsTable, SessionBranchesTable, SessionVersionsTable } from './schema-history.js';
import type { NftChainTables } from './schema-nft.js';

/** Table types as kysely sees them. One interface per table, named after it. */
export interface TenantsTable {
  id: string;
  name: string;
  created_at: Generated<Date>;
  status: Generated<'active' | 'suspended' | 'deleting'>;
  status_changed_at: Generated<Date>;
}

/** A tenant's domain; it resolves to the tenant once verified (migration 0015). */
export interface TenantDomainsTable {
  domain: string;
  tenant_id: string;
  token: string;
  created_at: Generated<Date>;
  verified_at: Date | null;
}

/** A tenant's theme, as validated by src/tenants/branding.ts (migration 0015). */
export interface TenantBrandingTable {
  tenant_id: string;
  theme: ColumnType<unknown, string, string>;
  updated_at: Generated<Date>;
}

/** A tenant's own identity provider: exactly one of an HS256 secret and a JWKS document (migration 0012). */
export interface TenantIdentityProvidersTable {
  tenant_id: string;
  hs256_secret: string | null;
  jwks: ColumnType<unknown, string | null, string | null>;
  platform_tokens: Generated<boolean>;
  issuer: string | null;
  audience: string | null;
  updated_at: Generated<Date>;
}

/** A tenant server's API key: the scrypt hash of its secret, never the secret (migration 0012). */
export interface TenantApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  scopes: ColumnType<string[], string, string>;
  version: Generated<number>;
  salt: Uint8Array;
  hash: Uint8Array;
  previous_salt: Uint8Array | null;
  previous_hash: Uint8Array | null;
  previous_expires_at: Date | null;
  created_by: string;
  created_at: Generated<Date>;
  rotated_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** A tenant's plan and per-limit overrides (migration 0013); no row: the default plan. */
export interface TenantQuotasTable {
  tenant_id: string;
  plan: string;
  overrides: ColumnType<unknown, string, string>;
  updated_at: Generated<Date>;
}

/** A bus event one node counted for metering (migration 0017): no other node counts it again. */
export interface UsageEventClaimsTable {
  event_id: string;
  node: string;
  claimed_at: Generated<Date>;
}

/** One deletion of a tenant (migration 0016): platform data, kept after the tenant's rows are gone. */
export interface TenantDeletionsTable {
  id: Generated<string>;
  tenant: string;
  state: 'exporting' | 'pending' | 'cancelled' | 'purged' | 'failed';
  requested_by: string;
  requested_at: Generated<Date>;
  grace_seconds: number;
  purge_after: Date | null;
  /** Relative to the data directory. */
  archive: string | null;
  archive_bytes: ColumnType<string | null, number | null, number | null>;
  manifest: ColumnType<unknown, string | null, string | null>;
  error: string | null;
  finished_at: Date | null;
}

export interface ParkedEventsTable {
  tenant_id: string;
  consumer_group: string;
  event_id: string;
  type: string;
  event: ColumnType<unknown, string, string>;
  error: string;
  attempts: number;
  parked_at: Generated<Date>;
}

export interface DocumentsTable {
  tenant_id: string;
  id: string;
  created_at: Generated<Date>;
}

/** bigint ids come back as strings from both drivers; kept as strings (they pass through, never computed on). */
export interface DocumentUpdatesTable {
  id: Generated<string>;
  tenant_id: string;
  doc_id: string;
  at: Date;
  author: string;
  size: number;
  update: Uint8Array;
}

/** Per tenant, the newest update journal segment whose updates are all in the log (migration 0010). */
export interface UpdateJournalMarksTable {
  tenant_id: string;
  segment: string;
}

export interface DocumentSnapshotsTable {
  tenant_id: string;
  doc_id: string;
  upto_id: string;
  at: Generated<Date>;
  updates: number;
  state: Uint8Array;
}

/** Exact states for replay: every logged update of the document with id <= upto_id, and nothing else. */
/** A recording or an HLS egress run of a live room (see migration 0005). */
export interface MediaOutputsTable {
  id: string;
  tenant_id: string;
  room_id: string;
  kind: 'recording' | 'hls';
  status: 'running' | 'finished' | 'failed';
  started_by: string;
  started_at: Date;
  ended_at: Date | null;
  /** Relative to the data directory. */
  path: string;
  /** What was recorded: one entry per producer, `{ kind, producerId, userId, source }`. */
  tracks: ColumnType<unknown, string, string>;
  bytes: ColumnType<string | null, number | null, number | null>;
  duration_ms: number | null;
  error: string | null;
}

/** Recommendations (see migration 0006). */
export interface RecItemsTable {
  tenant_id: string;
  item_id: string;
  kind: 'track' | 'sample';
  artist_id: string | null;
  title: string | null;
  tags: ColumnType<string[], string, string>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface RecInteractionsTable {
  tenant_id: string;
  user_id: string;
  item_id: string;
  /** Σ weight · 2^((at − epoch) / half-life), see src/recommendations/signals.ts. */
  strength: number;
  events: number;
  last_at: Date;
}

export interface RecFollowsTable {
  tenant_id: string;
  user_id: string;
  artist_id: string;
  at: Date;
}

export interface RecCoeditsTable {
  tenant_id: string;
  session_id: string;
  user_id: string;
  edits: number;
  last_at: Date;
}

export interface RecModelsTable {
  tenant_id: string;
  version: string;
  created_at: Date;
  path: string;
  summary: ColumnType<unknown, string, string>;
}

export interface RecExperimentsTable {
  tenant_id: string;
  id: string;
  definition: ColumnType<unknown, string, string>;
  status: 'running' | 'stopped';
  created_by: string;
  created_at: Date;
  stopped_at: Date | null;
}

export interface RecExposuresTable {
  tenant_id: string;
  experiment_id: string;
  user_id: string;
  variant: string;
  first_at: Date;
  exposures: number;
  items: ColumnType<string[], string, string>;
}

export interface RecOutcomesTable {
  tenant_id: string;
  experiment_id: string;
  user_id: string;
  metric: string;
  count: number;
  value: number;
  first_at: Date;
}

/** Creator insights rollups (see migration 0007). bigint columns arrive as strings from pg. */
type Count = ColumnType<number, number | undefined, number>;
type BigCount = ColumnType<string | number, number | undefined, number>;
export interface InsTrackHoursTable {
  tenant_id: string;
  track_id: string;
  hour: Date;
  plays: Count;
  completes: Count;
  skips: Count;
  listen_ms: BigCount;
  likes: Count;
  shares: Count;
  purchases: Count;
}

export interface InsTrackListenersTable {
  tenant_id: string;
  track_id: string;
  day: ColumnType<Date | string, string, string>;
  user_id: string;
  plays: number;
}

export interface InsTrackPositionsTable {
  tenant_id: string;
  track_id: string;
  day: ColumnType<Date | string, string, string>;
  segment: string;
  /** One count per timeline bucket (BUCKETS of them). */
  listens: number[];
  drops: number[];
  seeks: number[];
  replays: number[];
}

export interface InsUserTracksTable {
  tenant_id: string;
  user_id: string;
  track_id: string;
  segment: string;
  first_play_at: Date | null;
  first_like_at: Date | null;
  first_share_at: Date | null;
  first_purchase_at: Date | null;
}

export interface InsUserDaysTable {
  tenant_id: string;
  user_id: string;
  day: ColumnType<Date | string, string, string>;
  plays: Count;
  listen_ms: BigCount;
  likes: Count;
  shares: Count;
  purchases: Count;
  skips: Count;
}

export interface InsRevenueDaysTable {
  tenant_id: string;
  track_id: string;
  day: ColumnType<Date | string, string, string>;
  currency: string;
  purchases: number;
  amount_minor: BigCount;
}

export interface InsWebhooksTable {
  tenant_id: string;
  id: string;
  creator_id: string;
  url: string;
  secret: string;
  created_at: Date;
}

export interface InsAlertsTable {
  tenant_id: string;
  id: string;
  creator_id: string;
  kind: string;
  subject: string;
  raised_at: Date;
  payload: ColumnType<unknown, string, string>;
  attempts: Count;
  delivered_at: Date | null;
  last_error: string | null;
}

export interface GamRulesTable {
  tenant_id: string;
  rule_id: string;
  version: number;
  definition: ColumnType<unknown, string, string>;
  created_by: string;
  created_at: ColumnType<Date, never, never>;
}

export interface GamProcessedTable {
  tenant_id: string;
  event_id: string;
  processed_at: ColumnType<Date, never, never>;
}

export interface GamProgressTable {
  tenant_id: string;
  rule_id: string;
  counter: string;
  user_id: string;
  state: ColumnType<unknown, string, string>;
  updated_at: Date;
}

export interface GamAwardsTable {
  tenant_id: string;
  user_id: string;
  achievement_id: string;
  version: number;
  category: string;
  title: string;
  points: number;
  reward: ColumnType<unknown, string | null, string | null>;
  awarded_at: Date;
  event_id: string;
}

export interface GamUsersTable {
  tenant_id: string;
  user_id: string;
  points: BigCount;
  level: number;
  updated_at: Date;
}

export interface GamQuestsTable {
  tenant_id: string;
  quest_id: string;
  definition: ColumnType<unknown, string, string>;
  starts_at: Date;
  ends_at: Date;
  progress: BigCount;
  completed_at: Date | null;
  created_at: ColumnType<Date, never, never>;
}

export interface GamContributionsTable {
  tenant_id: string;
  quest_id: string;
  user_id: string;
  amount: BigCount;
}

export interface GamOutboxTable {
  tenant_id: string;
  event_id: string;
  source_event_id: string;
  event: ColumnType<unknown, string, string>;
  created_at: ColumnType<Date, never, never>;
  published_at: Date | null;
}

export interface TipsTable {
  tenant_id: string;
  tip_id: string;
  from_user: string;
  idempotency_key: string;
  request_hash: string;
  room_id: string;
  to_user: string;
  amount_minor: BigCount;
  currency: string;
  message: string | null;
  status: 'sent' | 'refunded';
  provider: string;
  provider_ref: string;
  created_at: Date;
  refunded_at: Date | null;
  refund_reason: string | null;
}

export interface LedgerEntriesTable {
  tenant_id: string;
  transaction_id: string;
  line: number;
  account: string;
  currency: string;
  amount_minor: BigCount;
  created_at: Date;
}

export interface TestPaymentsTable {
  tenant_id: string;
  reference: string;
  tip_id: string;
  kind: 'charge' | 'refund';
  amount_minor: BigCount;
  currency: string;
  created_at: ColumnType<Date, never, never>;
}

/** What each node counted per tenant, metric and minute (migration 0014). */
export interface TenantUsageTable {
  tenant_id: string;
  metric: string;
  minute: Date;
  node: string;
  quantity: string | number | bigint;
  published: Generated<boolean>;
}

export interface Database extends NftChainTables, NftDropTables {
  tenants: TenantsTable;
  tenant_domains: TenantDomainsTable;
  tenant_branding: TenantBrandingTable;
  tenant_identity_providers: TenantIdentityProvidersTable;
  tenant_api_keys: TenantApiKeysTable;
  tenant_quotas: TenantQuotasTable;
  tenant_deletions: TenantDeletionsTable;
  usage_event_claims: UsageEventClaimsTable;
  parked_events: ParkedEventsTable;
  documents: DocumentsTable;
  document_updates: DocumentUpdatesTable;
  document_snapshots: DocumentSnapshotsTable;
  update_journal_marks: UpdateJournalMarksTable;
  replay_checkpoints: ReplayCheckpointsTable;
  session_versions: SessionVersionsTable;
  session_branches: SessionBranchesTable;
  media_outputs: MediaOutputsTable;
  rec_items: RecItemsTable;
  rec_interactions: RecInteractionsTable;
  rec_follows: RecFollowsTable;
  rec_coedits: RecCoeditsTable;
  rec_models: RecModelsTable;
  rec_experiments: RecExperimentsTable;
  rec_exposures: RecExposuresTable;
  rec_outcomes: RecOutcomesTable;
  ins_track_hours: InsTrackHoursTable;
  ins_track_listeners: InsTrackListenersTable;
  ins_track_positions: InsTrackPositionsTable;
  ins_user_tracks: InsUserTracksTable;
  ins_user_days: InsUserDaysTable;
  ins_revenue_days: InsRevenueDaysTable;
  ins_webhooks: InsWebhooksTable;
  ins_alerts: InsAlertsTable;
  ins_session_authorship: InsSessionAuthorshipTable;
  gam_rules: GamRulesTable;
  gam_processed: GamProcessedTable;
  gam_progress: GamProgressTable;
  gam_awards: GamAwardsTable;
  gam_users: GamUsersTable;
  gam_quests: GamQuestsTable;
  gam_contributions: GamContributionsTable;
  gam_outbox: GamOutboxTable;
  tips: TipsTable;
  ledger_entries: LedgerEntriesTable;
  test_payments: TestPaymentsTable;
  tenant_usage: TenantUsageTable;
}

/** The tenant every single-tenant install uses; created by the first migration. */
export const DEFAULT_TENANT = 'default';

/** Tenant ids are short slugs: they appear in tokens, URLs and Redis keys. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
