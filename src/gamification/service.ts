// The gamification module as the server runs it: rules and quests are defined, tips are taken over
// HTTP, and leaderboards and room tip feeds are pushed to WebSocket subscribers as they change. The
// `gamification` consumer group that applies rules and quests to events is in consumer.ts.
import { sql } from 'kysely';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import { GamificationEngine, parseJson } from './engine.js';
import { LiveFeeds } from './feeds.js';
import { createLeaderboards, type LeaderboardStore } from './leaderboards.js';
import { Outbox } from './outbox.js';
import { parseQuest, type Quest } from './quests.js';
import { emptyProgress, levelOf, parseRule, pointsForLevel, standing, counterOf, type Progress, type Rule, type StoredRule } from './rules.js';
import { TestModePaymentProvider, type PaymentProvider } from './payments.js';
import { TipService } from './tips.js';

export interface GamificationDeps {
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  redisUrl?: string | null | undefined;
  /** Redis key prefix of the leaderboards (the server derives it from the events stream's key). */
  leaderboardPrefix?: string;
  /** A real payment provider; the built-in one records test-mode payments only. */
  provider?: PaymentProvider;
}

export interface UserStanding {
  userId: string;
  points: number;
  level: number;
  /** Points at which the next level starts. */
  nextLevelAt: number;
  achievements: { achievementId: string; title: string; category: string; points: number; version: number; reward: unknown; awardedAt: string }[];
  progress: { achievementId: string; title: string; category: string; current: number; goal: number }[];
  quests: { questId: string; title: string; progress: number; goal: number; contribution: number; endsAt: string; completedAt: string | null }[];
}

export class GamificationService {
  readonly outbox: Outbox;
  readonly engine: GamificationEngine;
  readonly tips: TipService;
  readonly feeds: LiveFeeds;
  private readonly rulesWatchers = new Set<(tenantId: string) => void>();

  private constructor(
    private readonly deps: GamificationDeps,
    readonly leaderboards: LeaderboardStore,
  ) {
    this.outbox = new Outbox(deps.storage, deps.bus, deps.logger);
    this.engine = new GamificationEngine(deps.storage, this.outbox);
    const provider = deps.provider ?? new TestModePaymentProvider(deps.storage);
    if (provider.testMode) deps.logger.warn('tips use the built-in test-mode payment provider: payments are recorded, no money moves');
    this.tips = new TipService(deps.storage, provider, this.outbox);
    this.feeds = new LiveFeeds(leaderboards, this.tips, (error) => deps.logger.warn({ err: error }, 'a gamification feed could not be updated'));
  }

  static async start(deps: GamificationDeps): Promise<GamificationService> {
    const leaderboards = await createLeaderboards({ redisUrl: deps.redisUrl ?? null, ...(deps.leaderboardPrefix ? { keyPrefix: deps.leaderboardPrefix } : {}) });
    return new GamificationService(deps, leaderboards);
  }

  /** Forgets the cached rules and quests of a tenant, here and wherever the consumer runs. */
  private rulesChanged(tenantId: string): void {
    this.engine.invalidate(tenantId);
    for (const watcher of this.rulesWatchers) watcher(tenantId);
  }

  /** Told when a tenant's rules or quests change here, so that consumers elsewhere forget their cached ones. */
  watchRules(watcher: (tenantId: string) => void): void {
    this.rulesWatchers.add(watcher);
  }

  /** Stores a new version of a rule (validated); returns its version. */
  async defineRule(tenantId: string, ruleId: string, input: unknown, by: string): Promise<{ ruleId: string; version: number; rule: Rule }> {
    const rule = parseRule(input);
    const version = await this.deps.storage.withTenant(tenantId, async (trx) => {
      // Serialises concurrent edits of one rule (the first version too): the next version is taken under the lock.
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`gam_rules/${ruleId}`}))`.execute(trx);
      const last = await trx.selectFrom('gam_rules').select((eb) => eb.fn.max('version').as('version')).where('rule_id', '=', ruleId).executeTakeFirst();
      const next = Number(last?.version ?? 0) + 1;
      await trx.insertInto('gam_rules').values({ tenant_id: tenantId, rule_id: ruleId, version: next, definition: JSON.stringify(rule), created_by: by }).execute();
      return next;
    });
    this.rulesChanged(tenantId);
    return { ruleId, version, rule };
  }

  async rules(tenantId: string, ruleId?: string): Promise<StoredRule[]> {
    const rows = await this.deps.storage.withTenant(tenantId, (trx) => {
      let query = trx.selectFrom('gam_rules').select(['rule_id', 'version', 'definition']);
      if (ruleId) query = query.where('rule_id', '=', ruleId);
      return query.orderBy('rule_id').orderBy('version').execute();
    });
    return rows.map((r) => ({ ...(parseJson(r.definition) as Rule), ruleId: r.rule_id, version: r.version }));
  }

  /** Creates a quest; false when one with this id exists (quests are not edited once they count). */
  async createQuest(tenantId: string, questId: string, input: unknown): Promise<Quest | null> {
    const quest = parseQuest(input);
    const created = await this.deps.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('gam_quests')
        .values({ tenant_id: tenantId, quest_id: questId, definition: JSON.stringify(quest), starts_at: new Date(quest.startsAt), ends_at: new Date(quest.endsAt) })
        .onConflict((oc) => oc.doNothing())
        .returning('quest_id')
        .executeTakeFirst(),
    );
    this.rulesChanged(tenantId);
    return created ? quest : null;
  }

  async quests(tenantId: string, questId?: string): Promise<(Quest & { questId: string; progress: number; completedAt: string | null; contributors: number })[]> {
    return this.deps.storage.withTenant(tenantId, async (trx) => {
      let query = trx
        .selectFrom('gam_quests as q')
        .select(['q.quest_id', 'q.definition', 'q.progress', 'q.completed_at'])
        .select((eb) => eb.selectFrom('gam_contributions as c').select((e) => e.fn.countAll<string>().as('n')).whereRef('c.quest_id', '=', 'q.quest_id').as('contributors'));
      if (questId) query = query.where('q.quest_id', '=', questId);
      const rows = await query.orderBy('q.ends_at', 'desc').orderBy('q.quest_id').limit(200).execute();
      return rows.map((r) => ({
        ...(parseJson(r.definition) as Quest),
        questId: r.quest_id,
        progress: Number(r.progress),
        completedAt: r.completed_at?.toISOString() ?? null,
        contributors: Number(r.contributors ?? 0),
      }));
    });
  }

  /** A user's points, level, achievements, progress towards the others, and quests they can join. */
  async standing(tenantId: string, userId: string): Promise<UserStanding> {
    const rules = await this.engine.rulesOf(tenantId);
    const { user, awards, progress, quests } = await this.deps.storage.withTenant(tenantId, async (trx) => ({
      user: await trx.selectFrom('gam_users').select(['points']).where('user_id', '=', userId).executeTakeFirst(),
      awards: await trx.selectFrom('gam_awards').selectAll().where('user_id', '=', userId).orderBy('awarded_at').orderBy('achievement_id').execute(),
      progress: await trx.selectFrom('gam_progress').select(['rule_id', 'counter', 'state']).where('user_id', '=', userId).execute(),
      quests: await trx
        .selectFrom('gam_quests as q')
        .leftJoin('gam_contributions as c', (j) => j.onRef('c.quest_id', '=', 'q.quest_id').on('c.user_id', '=', userId))
        .select(['q.quest_id', 'q.definition', 'q.progress', 'q.completed_at', 'q.ends_at', 'c.amount'])
        .where((eb) => eb.or([eb('q.ends_at', '>', new Date()), eb('c.amount', 'is not', null)]))
        .orderBy('q.ends_at')
        .limit(100)
        .execute(),
    }));
    const points = Number(user?.points ?? 0);
    const level = levelOf(points);
    const awarded = new Set(awards.map((a) => a.achievement_id));
    const states = new Map(progress.map((p) => [`${p.rule_id}\u0000${p.counter}`, parseJson(p.state) as Progress]));
    return {
      userId,
      points,
      level,
      nextLevelAt: pointsForLevel(level + 1),
      achievements: awards.map((a) => ({
        achievementId: a.achievement_id,
        title: a.title,
        category: a.category,
        points: a.points,
        version: a.version,
        reward: parseJson(a.reward) ?? null,
        awardedAt: a.awarded_at.toISOString(),
      })),
      progress: rules
        .filter((r) => !awarded.has(r.ruleId))
        .map((r) => {
          const state = states.get(`${r.ruleId}\u0000${counterOf(r)}`);
          const { current, goal } = standing(r.criteria, state ?? emptyProgress(r.criteria));
          return { achievementId: r.ruleId, title: r.title, category: r.category, current, goal };
        }),
      quests: quests.map((q) => {
        const definition = parseJson(q.definition) as Quest;
        return {
          questId: q.quest_id,
          title: definition.title,
          progress: Number(q.progress),
          goal: definition.goal,
          contribution: Number(q.amount ?? 0),
          endsAt: q.ends_at.toISOString(),
          completedAt: q.completed_at?.toISOString() ?? null,
        };
      }),
    };
  }

  async close(): Promise<void> {
    this.feeds.close();
    await this.leaderboards.close();
  }
}
