// Deleting a tenant. The operator's request puts the tenant in `deleting` (its tokens refused with
// 403, its sockets closed with 4403) and writes its export archive first; once the archive is on
// disk the grace period starts (30 days unless the request says otherwise). `resume` during the
// grace period cancels the deletion. After it, the sweeper (every node, every minute; one node wins
// each deletion by a row lock) deletes every row of the tenant in every table with tenant_id,
// children before parents, then the tenant, then its files (its content files by content id too, those
// no other tenant holds). The deletion's record stays: when, by whom, and where the archive is.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import { DEFAULT_TENANT } from '../storage/schema.js';
import { exportTenant, type ExportProgress } from './export.js';
import { TenantError, type TenantRegistry } from './registry.js';
import { isInside, tenantContentFiles, tenantFolders, tenantTables } from './tenant-data.js';

export const DEFAULT_GRACE_SECONDS = 30 * 86_400;
/** The longest grace period a request may ask for: ten years. */
const MAX_GRACE_SECONDS = 10 * 365 * 86_400;
export const SWEEP_INTERVAL_MS = 60_000;

export interface Deletion {
  id: string;
  tenant: string;
  state: 'exporting' | 'pending' | 'cancelled' | 'purged' | 'failed';
  requestedBy: string;
  requestedAt: string;
  graceSeconds: number;
  /** When the sweeper may purge (set once the archive is written). */
  purgeAfter: string | null;
  /** The archive, relative to the data directory; download it with GET /api/v1/platform/tenants/:id/export. */
  archive: string | null;
  archiveBytes: number | null;
  error: string | null;
  finishedAt: string | null;
  /** While exporting, on the node that writes the archive. */
  progress?: ExportProgress;
}

export interface DeletionRequest {
  by: string;
  graceSeconds?: number | undefined;
}

type Row = {
  id: string;
  tenant: string;
  state: Deletion['state'];
  requested_by: string;
  requested_at: Date;
  grace_seconds: number;
  purge_after: Date | null;
  archive: string | null;
  archive_bytes: string | null;
  error: string | null;
  finished_at: Date | null;
};

function toDeletion(row: Row): Deletion {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: String(row.id),
    tenant: row.tenant,
    state: row.state,
    requestedBy: row.requested_by,
    requestedAt: iso(row.requested_at)!,
    graceSeconds: row.grace_seconds,
    purgeAfter: iso(row.purge_after),
    archive: row.archive,
    archiveBytes: row.archive_bytes === null ? null : Number(row.archive_bytes),
    error: row.error,
    finishedAt: iso(row.finished_at),
  };
}

const COLUMNS = ['id', 'tenant', 'state', 'requested_by', 'requested_at', 'grace_seconds', 'purge_after', 'archive', 'archive_bytes', 'error', 'finished_at'] as const;

export interface LifecycleDeps {
  storage: Storage;
  dataDir: string;
  registry: TenantRegistry;
  logger: Logger;
  /** Tells every node (and this one) that a tenant's status changed. */
  changed(tenantId: string, status: 'deleting' | 'deleted'): Promise<void>;
  defaultGraceSeconds?: number;
  /** Hears each step of an export (the CLI prints them). */
  onProgress?: (progress: ExportProgress) => void;
}

export class TenantLifecycle {
  private readonly progress = new Map<string, ExportProgress>();
  private readonly exports = new Set<Promise<unknown>>();
  private readonly settles: ((tenantId: string) => Promise<void>)[] = [];

  constructor(private readonly deps: LifecycleDeps) {}

  /** Work that brings a tenant's accepted changes into the database before its export reads it (documents' pending updates). */
  beforeExport(settle: (tenantId: string) => Promise<void>): void {
    this.settles.push(settle);
  }

  /**
   * Puts the tenant in `deleting` and begins its export; `exported` settles when the archive is
   * written (or the export failed, recorded in the deletion). Refused for the default tenant, an
   * unknown one, and one being deleted already.
   */
  async request(tenantId: string, request: DeletionRequest): Promise<{ deletion: Deletion; exported: Promise<Deletion> }> {
    const { storage, registry } = this.deps;
    if (tenantId === DEFAULT_TENANT) throw new TenantError('protected', 'the default tenant cannot be deleted');
    const grace = request.graceSeconds ?? this.deps.defaultGraceSeconds ?? DEFAULT_GRACE_SECONDS;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
      throw new TenantError('invalid', `graceSeconds: a whole number of seconds from 0 to ${MAX_GRACE_SECONDS}`);
    }
    const row = await storage.db.transaction().execute(async (trx) => {
      const tenant = await trx.selectFrom('tenants').select('status').where('id', '=', tenantId).forUpdate().executeTakeFirst();
      if (!tenant) throw new TenantError('not-found', `no tenant ${tenantId}`);
      if (tenant.status === 'deleting') throw new TenantError('exists', `tenant ${tenantId} is being deleted already; resume it to cancel`);
      await trx.updateTable('tenants').set({ status: 'deleting', status_changed_at: new Date() }).where('id', '=', tenantId).execute();
      return trx
        .insertInto('tenant_deletions')
        .values({ tenant: tenantId, state: 'exporting', requested_by: request.by, grace_seconds: grace })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
    });
    await registry.reload(tenantId);
    await this.deps.changed(tenantId, 'deleting');
    this.deps.logger.info({ tenant: tenantId, by: request.by, graceSeconds: grace }, 'tenant deletion requested: exporting its data first');
    const exported = this.export(row as Row);
    this.exports.add(exported);
    void exported.finally(() => this.exports.delete(exported));
    return { deletion: toDeletion(row as Row), exported };
  }

  private async export(row: Row): Promise<Deletion> {
    const { storage, dataDir, logger } = this.deps;
    const tenantId = row.tenant;
    try {
      for (const settle of this.settles) {
        await settle(tenantId).catch((error: unknown) => logger.warn({ err: error, tenant: tenantId }, 'could not store all of the tenant\'s pending changes before its export'));
      }
      const result = await exportTenant(storage, dataDir, tenantId, (p) => {
        this.progress.set(tenantId, p);
        this.deps.onProgress?.(p);
        logger.info({ tenant: tenantId, ...p }, 'tenant export progress');
      });
      const done = await storage.db
        .updateTable('tenant_deletions')
        .set({
          state: 'pending',
          archive: result.archive,
          archive_bytes: result.bytes,
          manifest: JSON.stringify(result.manifest),
          purge_after: sql<Date>`now() + make_interval(secs => ${row.grace_seconds})`,
        })
        .where('id', '=', row.id)
        .where('state', '=', 'exporting')
        .returning(COLUMNS)
        .executeTakeFirst();
      logger.info({ tenant: tenantId, archive: result.archive, bytes: result.bytes, cancelled: !done }, 'tenant export written');
      if (done && row.grace_seconds === 0) await this.sweep();
      return toDeletion(await this.byId(row.id));
    } catch (error) {
      logger.error({ err: error, tenant: tenantId }, 'tenant export failed; the tenant stays refused until resumed or deleted again');
      const failed = await storage.db
        .updateTable('tenant_deletions')
        .set({ state: 'failed', error: error instanceof Error ? error.message : String(error), finished_at: new Date() })
        .where('id', '=', row.id)
        .where('state', '=', 'exporting')
        .returning(COLUMNS)
        .executeTakeFirst();
      return toDeletion((failed ?? (await this.byId(row.id))) as Row);
    } finally {
      this.progress.delete(tenantId);
    }
  }

  private async byId(id: string): Promise<Row> {
    return (await this.deps.storage.db.selectFrom('tenant_deletions').select(COLUMNS).where('id', '=', id).executeTakeFirstOrThrow()) as Row;
  }

  /** Cancels the tenant's deletion under way (its resume); true when there was one. */
  async cancel(tenantId: string): Promise<boolean> {
    const rows = await this.deps.storage.db
      .updateTable('tenant_deletions')
      .set({ state: 'cancelled', finished_at: new Date() })
      .where('tenant', '=', tenantId)
      .where('state', 'in', ['exporting', 'pending'])
      .returning('id')
      .execute();
    if (rows.length > 0) this.deps.logger.info({ tenant: tenantId }, 'tenant deletion cancelled');
    return rows.length > 0;
  }

  /** The tenant's latest deletion (the one under way, or the last), with the export's progress. */
  async latest(tenantId: string): Promise<Deletion | null> {
    const row = await this.deps.storage.db.selectFrom('tenant_deletions').select(COLUMNS).where('tenant', '=', tenantId).orderBy('id', 'desc').limit(1).executeTakeFirst();
    if (!row) return null;
    const progress = this.progress.get(tenantId);
    return { ...toDeletion(row as Row), ...(progress && row.state === 'exporting' ? { progress } : {}) };
  }

  /** The newest archive written for the tenant (absolute path), or null. */
  async archiveFile(tenantId: string): Promise<string | null> {
    const row = await this.deps.storage.db
      .selectFrom('tenant_deletions')
      .select('archive')
      .where('tenant', '=', tenantId)
      .where('archive', 'is not', null)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.archive && isInside(this.deps.dataDir, row.archive) ? path.join(this.deps.dataDir, row.archive) : null;
  }

  /** Purges every tenant whose grace period is over; returns the tenants purged. */
  async sweep(): Promise<string[]> {
    const due = await this.deps.storage.db
      .selectFrom('tenant_deletions')
      .select(['id', 'tenant'])
      .where('state', '=', 'pending')
      .where('purge_after', '<=', sql<Date>`now()`)
      .execute();
    const purged: string[] = [];
    for (const { id, tenant } of due) if (await this.purge(id, tenant)) purged.push(tenant);
    return purged;
  }

  private async purge(deletionId: string, tenantId: string): Promise<boolean> {
    const { storage, dataDir, logger } = this.deps;
    const folders = await tenantFolders(storage, dataDir, tenantId);
    const content = await tenantContentFiles(storage, dataDir, tenantId);
    const tables = await tenantTables(storage);
    const counts = await storage.db.transaction().execute(async (trx) => {
      // One node purges; the others skip the row it holds.
      const mine = await sql`SELECT id FROM tenant_deletions WHERE id = ${deletionId} AND state = 'pending' FOR UPDATE SKIP LOCKED`.execute(trx);
      if (mine.rows.length === 0) return null;
      const tenant = await trx.selectFrom('tenants').select('status').where('id', '=', tenantId).forUpdate().executeTakeFirst();
      if (tenant && tenant.status !== 'deleting') return null;
      const deleted: Record<string, number> = {};
      for (const table of tables) {
        const result = await sql`DELETE FROM ${sql.table(table)} WHERE tenant_id = ${tenantId}`.execute(trx);
        deleted[table] = Number(result.numAffectedRows ?? 0);
      }
      await trx.deleteFrom('tenants').where('id', '=', tenantId).execute();
      await trx.updateTable('tenant_deletions').set({ state: 'purged', finished_at: new Date() }).where('id', '=', deletionId).execute();
      return deleted;
    });
    if (!counts) return false;
    for (const folder of folders) await rm(path.join(dataDir, folder), { recursive: true, force: true });
    // Content files are shared by content id: one is removed once no tenant's row names it any more.
    const kept = new Set((await storage.db.selectFrom('nft_content').select('cid').where('cid', 'in', content.length > 0 ? content.map((f) => path.basename(f)) : ['']).execute()).map((r) => r.cid));
    const removed = content.filter((f) => !kept.has(path.basename(f)));
    for (const file of removed) await rm(path.join(dataDir, file), { force: true });
    await this.deps.registry.reload(tenantId);
    await this.deps.changed(tenantId, 'deleted');
    logger.info({ tenant: tenantId, rows: counts, folders: folders.length, contentFiles: removed.length }, 'tenant purged');
    return true;
  }

  /** Waits for exports under way (a closing node). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.exports]);
  }
}
