import type { Migration, MigrationProvider } from 'kysely/migration';
import * as foundation from './0001_foundation.js';
import * as documents from './0002_documents.js';
import * as automerge from './0003_automerge.js';
import * as replay from './0004_replay.js';
import * as media from './0005_media.js';
import * as recommendations from './0006_recommendations.js';
import * as insights from './0007_insights.js';
import * as gamification from './0008_gamification.js';
import * as updateLogAppend from './0009_update_log_append.js';
import * as updateJournal from './0010_update_journal.js';
import * as tenantStatus from './0011_tenant_status.js';
import * as tenantCredentials from './0012_tenant_credentials.js';
import * as tenantQuotas from './0013_tenant_quotas.js';
import * as tenantUsage from './0014_tenant_usage.js';
import * as tenantDomains from './0015_tenant_domains.js';
import * as tenantDeletion from './0016_tenant_deletion.js';
import * as usageEventClaims from './0017_usage_event_claims.js';
import * as sessionVersions from './0018_session_versions.js';
import * as sessionAuthorship from './0019_session_authorship.js';
import * as nftChain from './0020_nft_chain.js';
import * as nftDrops from './0021_nft_drops.js';
import * as nftKinds from './0022_nft_kinds.js';
import * as webhooks from './0023_webhooks.js';

/**
 * Migrations in order; names sort the same way. Never edit one that has shipped: add the next. Work
 * done side by side may take numbers out of order (a database may have run 0023 before 0022 exists):
 * the migrator runs a missing earlier one then, so each migration touches only its own tables.
 */
const migrations: Record<string, Migration> = {
  '0001_foundation': foundation,
  '0002_documents': documents,
  '0003_automerge': automerge,
  '0004_replay': replay,
  '0005_media': media,
  '0006_recommendations': recommendations,
  '0007_insights': insights,
  '0008_gamification': gamification,
  '0009_update_log_append': updateLogAppend,
  '0010_update_journal': updateJournal,
  '0011_tenant_status': tenantStatus,
  '0012_tenant_credentials': tenantCredentials,
  '0013_tenant_quotas': tenantQuotas,
  '0014_tenant_usage': tenantUsage,
  '0015_tenant_domains': tenantDomains,
  '0016_tenant_deletion': tenantDeletion,
  '0017_usage_event_claims': usageEventClaims,
  '0018_session_versions': sessionVersions,
  '0019_session_authorship': sessionAuthorship,
  '0020_nft_chain': nftChain,
  '0021_nft_drops': nftDrops,
  '0022_nft_kinds': nftKinds,
  '0023_webhooks': webhooks,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
