// Session bundles in and out of storage: an export reads a session's whole update log (with each
// update's time and author); an import writes a new session from a bundle in one transaction, so a
// refused or failed import leaves nothing behind.
import * as Y from 'yjs';
import { bytes, type Storage } from '../storage/database.js';
import { exportMidi } from '../studio/midi-export.js';
import { StudioDoc } from '../studio/model.js';
import type { SessionBundle } from './bundle.js';

/** Why an import or export was refused; `status` is the HTTP status the API answers with. */
export class SessionTransferError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 403 | 404 | 409,
  ) {
    super(message);
    this.name = 'SessionTransferError';
  }
}

const INSERT_CHUNK = 500;

export class SessionBundles {
  constructor(
    private readonly storage: Storage,
    /** Brings the session's accepted updates into the log before an export reads it (see `CollabService.persisted`). */
    private readonly beforeRead: (tenantId: string, id: string) => Promise<void> = async () => undefined,
  ) {}

  /** Which of `ids` the tenant already holds as sessions. */
  async existing(tenantId: string, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('documents').select('id').where('id', 'in', [...ids]).execute());
    return new Set(rows.map((r) => r.id));
  }

  /** The session's bundle, or a 404 error when the tenant has no such session. */
  async export(tenantId: string, id: string, now = Date.now()): Promise<SessionBundle> {
    await this.beforeRead(tenantId, id);
    return this.storage.withTenant(tenantId, async (trx) => {
      const doc = await trx.selectFrom('documents').select(['created_at']).where('id', '=', id).executeTakeFirst();
      if (!doc) throw new SessionTransferError(`session ${id} not found`, 404);
      const rows = await trx.selectFrom('document_updates').select(['at', 'author', 'update']).where('doc_id', '=', id).orderBy('id').execute();
      if (rows.length === 0) throw new SessionTransferError(`session ${id} has no recorded changes to export`, 404);
      const updates = rows.map((r) => ({ at: new Date(r.at).getTime(), author: r.author, update: bytes(r.update) }));
      // The log is in commit order; a clock step back on the server must not make the bundle unreadable.
      for (let i = 1; i < updates.length; i++) if (updates[i]!.at < updates[i - 1]!.at) updates[i]!.at = updates[i - 1]!.at;
      const ydoc = new Y.Doc();
      ydoc.transact(() => {
        for (const u of updates) Y.applyUpdate(ydoc, u.update);
      });
      const studio = new StudioDoc(ydoc);
      const midi = exportMidi(studio.snapshot());
      return { id, tenantId, title: studio.settings().title, createdAt: new Date(doc.created_at).getTime(), exportedAt: now, updates, midi };
    });
  }

  /**
   * Writes a checked bundle (see `decodeBundle`) as a new session of `tenantId`, under `as` or the
   * bundle's own id. Refused when the bundle belongs to another tenant or the id is taken.
   */
  async import(tenantId: string, bundle: SessionBundle, options: { as?: string } = {}): Promise<{ id: string; updates: number }> {
    if (bundle.tenantId !== tenantId) {
      throw new SessionTransferError(`the bundle belongs to tenant ${bundle.tenantId}, not ${tenantId}; it is not imported`, 403);
    }
    const id = options.as ?? bundle.id;
    return this.storage.withTenant(tenantId, async (trx) => {
      const tenant = await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
      if (!tenant) throw new SessionTransferError(`tenant ${tenantId} does not exist`, 404);
      const existing = await trx.selectFrom('documents').select('id').where('id', '=', id).executeTakeFirst();
      if (existing) throw new SessionTransferError(`session ${id} already exists; import it under another id`, 409);
      await trx.insertInto('documents').values({ tenant_id: tenantId, id, created_at: new Date(bundle.createdAt) }).execute();
      for (let i = 0; i < bundle.updates.length; i += INSERT_CHUNK) {
        const chunk = bundle.updates.slice(i, i + INSERT_CHUNK);
        await trx
          .insertInto('document_updates')
          .values(chunk.map((u) => ({ tenant_id: tenantId, doc_id: id, at: new Date(u.at), author: u.author, size: u.update.byteLength, update: u.update })))
          .execute();
      }
      return { id, updates: bundle.updates.length };
    });
  }
}

