import { sql, type Kysely } from 'kysely';
import { APP_ROLE, TENANT_SETTING } from '../tenancy.js';

/**
 * The update log's journal on the embedded database (`src/collab/update-journal.ts`): updates reach
 * a file at every group commit and the database in bulk, each bulk move naming the newest journal
 * segment it covers. `update_journal_marks` keeps, per tenant, the newest segment whose updates are
 * all in the log, in the same statement as the rows, so that after a crash the journal's leftover is
 * moved without writing any update twice. It holds no tenant data (a number per tenant), and only
 * `veza_append_updates` writes it, for the tenant it was called for.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('update_journal_marks')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('segment', 'bigint', (c) => c.notNull())
    .execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE ON update_journal_marks TO ${APP_ROLE}`).execute(db);
  await sql.raw('DROP FUNCTION veza_append_updates(text, text[], text[], text[], float8[], bytea[])').execute(db);
  await sql.raw(appendFunction(true)).execute(db);
  await sql.raw(`GRANT EXECUTE ON FUNCTION veza_append_updates(text, text[], text[], text[], float8[], bytea, int[], bigint) TO ${APP_ROLE}`).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('DROP FUNCTION veza_append_updates(text, text[], text[], text[], float8[], bytea, int[], bigint)').execute(db);
  await sql.raw(appendFunction(false)).execute(db);
  await sql.raw(`GRANT EXECUTE ON FUNCTION veza_append_updates(text, text[], text[], text[], float8[], bytea[]) TO ${APP_ROLE}`).execute(db);
  await db.schema.dropTable('update_journal_marks').execute();
}

/**
 * The log's group commit (see migration 0009). The new version takes the updates as one byte string
 * and their sizes, each update cut from it in order: one value to hand from the server's thread to
 * the database instead of an array of as many as there are updates, and no array of byte strings to
 * parse. With it, the journal segment the batch covers. Without the journal: 0009's version.
 */
function appendFunction(journal: boolean): string {
  const params = journal ? 'p_blob bytea, p_sizes int[], p_segment bigint' : 'p_updates bytea[]';
  const rows = journal
    ? `SELECT p_tenant, u.doc, u.author, to_timestamp(u.at_ms / 1000.0), u.size, substring(p_blob FROM (sum(u.size) OVER (ORDER BY u.i) - u.size + 1)::int FOR u.size)
          FROM unnest(p_docs, p_authors, p_at_ms, p_sizes) WITH ORDINALITY AS u(doc, author, at_ms, size, i) ORDER BY u.i`
    : `SELECT p_tenant, u.doc, u.author, to_timestamp(u.at_ms / 1000.0), length(u.upd), u.upd
          FROM unnest(p_docs, p_authors, p_at_ms, p_updates) AS u(doc, author, at_ms, upd)`;
  return `CREATE FUNCTION veza_append_updates(p_tenant text, p_new_docs text[], p_docs text[], p_authors text[], p_at_ms float8[], ${params})
    RETURNS TABLE (doc_id text, last_id text) LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM set_config('role', '${APP_ROLE}', true), set_config('${TENANT_SETTING}', p_tenant, true);
      IF cardinality(p_new_docs) > 0 THEN
        INSERT INTO documents (tenant_id, id) SELECT p_tenant, unnest(p_new_docs) ON CONFLICT DO NOTHING;
      END IF;
      ${
        journal
          ? `IF p_segment IS NOT NULL THEN
        INSERT INTO update_journal_marks AS m (tenant_id, segment) VALUES (p_tenant, p_segment)
          ON CONFLICT (tenant_id) DO UPDATE SET segment = greatest(m.segment, EXCLUDED.segment);
      END IF;`
          : ''
      }
      RETURN QUERY
        WITH inserted AS (
          INSERT INTO document_updates (tenant_id, doc_id, author, at, size, update)
          ${rows}
          RETURNING document_updates.id, document_updates.doc_id)
        SELECT i.doc_id, max(i.id)::text FROM inserted i GROUP BY i.doc_id;
    END $$`;
}
