// The rules engine as the `gamification` consumer group runs it. Each event is applied in one
// transaction that first records the event id: a redelivered event finds it and changes nothing,
// so nothing is awarded or counted twice. Awards are keyed by user and achievement, never by rule
// version, so a rule edited later never awards again what it already awarded.
//
// Lock order, the same in every transaction (so concurrent events cannot deadlock): quest rows by
// id, then the subject's progress rows, then users' point rows by user id.
import { sql } from 'kysely';
import type { VezaEvent } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';
import type { LeaderboardUpdate } from './leaderboards.js';
import { derivedId, type Outbox } from './outbox.js';
import { contributionOf, type Quest } from './quests.js';
import { advance, counterOf, emptyProgress, levelOf, standing, subjectOf, type Progress, type StoredRule } from './rules.js';

type Trx = Parameters<Parameters<Storage['withTenant']>[1]>[0];
/** How long a node trusts its cached rules and quests (a change made on this node applies at once). */
const CACHE_MS = 2000;

export interface Award {
  userId: string;
  achievementId: string;
  points: number;
}

interface StoredQuest extends Quest {
  questId: string;
}

/** A rule an event counts towards for a user: its progress row's key and its award's key. */
interface Counted {
  rule: StoredRule;
  userId: string;
  counter: string;
  key: string;
  awardKey: string;
}

const toAward = (row: { user_id: string; achievement_id: string; points: number }): Award => ({ userId: row.user_id, achievementId: row.achievement_id, points: row.points });

/** What applying an event did: whether it was new, and what it awarded (again, for a redelivery). */
interface Applied {
  event: VezaEvent;
  fresh: boolean;
  awards: Award[];
}

export class GamificationEngine {
  private readonly rules = new Map<string, { at: number; rules: Promise<StoredRule[]> }>();
  private readonly quests = new Map<string, { at: number; quests: Promise<StoredQuest[]> }>();

  constructor(
    private readonly storage: Storage,
    private readonly outbox: Outbox,
  ) {}

  /** Forgets the cached rules and quests of a tenant (after a change through the API). */
  invalidate(tenantId: string): void {
    this.rules.delete(tenantId);
    this.quests.delete(tenantId);
  }

  /**
   * Applies one event; returns the leaderboard updates it causes (the same list again when the event
   * was already applied, so a crash between the commit and the leaderboards is repaired by the
   * redelivery: the leaderboards skip what they already have).
   */
  async handle(event: VezaEvent): Promise<LeaderboardUpdate[]> {
    const [rules, quests] = await Promise.all([this.rulesOf(event.tenantId), this.questsOf(event.tenantId)]);
    // Most events on the bus (edits, presence, stream quality) concern no rule: no transaction for them.
    if (!rules.some((r) => r.event === event.type) && !quests.some((q) => q.event === event.type)) return boardUpdates(event, []);
    const { fresh, awards, derived } = await retryDeadlocks(() =>
      this.storage.withTenant(event.tenantId, async (trx) => {
        const result = await this.apply(trx, event, rules, quests);
        return { ...result, derived: this.outbox.taken(trx) };
      }),
    );
    // A redelivery may follow a crash between the commit and the publishing: publish what is left.
    if (!fresh) await this.outbox.publishFor(event.tenantId, event.id);
    else if (derived.length > 0) await this.outbox.publishEvents(event.tenantId, derived);
    return boardUpdates(event, awards);
  }

  /**
   * Applies several events of one tenant in one transaction, one after another (a consumer under
   * load: PGlite runs a statement ten times faster right after another than after a pause, and the
   * transaction's own statements are paid once). Each event is still recorded as applied, so a
   * redelivery changes nothing. Returns each event's leaderboard updates, by event id. A failure
   * fails the whole batch: the caller then applies the events one by one.
   */
  async handleBatch(tenantId: string, events: VezaEvent[]): Promise<Map<string, LeaderboardUpdate[]>> {
    const [rules, quests] = await Promise.all([this.rulesOf(tenantId), this.questsOf(tenantId)]);
    const concerns = (e: VezaEvent) => rules.some((r) => r.event === e.type) || quests.some((q) => q.event === e.type);
    const updates = new Map<string, LeaderboardUpdate[]>();
    const relevant: VezaEvent[] = [];
    for (const event of events) {
      if (event.tenantId !== tenantId) throw new Error(`event ${event.id} is not of tenant ${tenantId}`);
      if (concerns(event)) relevant.push(event);
      else updates.set(event.id, boardUpdates(event, []));
    }
    if (relevant.length === 0) return updates;
    // A quest completes and rewards inside one event's transaction: a batch with quest events is applied event by event.
    const oneByOne = relevant.some((e) => quests.some((q) => q.event === e.type));
    const { results, derived } = await retryDeadlocks(() =>
      this.storage.withTenant(tenantId, async (trx) => {
        const results: Applied[] = [];
        if (oneByOne) for (const event of relevant) results.push({ event, ...(await this.apply(trx, event, rules, quests)) });
        else results.push(...(await this.applyTogether(trx, tenantId, relevant, rules)));
        return { results, derived: this.outbox.taken(trx) };
      }),
    );
    if (derived.length > 0) await this.outbox.publishEvents(tenantId, derived);
    for (const { event, fresh, awards } of results) {
      if (!fresh) await this.outbox.publishFor(tenantId, event.id);
      updates.set(event.id, boardUpdates(event, awards));
    }
    return updates;
  }

  private async apply(trx: Trx, event: VezaEvent, rules: StoredRule[], quests: StoredQuest[]): Promise<{ fresh: boolean; awards: Award[] }> {
    const fresh = await trx.insertInto('gam_processed').values({ tenant_id: event.tenantId, event_id: event.id }).onConflict((oc) => oc.doNothing()).returning('event_id').executeTakeFirst();
    if (!fresh) {
      const done = await trx.selectFrom('gam_awards').select(['user_id', 'achievement_id', 'points']).where('event_id', '=', event.id).orderBy('user_id').execute();
      return { fresh: false, awards: done.map(toAward) };
    }
    const awards: Award[] = [];
    for (const quest of quests) {
      const contribution = contributionOf(quest, event);
      if (contribution) awards.push(...(await this.contribute(trx, event, quest, contribution)));
    }
    for (const rule of rules) {
      const subject = subjectOf(rule, event);
      if (!subject) continue;
      const award = await this.progress(trx, event, rule, subject);
      if (award) awards.push(award);
    }
    await this.addPoints(trx, event, awards);
    return { fresh: true, awards };
  }

  /**
   * Events that no quest concerns, applied as one after another would be, with the statements paid
   * once per batch instead of once per event: the event ids recorded in one insert, the progress
   * rows they count towards read and locked in one select (in key order, so concurrent batches
   * cannot deadlock) and written back in one update. Awards, points and levels (rare) as for one event.
   */
  private async applyTogether(trx: Trx, tenantId: string, events: VezaEvent[], rules: StoredRule[]): Promise<Applied[]> {
    const inserted = await trx
      .insertInto('gam_processed')
      .values(events.map((e) => ({ tenant_id: tenantId, event_id: e.id })))
      .onConflict((oc) => oc.doNothing())
      .returning('event_id')
      .execute();
    const unclaimed = new Set(inserted.map((r) => r.event_id));
    // A copy of an event later in the same batch is a redelivery, like a copy in a later batch.
    const isFresh = events.map((e) => unclaimed.delete(e.id));
    // What each fresh event counts towards: its progress row (user, rule, counter) and its award (user, rule).
    const counters = new Map(rules.map((rule) => [rule, counterOf(rule)]));
    const counted: Counted[][] = events.map((event, i) =>
      !isFresh[i]
        ? []
        : rules.flatMap((rule) => {
            const userId = subjectOf(rule, event);
            const counter = counters.get(rule)!;
            return userId ? [{ rule, userId, counter, key: `${userId}\u0000${rule.ruleId}\u0000${counter}`, awardKey: `${userId}\u0000${rule.ruleId}` }] : [];
          }),
    );
    const all = counted.flat();
    const users = [...new Set(all.map((c) => c.userId))];
    const ruleIds = [...new Set(all.map((c) => c.rule.ruleId))];
    const awarded = new Set<string>();
    const states = new Map<string, Progress>();
    if (all.length > 0) {
      const rows = await trx.selectFrom('gam_awards').select(['user_id', 'achievement_id']).where('user_id', 'in', users).where('achievement_id', 'in', ruleIds).execute();
      for (const r of rows) awarded.add(`${r.user_id}\u0000${r.achievement_id}`);
      const open = new Map(all.filter((c) => !awarded.has(c.awardKey)).map((c) => [c.key, c]));
      if (open.size > 0) {
        const at = new Date(events[0]!.at);
        await trx
          .insertInto('gam_progress')
          .values([...open.values()].map((c) => ({ tenant_id: tenantId, user_id: c.userId, rule_id: c.rule.ruleId, counter: c.counter, state: JSON.stringify(emptyProgress(c.rule.criteria)), updated_at: at })))
          .onConflict((oc) => oc.doNothing())
          .execute();
        const locked = await trx
          .selectFrom('gam_progress')
          .select(['user_id', 'rule_id', 'counter', 'state'])
          .where('user_id', 'in', [...new Set([...open.values()].map((c) => c.userId))])
          .where('rule_id', 'in', [...new Set([...open.values()].map((c) => c.rule.ruleId))])
          .orderBy('user_id')
          .orderBy('rule_id')
          .orderBy('counter')
          .forUpdate()
          .execute();
        for (const r of locked) states.set(`${r.user_id}\u0000${r.rule_id}\u0000${r.counter}`, parseJson(r.state) as Progress);
      }
    }
    const results: Applied[] = [];
    /** Progress rows advanced by the batch, with the time of the last event that advanced each. */
    const written = new Map<string, { row: Counted; at: Date }>();
    for (const [i, event] of events.entries()) {
      if (!isFresh[i]) continue;
      const at = new Date(event.at);
      const awards: Award[] = [];
      for (const row of counted[i]!) {
        if (awarded.has(row.awardKey)) continue;
        const state = states.get(row.key);
        if (!state) throw new Error(`progress of ${row.userId} towards ${row.rule.ruleId} was not found after it was inserted`);
        const next = advance(row.rule.criteria, state, event, at.getTime());
        states.set(row.key, next);
        written.set(row.key, { row, at });
        if (!standing(row.rule.criteria, next).met) continue;
        awarded.add(row.awardKey);
        const award = await this.ruleAward(trx, event, row.rule, row.userId);
        if (award) awards.push(award);
      }
      await this.addPoints(trx, event, awards);
      results.push({ event, fresh: true, awards });
    }
    if (written.size > 0) {
      const rows = [...written.values()];
      await sql`
        update gam_progress p set state = v.state::jsonb, updated_at = v.at
        from unnest(${rows.map((w) => w.row.userId)}::text[], ${rows.map((w) => w.row.rule.ruleId)}::text[], ${rows.map((w) => w.row.counter)}::text[],
                    ${rows.map((w) => JSON.stringify(states.get(w.row.key)))}::text[], ${rows.map((w) => w.at.toISOString())}::timestamptz[])
          as v(user_id, rule_id, counter, state, at)
        where p.tenant_id = ${tenantId} and p.user_id = v.user_id and p.rule_id = v.rule_id and p.counter = v.counter`.execute(trx);
    }
    // Redeliveries last: a copy of an event of this batch finds the awards its first copy made.
    const repeated = events.filter((_, i) => !isFresh[i]);
    if (repeated.length > 0) {
      const done = await trx.selectFrom('gam_awards').select(['event_id', 'user_id', 'achievement_id', 'points']).where('event_id', 'in', [...new Set(repeated.map((e) => e.id))]).orderBy('user_id').execute();
      for (const event of repeated) {
        results.push({ event, fresh: false, awards: done.filter((a) => a.event_id === event.id).map(toAward) });
      }
    }
    return results;
  }

  /** Points and levels for what an event awarded, users in id order. */
  private async addPoints(trx: Trx, event: VezaEvent, awards: Award[]): Promise<void> {
    const at = new Date(event.at);
    const points = new Map<string, number>();
    for (const a of awards) points.set(a.userId, (points.get(a.userId) ?? 0) + a.points);
    for (const [userId, delta] of [...points].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (delta === 0) continue;
      // The upsert adds atomically and locks the row; `level` comes back as it was before.
      const row = await trx
        .insertInto('gam_users')
        .values({ tenant_id: event.tenantId, user_id: userId, points: delta, level: 1, updated_at: at })
        .onConflict((oc) => oc.columns(['tenant_id', 'user_id']).doUpdateSet({ points: sql`gam_users.points + ${delta}`, updated_at: at }))
        .returning(['points', 'level'])
        .executeTakeFirstOrThrow();
      const total = Number(row.points);
      const level = levelOf(total);
      if (level <= row.level) continue;
      await trx.updateTable('gam_users').set({ level }).where('user_id', '=', userId).execute();
      for (let reached = row.level + 1; reached <= level; reached++) {
        await this.outbox.add(trx, event.id, 'level.up', { tenantId: event.tenantId, id: derivedId('level', event.tenantId, userId, String(reached)), at, actor: userId, payload: { userId, level: reached, points: total } });
      }
    }
  }

  /** Counts the event towards a rule for its subject; awards the achievement when the criteria are met. */
  private async progress(trx: Trx, event: VezaEvent, rule: StoredRule, userId: string): Promise<Award | null> {
    const awarded = await trx.selectFrom('gam_awards').select('version').where('user_id', '=', userId).where('achievement_id', '=', rule.ruleId).executeTakeFirst();
    if (awarded) return null;
    const counter = counterOf(rule);
    const at = new Date(event.at);
    await trx
      .insertInto('gam_progress')
      .values({ tenant_id: event.tenantId, user_id: userId, rule_id: rule.ruleId, counter, state: JSON.stringify(emptyProgress(rule.criteria)), updated_at: at })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const row = await trx.selectFrom('gam_progress').select('state').where('user_id', '=', userId).where('rule_id', '=', rule.ruleId).where('counter', '=', counter).forUpdate().executeTakeFirstOrThrow();
    const state = (typeof row.state === 'string' ? JSON.parse(row.state) : row.state) as Progress;
    const next = advance(rule.criteria, state, event, at.getTime());
    await trx
      .updateTable('gam_progress')
      .set({ state: JSON.stringify(next), updated_at: at })
      .where('user_id', '=', userId)
      .where('rule_id', '=', rule.ruleId)
      .where('counter', '=', counter)
      .execute();
    if (!standing(rule.criteria, next).met) return null;
    return this.ruleAward(trx, event, rule, userId);
  }

  /** The rule's achievement for `userId`, or null when it was awarded already. */
  private ruleAward(trx: Trx, event: VezaEvent, rule: StoredRule, userId: string): Promise<Award | null> {
    return this.award(trx, event, { userId, achievementId: rule.ruleId, version: rule.version, category: rule.category, title: rule.title, points: rule.points, reward: rule.reward ?? null });
  }

  /** Adds to a quest; when this crosses its goal, completes it and rewards its contributors. */
  private async contribute(trx: Trx, event: VezaEvent, quest: StoredQuest, contribution: { userId: string; amount: number }): Promise<Award[]> {
    const row = await trx
      .updateTable('gam_quests')
      .set({ progress: sql`progress + ${contribution.amount}` })
      .where('quest_id', '=', quest.questId)
      .where('completed_at', 'is', null)
      .returning(['progress'])
      .executeTakeFirst();
    if (!row) return [];
    await trx
      .insertInto('gam_contributions')
      .values({ tenant_id: event.tenantId, quest_id: quest.questId, user_id: contribution.userId, amount: contribution.amount })
      .onConflict((oc) => oc.columns(['tenant_id', 'quest_id', 'user_id']).doUpdateSet({ amount: sql`gam_contributions.amount + ${contribution.amount}` }))
      .execute();
    const progress = Number(row.progress);
    if (progress < quest.goal) return [];
    const at = new Date(event.at);
    await trx.updateTable('gam_quests').set({ completed_at: at }).where('quest_id', '=', quest.questId).execute();
    const everyone = await trx.selectFrom('gam_contributions').select(['user_id', 'amount']).where('quest_id', '=', quest.questId).orderBy('user_id').execute();
    const contributors = everyone.filter((c) => Number(c.amount) >= quest.reward.minContribution);
    await this.outbox.add(trx, event.id, 'quest.completed', {
      tenantId: event.tenantId,
      id: derivedId('quest', event.tenantId, quest.questId),
      at,
      payload: { questId: quest.questId, goal: quest.goal, progress, contributors: everyone.length, rewarded: contributors.length },
    });
    const awards: Award[] = [];
    for (const { user_id: userId } of contributors) {
      const award = await this.award(trx, event, { userId, achievementId: `quest:${quest.questId}`, version: 1, category: 'quest', title: quest.title, points: quest.reward.points, reward: null });
      if (award) awards.push(award);
    }
    return awards;
  }

  private async award(
    trx: Trx,
    event: VezaEvent,
    a: { userId: string; achievementId: string; version: number; category: string; title: string; points: number; reward: unknown },
  ): Promise<Award | null> {
    const at = new Date(event.at);
    const inserted = await trx
      .insertInto('gam_awards')
      .values({
        tenant_id: event.tenantId,
        user_id: a.userId,
        achievement_id: a.achievementId,
        version: a.version,
        category: a.category,
        title: a.title,
        points: a.points,
        reward: a.reward === null ? null : JSON.stringify(a.reward),
        awarded_at: at,
        event_id: event.id,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('user_id')
      .executeTakeFirst();
    if (!inserted) return null;
    await this.outbox.add(trx, event.id, 'achievement.unlocked', {
      tenantId: event.tenantId,
      id: derivedId('achievement', event.tenantId, a.userId, a.achievementId),
      at,
      actor: a.userId,
      payload: { userId: a.userId, achievementId: a.achievementId, version: a.version, category: a.category, points: a.points, title: a.title },
    });
    return { userId: a.userId, achievementId: a.achievementId, points: a.points };
  }

  /** The latest version of every rule of the tenant that is active. */
  rulesOf(tenantId: string): Promise<StoredRule[]> {
    const cached = this.rules.get(tenantId);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.rules;
    const rules = this.storage
      .withTenant(tenantId, (trx) => trx.selectFrom('gam_rules').select(['rule_id', 'version', 'definition']).distinctOn('rule_id').orderBy('rule_id').orderBy('version', 'desc').execute())
      .then((rows) => rows.map((r) => ({ ...(parseJson(r.definition) as Omit<StoredRule, 'ruleId' | 'version'>), ruleId: r.rule_id, version: r.version })).filter((r) => r.active));
    this.rules.set(tenantId, { at: Date.now(), rules });
    rules.catch(() => this.rules.delete(tenantId));
    return rules;
  }

  /** Quests not yet completed, in id order (the lock order). */
  questsOf(tenantId: string): Promise<StoredQuest[]> {
    const cached = this.quests.get(tenantId);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.quests;
    const quests = this.storage
      .withTenant(tenantId, (trx) => trx.selectFrom('gam_quests').select(['quest_id', 'definition']).where('completed_at', 'is', null).orderBy('quest_id').execute())
      .then((rows) => rows.map((r) => ({ ...(parseJson(r.definition) as Quest), questId: r.quest_id })));
    this.quests.set(tenantId, { at: Date.now(), quests });
    quests.catch(() => this.quests.delete(tenantId));
    return quests;
  }
}

export function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

/** The tenant id of platform-wide boards (members are `tenant/user` there). */
export const GLOBAL_BOARD_TENANT = '*';

/** Points boards for awards; supporter boards (per currency, in the tenant and the room) for tips. */
function boardUpdates(event: VezaEvent, awards: Award[]): LeaderboardUpdate[] {
  const at = new Date(event.at);
  const updates: LeaderboardUpdate[] = [];
  for (const a of awards) {
    if (a.points === 0) continue;
    const eventId = `${event.id}/${a.achievementId}`;
    updates.push({ board: { tenantId: event.tenantId, scope: 'tenant', metric: 'points' }, member: a.userId, delta: a.points, at, eventId });
    updates.push({ board: { tenantId: GLOBAL_BOARD_TENANT, scope: 'global', metric: 'points' }, member: `${event.tenantId}/${a.userId}`, delta: a.points, at, eventId });
  }
  if (event.type === 'tip.sent' || event.type === 'tip.refunded') {
    const { roomId, fromUserId, amount, currency } = event.payload;
    const delta = event.type === 'tip.sent' ? amount : -amount;
    for (const scope of ['tenant', `room:${roomId}`]) {
      updates.push({ board: { tenantId: event.tenantId, scope, metric: `tips:${currency}` }, member: fromUserId, delta, at, eventId: event.id });
    }
  }
  return updates;
}

/** PostgreSQL aborts one of two deadlocked transactions; it is safe to run again from the start. */
async function retryDeadlocks<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= attempts || (code !== '40P01' && code !== '40001')) throw error;
    }
  }
}
