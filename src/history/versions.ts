// Versions of a studio session and branches made from them. A version names a point of the session's
// update log (every update with id <= its `uptoId`), so it costs one row whatever the session's size;
// opening it reads the state there like a replay seek. A branch is a new session whose log starts as
// a copy of the source's log up to the version (authors and times kept), plus a snapshot of that state.
import { sql } from 'kysely';
import * as Y from 'yjs';
import type { Storage } from '../storage/database.js';
import type { SessionVersionsTable } from '../storage/schema-history.js';
import type { AutoReason, Version, VersionKind } from './answers.js';

export type { AutoReason, Version, VersionKind } from './answers.js';
import { docFromParts, type ReplayStore } from '../studio/replay-store.js';

export interface Branch {
  sessionId: string;
  sourceSessionId: string;
  versionId: string | null;
  uptoId: string | null;
  createdBy: string;
  createdAt: string;
}

/** Who takes the automatic versions. */
export const SYSTEM_AUTHOR = 'veza';

export const AUTO_LABELS: Record<AutoReason, string> = {
  'session-end': 'Session end',
  bounce: 'Bounce',
  mint: 'Mint',
  interval: 'Autosave',
  'before-restore': 'Before restore',
};

/** A refusal the routes turn into a problem answer. */
export class VersionError extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'VersionError';
  }
}

type Row = Pick<SessionVersionsTable, 'label' | 'author' | 'kind' | 'reason' | 'updates'> & { id: string; doc_id: string; description: string; upto_id: string | null; at: Date | null; created_at: Date };

const COLUMNS = ['id', 'doc_id', 'label', 'description', 'author', 'kind', 'reason', 'upto_id', 'at', 'updates', 'created_at'] as const;

function toVersion(row: Row): Version {
  return {
    id: String(row.id),
    sessionId: row.doc_id,
    label: row.label,
    description: row.description,
    author: row.author,
    kind: row.kind,
    reason: row.reason,
    uptoId: row.upto_id === null ? null : String(row.upto_id),
    at: row.at === null ? null : new Date(row.at).getTime(),
    updates: row.updates,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** A point of the log: the last update at or before a time (or the last one), and how many lead to it. */
interface Point {
  uptoId: string | null;
  at: Date | null;
  updates: number;
}

export interface NewVersion {
  label: string;
  description?: string | undefined;
  author: string;
  kind: VersionKind;
  reason?: AutoReason | null;
  /** Unix ms: the session as it was then; absent: as it is now. */
  at?: number | undefined;
}

export class VersionStore {
  constructor(
    private readonly storage: Storage,
    private readonly replay: ReplayStore,
    /** Brings the session's accepted updates into the log before a version points at it. */
    private readonly beforeRead: (tenantId: string, sessionId: string) => Promise<void> = async () => undefined,
  ) {}

  /** Takes a version of the session now (or as it was at `input.at`). 404 for a session never stored. */
  async create(tenantId: string, sessionId: string, input: NewVersion): Promise<Version> {
    await this.beforeRead(tenantId, sessionId);
    return this.storage.withTenant(tenantId, async (trx) => {
      const point = await this.point(trx, sessionId, input.at);
      const row = await trx
        .insertInto('session_versions')
        .values({
          tenant_id: tenantId,
          doc_id: sessionId,
          label: input.label,
          description: input.description ?? '',
          author: input.author,
          kind: input.kind,
          reason: input.reason ?? null,
          upto_id: point.uptoId,
          at: point.at,
          updates: point.updates,
        })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      return toVersion(row as Row);
    });
  }

  /**
   * An automatic version, taken only when the session changed since its latest version (a
   * redelivered event, or a session closed without edits, takes none). Returns the version taken, or
   * the latest one with `created: false` when nothing changed since it.
   */
  async auto(tenantId: string, sessionId: string, reason: AutoReason): Promise<{ version: Version | null; created: boolean }> {
    await this.beforeRead(tenantId, sessionId);
    const latest = await this.storage.withTenant(tenantId, async (trx) => {
      const last = await trx.selectFrom('document_updates').select(sql<string | null>`max(id)`.as('id')).where('doc_id', '=', sessionId).executeTakeFirst();
      const version = await trx.selectFrom('session_versions').select(COLUMNS).where('doc_id', '=', sessionId).orderBy('id', 'desc').limit(1).executeTakeFirst();
      return { lastId: last?.id == null ? null : String(last.id), version: version ? toVersion(version as Row) : null };
    });
    if (latest.lastId === null) return { version: latest.version, created: false };
    if (latest.version && latest.version.uptoId === latest.lastId) return { version: latest.version, created: false };
    const version = await this.create(tenantId, sessionId, { label: AUTO_LABELS[reason], author: SYSTEM_AUTHOR, kind: 'auto', reason });
    return { version, created: true };
  }

  /** The session's versions, newest first. */
  async list(tenantId: string, sessionId: string, limit = 100): Promise<Version[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('session_versions').select(COLUMNS).where('doc_id', '=', sessionId).orderBy('id', 'desc').limit(limit).execute());
    return rows.map((r) => toVersion(r as Row));
  }

  async get(tenantId: string, sessionId: string, versionId: string): Promise<Version | null> {
    if (!/^[0-9]{1,18}$/.test(versionId)) return null;
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('session_versions').select(COLUMNS).where('doc_id', '=', sessionId).where('id', '=', versionId).executeTakeFirst());
    return row ? toVersion(row as Row) : null;
  }

  async update(tenantId: string, sessionId: string, versionId: string, patch: { label?: string | undefined; description?: string | undefined }): Promise<Version | null> {
    const row = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .updateTable('session_versions')
        .set({ ...(patch.label !== undefined ? { label: patch.label } : {}), ...(patch.description !== undefined ? { description: patch.description } : {}) })
        .where('doc_id', '=', sessionId)
        .where('id', '=', versionId)
        .returning(COLUMNS)
        .executeTakeFirst(),
    );
    return row ? toVersion(row as Row) : null;
  }

  async remove(tenantId: string, sessionId: string, versionId: string): Promise<boolean> {
    const result = await this.storage.withTenant(tenantId, (trx) => trx.deleteFrom('session_versions').where('doc_id', '=', sessionId).where('id', '=', versionId).executeTakeFirst());
    return Number(result.numDeletedRows) > 0;
  }

  /** The session as the version holds it. */
  async doc(tenantId: string, version: Version): Promise<Y.Doc> {
    if (version.uptoId === null) return new Y.Doc();
    const state = await this.replay.stateUpTo(tenantId, version.sessionId, version.uptoId, version.at ?? 0);
    return docFromParts(state.parts);
  }

  /**
   * Creates session `branchId` from the version: its log is a copy of the source's log up to the
   * version (same authors and times, so its replay and authorship read the same), and a snapshot of
   * that state lets it load at once. The source is not written. 409 when `branchId` exists.
   */
  async branch(tenantId: string, version: Version, branchId: string, by: string): Promise<Branch> {
    const state = version.uptoId === null ? null : Y.encodeStateAsUpdate(await this.doc(tenantId, version));
    return this.storage.withTenant(tenantId, async (trx) => {
      const taken = await trx.selectFrom('documents').select('id').where('id', '=', branchId).executeTakeFirst();
      if (taken) throw new VersionError(409, `session ${branchId} already exists; choose another id for the branch`);
      await trx.insertInto('documents').values({ tenant_id: tenantId, id: branchId }).execute();
      if (version.uptoId !== null && state) {
        await sql`
          INSERT INTO document_updates (tenant_id, doc_id, at, author, size, update)
          SELECT tenant_id, ${branchId}, at, author, size, update FROM document_updates
          WHERE doc_id = ${version.sessionId} AND id <= ${version.uptoId} ORDER BY id`.execute(trx);
        const copied = await trx
          .selectFrom('document_updates')
          .select([sql<string>`max(id)`.as('last'), sql<string>`count(*)`.as('count')])
          .where('doc_id', '=', branchId)
          .executeTakeFirstOrThrow();
        await trx.insertInto('document_snapshots').values({ tenant_id: tenantId, doc_id: branchId, upto_id: String(copied.last), updates: Number(copied.count), state }).execute();
      }
      const row = await trx
        .insertInto('session_branches')
        .values({ tenant_id: tenantId, doc_id: branchId, source_doc_id: version.sessionId, version_id: version.id, upto_id: version.uptoId, created_by: by })
        .returning(['doc_id', 'source_doc_id', 'version_id', 'upto_id', 'created_by', 'created_at'])
        .executeTakeFirstOrThrow();
      return toBranch(row);
    });
  }

  /** Where the session was branched from (null for an original), and the branches made from it. */
  async lineage(tenantId: string, sessionId: string): Promise<{ branchOf: Branch | null; branches: Branch[] }> {
    const columns = ['doc_id', 'source_doc_id', 'version_id', 'upto_id', 'created_by', 'created_at'] as const;
    return this.storage.withTenant(tenantId, async (trx) => {
      const origin = await trx.selectFrom('session_branches').select(columns).where('doc_id', '=', sessionId).executeTakeFirst();
      const branches = await trx.selectFrom('session_branches').select(columns).where('source_doc_id', '=', sessionId).orderBy('created_at').execute();
      return { branchOf: origin ? toBranch(origin) : null, branches: branches.map(toBranch) };
    });
  }

  /** Whether the session has ever been stored. */
  async exists(tenantId: string, sessionId: string): Promise<boolean> {
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('documents').select('id').where('id', '=', sessionId).executeTakeFirst());
    return row !== undefined;
  }

  private async point(trx: Parameters<Parameters<Storage['withTenant']>[1]>[0], sessionId: string, at: number | undefined): Promise<Point> {
    const exists = await trx.selectFrom('documents').select('id').where('id', '=', sessionId).executeTakeFirst();
    if (!exists) throw new VersionError(404, `session ${sessionId} has no recording`);
    let query = trx.selectFrom('document_updates').select(['id', 'at']).where('doc_id', '=', sessionId);
    // As a replay seek reads "the session at t": the last update accepted at or before t.
    query = at === undefined ? query.orderBy('id', 'desc') : query.where('at', '<=', new Date(at)).orderBy('at', 'desc').orderBy('id', 'desc');
    const last = await query.limit(1).executeTakeFirst();
    if (!last) return { uptoId: null, at: null, updates: 0 };
    const counted = await trx.selectFrom('document_updates').select(sql<string>`count(*)`.as('n')).where('doc_id', '=', sessionId).where('id', '<=', last.id).executeTakeFirstOrThrow();
    return { uptoId: String(last.id), at: new Date(last.at), updates: Number(counted.n) };
  }
}

function toBranch(row: { doc_id: string; source_doc_id: string; version_id: string | null; upto_id: string | null; created_by: string; created_at: Date }): Branch {
  return {
    sessionId: row.doc_id,
    sourceSessionId: row.source_doc_id,
    versionId: row.version_id === null ? null : String(row.version_id),
    uptoId: row.upto_id === null ? null : String(row.upto_id),
    createdBy: row.created_by,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
