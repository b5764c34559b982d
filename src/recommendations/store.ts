// The recommendations tables (migration 0006): what the ingestion writes, what training reads and
// what serving looks up per request (one user's rows, by primary key prefix: no scans on the hot path).
import { sql } from 'kysely';
import type { Storage } from '../storage/database.js';
import { decayed, strengthAt, type CatalogItem, type Interaction } from './signals.js';

/** Rows per INSERT: well under PostgreSQL's 65 535 bind parameters. */
const CHUNK = 2000;

export interface ItemInfo {
  itemId: string;
  kind: 'track' | 'sample';
  artistId: string | null;
  title: string | null;
  tags: string[];
}

export interface UserHistory {
  /** The user's items with their weight decayed to now, strongest first. */
  items: { itemId: string; weight: number }[];
  follows: string[];
  /** Users who co-edited a session with this user. */
  coeditors: string[];
  /** The sessions this user co-edited (what makes the co-editors). */
  sessions?: string[];
}

export interface TrainingData {
  users: string[];
  items: string[];
  /** Parallel (user index, item index, decayed weight) triples. */
  rows: Int32Array;
  cols: Int32Array;
  values: Float32Array;
  catalog: Map<string, ItemInfo>;
  interactions: number;
}

export interface ModelRow {
  version: string;
  createdAt: Date;
  path: string;
  summary: unknown;
}

export interface ExperimentRow {
  id: string;
  definition: unknown;
  status: 'running' | 'stopped';
  createdBy: string;
  createdAt: Date;
  stoppedAt: Date | null;
}

export class RecommendationStore {
  constructor(private readonly storage: Storage) {}

  async upsertItems(tenantId: string, items: CatalogItem[]): Promise<void> {
    const latest = new Map(items.map((i) => [i.itemId, i]));
    const rows = [...latest.values()].map((i) => ({
      tenant_id: tenantId,
      item_id: i.itemId,
      kind: i.kind,
      artist_id: i.artistId ?? null,
      title: i.title ?? null,
      tags: JSON.stringify(i.tags),
      updated_at: new Date(),
    }));
    await this.storage.withTenant(tenantId, async (trx) => {
      for (let k = 0; k < rows.length; k += CHUNK) {
        await trx
          .insertInto('rec_items')
          .values(rows.slice(k, k + CHUNK))
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'item_id']).doUpdateSet((eb) => ({
              kind: eb.ref('excluded.kind'),
              artist_id: eb.ref('excluded.artist_id'),
              title: eb.ref('excluded.title'),
              tags: eb.ref('excluded.tags'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    });
  }

  /** Adds interactions; several for one (user, item) are summed first (one row per conflict target). */
  async addInteractions(tenantId: string, interactions: Interaction[]): Promise<void> {
    const merged = new Map<string, { user_id: string; item_id: string; strength: number; events: number; last_at: Date }>();
    for (const i of interactions) {
      const key = `${i.userId}\u0000${i.itemId}`;
      const row = merged.get(key);
      if (row) {
        row.strength += strengthAt(i.weight, i.at);
        row.events++;
        if (i.at > row.last_at) row.last_at = i.at;
      } else {
        merged.set(key, { user_id: i.userId, item_id: i.itemId, strength: strengthAt(i.weight, i.at), events: 1, last_at: i.at });
      }
    }
    const rows = [...merged.values()].map((r) => ({ tenant_id: tenantId, ...r }));
    await this.storage.withTenant(tenantId, async (trx) => {
      for (let k = 0; k < rows.length; k += CHUNK) {
        await trx
          .insertInto('rec_interactions')
          .values(rows.slice(k, k + CHUNK))
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'user_id', 'item_id']).doUpdateSet({
              strength: sql`rec_interactions.strength + excluded.strength`,
              events: sql`rec_interactions.events + excluded.events`,
              last_at: sql`greatest(rec_interactions.last_at, excluded.last_at)`,
            }),
          )
          .execute();
      }
    });
  }

  async addFollows(tenantId: string, follows: { userId: string; artistId: string; at: Date }[]): Promise<void> {
    const rows = [...new Map(follows.map((f) => [`${f.userId}\u0000${f.artistId}`, { tenant_id: tenantId, user_id: f.userId, artist_id: f.artistId, at: f.at }])).values()];
    await this.storage.withTenant(tenantId, async (trx) => {
      for (let k = 0; k < rows.length; k += CHUNK) {
        await trx
          .insertInto('rec_follows')
          .values(rows.slice(k, k + CHUNK))
          .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'artist_id']).doNothing())
          .execute();
      }
    });
  }

  async addCoedits(tenantId: string, coedits: { userId: string; sessionId: string; at: Date }[]): Promise<void> {
    const merged = new Map<string, { session_id: string; user_id: string; edits: number; last_at: Date }>();
    for (const c of coedits) {
      const key = `${c.sessionId}\u0000${c.userId}`;
      const row = merged.get(key);
      if (row) {
        row.edits++;
        if (c.at > row.last_at) row.last_at = c.at;
      } else merged.set(key, { session_id: c.sessionId, user_id: c.userId, edits: 1, last_at: c.at });
    }
    const rows = [...merged.values()].map((r) => ({ tenant_id: tenantId, ...r }));
    await this.storage.withTenant(tenantId, async (trx) => {
      for (let k = 0; k < rows.length; k += CHUNK) {
        await trx
          .insertInto('rec_coedits')
          .values(rows.slice(k, k + CHUNK))
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'session_id', 'user_id']).doUpdateSet({
              edits: sql`rec_coedits.edits + excluded.edits`,
              last_at: sql`greatest(rec_coedits.last_at, excluded.last_at)`,
            }),
          )
          .execute();
      }
    });
  }

  /**
   * One user's items, follows and co-editors: one statement (this is on every request's path), of
   * primary-key and index lookups only.
   */
  async history(tenantId: string, userId: string, now = new Date()): Promise<UserHistory> {
    const { rows } = await this.storage.withTenant(tenantId, (trx) =>
      sql<{ items: [string, number][]; follows: string[]; coeditors: string[]; sessions: string[] }>`
        SELECT
          (SELECT coalesce(json_agg(json_build_array(item_id, strength)), '[]') FROM rec_interactions WHERE user_id = ${userId}) AS items,
          (SELECT coalesce(json_agg(artist_id), '[]') FROM rec_follows WHERE user_id = ${userId}) AS follows,
          (SELECT coalesce(json_agg(DISTINCT theirs.user_id), '[]')
             FROM rec_coedits mine
             JOIN rec_coedits theirs ON theirs.tenant_id = mine.tenant_id AND theirs.session_id = mine.session_id
            WHERE mine.user_id = ${userId} AND theirs.user_id <> ${userId}) AS coeditors,
          (SELECT coalesce(json_agg(DISTINCT session_id), '[]') FROM rec_coedits WHERE user_id = ${userId}) AS sessions`.execute(trx),
    );
    const row = rows[0]!;
    return {
      items: row.items.map(([itemId, strength]) => ({ itemId, weight: decayed(Number(strength), now) })).sort((a, b) => b.weight - a.weight || (a.itemId < b.itemId ? -1 : 1)),
      follows: row.follows,
      coeditors: row.coeditors.sort(),
      sessions: row.sessions,
    };
  }

  /**
   * The histories of many users at once (a model version's users, when serving prepares them): what
   * `history` answers for each, in four statements. Users with nothing stored get empty histories.
   */
  async histories(tenantId: string, userIds: string[], now = new Date()): Promise<Map<string, UserHistory>> {
    const out = new Map<string, UserHistory>(userIds.map((userId) => [userId, { items: [], follows: [], coeditors: [], sessions: [] }]));
    if (userIds.length === 0) return out;
    type Rows<T> = { user_id: string; list: T[] };
    const [items, follows, coeditors, sessions] = await this.storage.withTenant(tenantId, async (trx) => [
      (await sql<Rows<[string, number]>>`SELECT user_id, json_agg(json_build_array(item_id, strength)) AS list FROM rec_interactions WHERE user_id = ANY(${userIds}::text[]) GROUP BY user_id`.execute(trx)).rows,
      (await sql<Rows<string>>`SELECT user_id, json_agg(artist_id) AS list FROM rec_follows WHERE user_id = ANY(${userIds}::text[]) GROUP BY user_id`.execute(trx)).rows,
      (
        await sql<Rows<string>>`
          SELECT mine.user_id, json_agg(DISTINCT theirs.user_id) AS list
            FROM rec_coedits mine
            JOIN rec_coedits theirs ON theirs.tenant_id = mine.tenant_id AND theirs.session_id = mine.session_id
           WHERE mine.user_id = ANY(${userIds}::text[]) AND theirs.user_id <> mine.user_id
           GROUP BY mine.user_id`.execute(trx)
      ).rows,
      (await sql<Rows<string>>`SELECT user_id, json_agg(DISTINCT session_id) AS list FROM rec_coedits WHERE user_id = ANY(${userIds}::text[]) GROUP BY user_id`.execute(trx)).rows,
    ]);
    for (const row of items) {
      out.get(row.user_id)!.items = row.list
        .map(([itemId, strength]) => ({ itemId, weight: decayed(Number(strength), now) }))
        .sort((a, b) => b.weight - a.weight || (a.itemId < b.itemId ? -1 : 1));
    }
    for (const row of follows) out.get(row.user_id)!.follows = row.list;
    for (const row of coeditors) out.get(row.user_id)!.coeditors = row.list.sort();
    for (const row of sessions) out.get(row.user_id)!.sessions = row.list;
    return out;
  }

  /** Everything training needs: decayed interactions, follows spread over artists' items, the catalogue. */
  async trainingData(tenantId: string, now: Date, followWeight: number): Promise<TrainingData> {
    return this.storage.withTenant(tenantId, async (trx) => {
      // Ordered, so that the same data gives the same indices and so the same model (ALS starts from seeded factors).
      const interactions = await trx.selectFrom('rec_interactions').select(['user_id', 'item_id', 'strength']).orderBy('user_id').orderBy('item_id').execute();
      const follows = await trx.selectFrom('rec_follows').select(['user_id', 'artist_id']).orderBy('user_id').orderBy('artist_id').execute();
      const items = await trx.selectFrom('rec_items').select(['item_id', 'kind', 'artist_id', 'title', 'tags']).orderBy('item_id').execute();
      const catalog = new Map<string, ItemInfo>(
        items.map((i) => [i.item_id, { itemId: i.item_id, kind: i.kind, artistId: i.artist_id, title: i.title, tags: i.tags }]),
      );
      const userIndex = new Map<string, number>();
      const itemIndex = new Map<string, number>();
      const indexOf = (map: Map<string, number>, key: string) => {
        let at = map.get(key);
        if (at === undefined) map.set(key, (at = map.size));
        return at;
      };
      // Catalogue items come first, so that items nobody has touched yet still get an index (cold items).
      for (const itemId of catalog.keys()) indexOf(itemIndex, itemId);
      const byArtist = new Map<string, string[]>();
      for (const info of catalog.values()) if (info.artistId) (byArtist.get(info.artistId) ?? byArtist.set(info.artistId, []).get(info.artistId)!).push(info.itemId);
      const rows: number[] = [];
      const cols: number[] = [];
      const values: number[] = [];
      for (const r of interactions) {
        rows.push(indexOf(userIndex, r.user_id));
        cols.push(indexOf(itemIndex, r.item_id));
        values.push(decayed(Number(r.strength), now));
      }
      for (const f of follows) {
        const artistItems = byArtist.get(f.artist_id) ?? [];
        const share = followWeight / Math.sqrt(Math.max(1, artistItems.length));
        for (const itemId of artistItems) {
          rows.push(indexOf(userIndex, f.user_id));
          cols.push(indexOf(itemIndex, itemId));
          values.push(share);
        }
      }
      return {
        users: [...userIndex.keys()],
        items: [...itemIndex.keys()],
        rows: Int32Array.from(rows),
        cols: Int32Array.from(cols),
        values: Float32Array.from(values),
        catalog,
        interactions: interactions.length,
      };
    });
  }

  /** Catalogue entries for some items (missing ones are absent). */
  async items(tenantId: string, itemIds: string[]): Promise<Map<string, ItemInfo>> {
    if (itemIds.length === 0) return new Map();
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('rec_items').select(['item_id', 'kind', 'artist_id', 'title', 'tags']).where('item_id', 'in', itemIds).execute(),
    );
    return new Map(rows.map((i) => [i.item_id, { itemId: i.item_id, kind: i.kind, artistId: i.artist_id, title: i.title, tags: i.tags }]));
  }

  /** Item ids by how many users have them; for the fallback when there is no model yet. */
  async popular(tenantId: string, limit: number): Promise<{ itemId: string; users: number }[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .selectFrom('rec_interactions')
        .select(['item_id', (eb) => eb.fn.countAll<string>().as('users')])
        .groupBy('item_id')
        .orderBy('users', 'desc')
        .orderBy('item_id')
        .limit(limit)
        .execute(),
    );
    return rows.map((r) => ({ itemId: r.item_id, users: Number(r.users) }));
  }

  async addModel(tenantId: string, model: ModelRow): Promise<void> {
    await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('rec_models')
        .values({ tenant_id: tenantId, version: model.version, created_at: model.createdAt, path: model.path, summary: JSON.stringify(model.summary) })
        .execute(),
    );
  }

  async latestModel(tenantId: string): Promise<ModelRow | null> {
    const row = await this.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('rec_models').selectAll().orderBy('created_at', 'desc').orderBy('version', 'desc').limit(1).executeTakeFirst(),
    );
    return row ? { version: row.version, createdAt: row.created_at, path: row.path, summary: row.summary } : null;
  }

  async tenants(): Promise<string[]> {
    return (await this.storage.db.selectFrom('tenants').select('id').execute()).map((r) => r.id);
  }

  // ---- Experiments ----

  /** False when an experiment with this id exists already (ids are never reused: readouts would mix). */
  async createExperiment(tenantId: string, id: string, definition: unknown, createdBy: string): Promise<boolean> {
    const inserted = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('rec_experiments')
        .values({ tenant_id: tenantId, id, definition: JSON.stringify(definition), status: 'running', created_by: createdBy, created_at: new Date(), stopped_at: null })
        .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
        .returning('id')
        .executeTakeFirst(),
    );
    return inserted !== undefined;
  }

  async experiments(tenantId: string, status?: 'running' | 'stopped'): Promise<ExperimentRow[]> {
    const rows = await this.storage.withTenant(tenantId, (trx) => {
      let q = trx.selectFrom('rec_experiments').selectAll().orderBy('created_at');
      if (status) q = q.where('status', '=', status);
      return q.execute();
    });
    return rows.map((r) => ({ id: r.id, definition: r.definition, status: r.status, createdBy: r.created_by, createdAt: r.created_at, stoppedAt: r.stopped_at }));
  }

  async experiment(tenantId: string, id: string): Promise<ExperimentRow | null> {
    return (await this.experiments(tenantId)).find((e) => e.id === id) ?? null;
  }

  async stopExperiment(tenantId: string, id: string): Promise<boolean> {
    const row = await this.storage.withTenant(tenantId, (trx) =>
      trx.updateTable('rec_experiments').set({ status: 'stopped', stopped_at: new Date() }).where('id', '=', id).where('status', '=', 'running').returning('id').executeTakeFirst(),
    );
    return row !== undefined;
  }

  async recordExposure(tenantId: string, e: { experimentId: string; userId: string; variant: string; at: Date; items: string[] }): Promise<void> {
    await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('rec_exposures')
        .values({ tenant_id: tenantId, experiment_id: e.experimentId, user_id: e.userId, variant: e.variant, first_at: e.at, exposures: 1, items: JSON.stringify(e.items) })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'experiment_id', 'user_id']).doUpdateSet({
            exposures: sql`rec_exposures.exposures + 1`,
            items: sql`excluded.items`,
          }),
        )
        .execute(),
    );
  }

  /**
   * Counts an outcome for every experiment the user was exposed to before `at`: all of them when
   * `experimentId` is null and `itemId` was among the items shown, else the one named.
   */
  async recordOutcome(tenantId: string, o: { userId: string; metric: string; at: Date; value: number; experimentId: string | null; itemId: string | null }): Promise<number> {
    return this.storage.withTenant(tenantId, async (trx) => {
      let q = trx.selectFrom('rec_exposures').select(['experiment_id']).where('user_id', '=', o.userId).where('first_at', '<=', o.at);
      if (o.experimentId !== null) q = q.where('experiment_id', '=', o.experimentId);
      if (o.itemId !== null) q = q.where(sql<boolean>`items @> ${JSON.stringify([o.itemId])}::jsonb`);
      const exposures = await q.execute();
      for (const { experiment_id } of exposures) {
        await trx
          .insertInto('rec_outcomes')
          .values({ tenant_id: tenantId, experiment_id, user_id: o.userId, metric: o.metric, count: 1, value: o.value, first_at: o.at })
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'experiment_id', 'user_id', 'metric']).doUpdateSet({
              count: sql`rec_outcomes.count + 1`,
              value: sql`rec_outcomes.value + excluded.value`,
            }),
          )
          .execute();
      }
      return exposures.length;
    });
  }

  /**
   * `recordOutcome` for a batch of track events (experiment null, their track as the item): one
   * statement that attributes each to every experiment whose exposure showed its track before it.
   */
  async recordTrackOutcomes(tenantId: string, outcomes: { userId: string; metric: string; at: Date; itemId: string }[]): Promise<void> {
    if (outcomes.length === 0) return;
    await this.storage.withTenant(tenantId, (trx) =>
      sql`
        INSERT INTO rec_outcomes (tenant_id, experiment_id, user_id, metric, count, value, first_at)
        SELECT ${tenantId}, e.experiment_id, o.user_id, o.metric, count(*), count(*), min(o.at)
        FROM unnest(${outcomes.map((o) => o.userId)}::text[], ${outcomes.map((o) => o.metric)}::text[], ${outcomes.map((o) => o.at.toISOString())}::timestamptz[], ${outcomes.map((o) => o.itemId)}::text[]) AS o(user_id, metric, at, item)
        JOIN rec_exposures e ON e.user_id = o.user_id AND e.first_at <= o.at AND e.items @> jsonb_build_array(o.item)
        GROUP BY e.experiment_id, o.user_id, o.metric
        ON CONFLICT (tenant_id, experiment_id, user_id, metric) DO UPDATE SET count = rec_outcomes.count + excluded.count, value = rec_outcomes.value + excluded.value`.execute(trx),
    );
  }

  /** Per variant: exposed users; per variant and metric: converted users, outcomes and their total value. */
  async experimentCounts(tenantId: string, experimentId: string): Promise<{ exposed: Map<string, number>; outcomes: { variant: string; metric: string; users: number; count: number; value: number }[] }> {
    return this.storage.withTenant(tenantId, async (trx) => {
      const exposed = await trx
        .selectFrom('rec_exposures')
        .select(['variant', (eb) => eb.fn.countAll<string>().as('users')])
        .where('experiment_id', '=', experimentId)
        .groupBy('variant')
        .execute();
      const outcomes = await trx
        .selectFrom('rec_outcomes as o')
        .innerJoin('rec_exposures as e', (j) =>
          j.onRef('e.tenant_id', '=', 'o.tenant_id').onRef('e.experiment_id', '=', 'o.experiment_id').onRef('e.user_id', '=', 'o.user_id'),
        )
        .select(['e.variant', 'o.metric', (eb) => eb.fn.countAll<string>().as('users'), (eb) => eb.fn.sum<string>('o.count').as('count'), (eb) => eb.fn.sum<string>('o.value').as('value')])
        .where('o.experiment_id', '=', experimentId)
        .groupBy(['e.variant', 'o.metric'])
        .execute();
      return {
        exposed: new Map(exposed.map((r) => [r.variant, Number(r.users)])),
        outcomes: outcomes.map((r) => ({ variant: r.variant, metric: r.metric, users: Number(r.users), count: Number(r.count), value: Number(r.value) })),
      };
    });
  }
}
