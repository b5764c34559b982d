import { sql, type Kysely } from 'kysely';
import { APP_ROLE } from '../tenancy.js';
import { enableTenantRls } from './0001_foundation.js';

/**
 * What live rooms produced: recordings (a file under the data directory) and HLS egress runs.
 * A row is written when the work starts, so that one which fails or never finishes (a crash) is
 * still there to be reported, never silently lost.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('media_outputs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('recording', 'hls')`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'finished', 'failed')`))
    .addColumn('started_by', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ended_at', 'timestamptz')
    // Relative to the data directory: a recording's file, or an HLS run's directory.
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('tracks', 'jsonb', (c) => c.notNull())
    .addColumn('bytes', 'bigint')
    .addColumn('duration_ms', 'integer')
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('media_outputs_room_idx').on('media_outputs').columns(['tenant_id', 'room_id', 'started_at']).execute();
  await sql.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON media_outputs TO ${APP_ROLE}`).execute(db);
  await enableTenantRls(db, 'media_outputs', 'tenant_id');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('media_outputs').execute();
}
