// The insights module as the server runs it: the `insights` consumer group writes the rollups, live
// dashboards follow what was stored, and the HTTP and WebSocket routes answer creators.
import type { RunningConsumer } from '../consumers/contract.js';
import type { EventBus } from '../events/bus.js';
import type { VezaEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import { InsightsAlerts } from './alerts.js';
import { consumeAuthorship } from './authorship.js';
import { buildDataset, extractFeatures, FEATURE_NAMES, type UserActivity } from './churn-features.js';
import { evaluateChurn } from './churn-metrics.js';
import { LogisticRegression } from './churn-model.js';
import { InsightsError } from './errors.js';
import type { WeeklyReport } from './report.js';
import { dayNumber } from './listening.js';
import { SIDE_MODULE_BATCH_MS } from '../consumers/batches.js';
import { LiveDashboards } from './live-dashboards.js';
import { InsightsQueries } from './queries.js';
import { INSIGHT_TYPES, InsightsWriter } from './writer.js';

export const CHURN_HORIZON_DAYS = 28;
/** How far back the audience's activity is read: the features look back up to 90 days from the earliest cutoff. */
const CHURN_HISTORY_DAYS = 2 * CHURN_HORIZON_DAYS + 90;
/** A listener scored at or above this is "at risk". */
export const AT_RISK = 0.5;
/** Share of active listeners at risk that raises a churn-risk alert. */
export const AT_RISK_ALERT_SHARE = 0.3;
const ACTIVE_DAYS_28 = FEATURE_NAMES.indexOf('active_days_28');

export type ChurnReport =
  | {
      status: 'ok';
      horizonDays: number;
      evaluation: { trainUsers: number; testUsers: number; testChurnRate: number; logLoss: number; auc: number; baseRateLogLoss: number };
      activeListeners: number;
      atRiskShare: number;
      atRisk: { userId: string; score: number; reasons: string[] }[];
    }
  | { status: 'insufficient-history'; reason: string; horizonDays: number };

export interface InsightsDeps {
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  /** Seconds between alert checks while consuming; 0: none. */
  alertIntervalS?: number;
  /** Where stored events go (default: this service's live dashboards; another thread's, when it consumes). */
  onStored?: (events: VezaEvent[]) => void;
}

export class InsightsService {
  readonly writer: InsightsWriter;
  readonly queries: InsightsQueries;
  readonly live: LiveDashboards;
  readonly alerts: InsightsAlerts;
  private readonly churnCache = new Map<string, { at: number; report: ChurnReport }>();

  constructor(private readonly deps: InsightsDeps) {
    this.queries = new InsightsQueries(deps.storage);
    this.alerts = new InsightsAlerts({
      storage: deps.storage,
      bus: deps.bus,
      logger: deps.logger,
      atRiskShare: async (tenantId, creatorId) => {
        const tracks = await this.queries.tracksOf(tenantId, creatorId);
        const report = await this.churn(tenantId, creatorId, tracks.map((t) => t.trackId));
        return report.status === 'ok' ? report.atRiskShare : null;
      },
      atRiskAlertShare: AT_RISK_ALERT_SHARE,
    });
    this.live = new LiveDashboards(deps.storage);
    // A batch's statements (profiles, six rollups, the transaction) are paid once a second at most.
    this.writer = new InsightsWriter(deps.storage, { flushMs: SIDE_MODULE_BATCH_MS, onStored: deps.onStored ?? ((events) => this.observe(events)) });
  }

  /** Stored events move the open dashboards. */
  observe(events: VezaEvent[]): void {
    void this.live.observe(events).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'live dashboards missed a batch'));
  }

  /** The `insights` consumer group and the alert checks (see consumer.ts for where they run). */
  async consume(): Promise<RunningConsumer> {
    // Many in flight: each event resolves when its batch is stored, so one at a time would wait a
    // flush per event.
    const subscription = await this.deps.bus.subscribe('insights', (event) => this.writer.add(event), { types: INSIGHT_TYPES, concurrency: 2000 });
    const authorship = await consumeAuthorship(this.deps.bus, this.deps.storage);
    const every = this.deps.alertIntervalS ?? 0;
    const timer = every > 0 ? setInterval(() => void this.alerts.evaluate().catch((error: unknown) => this.deps.logger.error({ err: error }, 'insights alerts check failed')), every * 1000) : null;
    timer?.unref();
    return {
      close: async () => {
        if (timer) clearInterval(timer);
        await subscription.close();
        await authorship.close();
        await this.writer.flush();
      },
    };
  }

  /**
   * Which of a creator's listeners may stop listening in the next 28 days, and how sure the model
   * is: a logistic regression trained on the audience's own history (labels that ended before
   * today), its log loss and AUC measured one horizon later than its training window, and a score
   * with reasons for everyone active in the last 28 days. Cached for an hour per creator.
   */
  async churn(tenantId: string, creatorId: string, trackIds: string[], today = dayNumber(new Date())): Promise<ChurnReport> {
    const key = `${tenantId}\u0000${creatorId}\u0000${today}`;
    const cached = this.churnCache.get(key);
    if (cached && Date.now() - cached.at < 3_600_000) return cached.report;
    const users = await this.queries.audienceActivity(tenantId, trackIds, today - CHURN_HISTORY_DAYS);
    let report: ChurnReport;
    try {
      const evaluation = evaluateChurn(users, { trainCutoffDay: today - 2 * CHURN_HORIZON_DAYS, testCutoffDay: today - CHURN_HORIZON_DAYS, horizonDays: CHURN_HORIZON_DAYS });
      // The model that scores today learns from the most recent complete window.
      const current = buildDataset(users, today - CHURN_HORIZON_DAYS, CHURN_HORIZON_DAYS);
      const model = LogisticRegression.fit(current.x, current.y);
      const scored = users
        .map((user) => ({ user, x: extractFeatures(user, today) }))
        .filter((u): u is { user: UserActivity; x: Float64Array } => u.x !== null && u.x[ACTIVE_DAYS_28]! > 0)
        .map(({ user, x }) => ({
          userId: user.userId,
          score: Math.round(model.predict(x) * 1000) / 1000,
          reasons: model
            .contributions(x)
            .filter((c) => c.contribution > 0)
            .slice(0, 3)
            .map((c) => `${c.feature} = ${Math.round(c.value * 100) / 100}`),
        }))
        .sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1));
      const atRisk = scored.filter((u) => u.score >= AT_RISK);
      report = {
        status: 'ok',
        horizonDays: CHURN_HORIZON_DAYS,
        evaluation: {
          trainUsers: evaluation.train.users,
          testUsers: evaluation.test.users,
          testChurnRate: evaluation.test.churnRate,
          logLoss: evaluation.logLoss,
          auc: evaluation.auc,
          baseRateLogLoss: evaluation.baseRateLogLoss,
        },
        activeListeners: scored.length,
        atRiskShare: scored.length ? atRisk.length / scored.length : 0,
        atRisk: atRisk.slice(0, 50),
      };
    } catch (error) {
      if (!(error instanceof InsightsError)) throw error;
      report = { status: 'insufficient-history', reason: error.message, horizonDays: CHURN_HORIZON_DAYS };
    }
    this.churnCache.set(key, { at: Date.now(), report });
    if (this.churnCache.size > 1000) this.churnCache.delete(this.churnCache.keys().next().value!);
    return report;
  }

  /** The creator's week from `weekStart` (a Monday), with the week before for comparison. */
  async weeklyReport(tenantId: string, creatorId: string, weekStart: Date): Promise<WeeklyReport> {
    const tracks = await this.queries.tracksOf(tenantId, creatorId);
    const trackIds = tracks.map((t) => t.trackId);
    const titles = new Map(tracks.map((t) => [t.trackId, t.title]));
    const week = { from: weekStart, to: new Date(weekStart.getTime() + 7 * 86_400_000) };
    const before = { from: new Date(weekStart.getTime() - 7 * 86_400_000), to: weekStart };
    const [now, previous, funnel, churn, alerts] = await Promise.all([
      this.queries.listening(tenantId, trackIds, week),
      this.queries.listening(tenantId, trackIds, before),
      this.queries.funnel(tenantId, trackIds, week),
      this.churn(tenantId, creatorId, trackIds),
      this.alerts.alerts(tenantId, creatorId, 200),
    ]);
    // One currency per report: the one that earned most this week.
    const currency = [...now.revenue].sort((a, b) => b.amountMinor - a.amountMinor)[0]?.currency ?? null;
    const totals = (l: typeof now) => ({
      plays: l.plays,
      listeners: l.listeners,
      listenHours: l.listenHours,
      likes: l.likes,
      shares: l.shares,
      purchases: l.purchases,
      revenueMinor: l.revenue.find((r) => r.currency === currency)?.amountMinor ?? 0,
      currency,
    });
    const top = now.tracks[0];
    const heatmap = top ? await this.queries.heatmap(tenantId, top.trackId, [], week, 'all') : null;
    return {
      creatorId,
      tenantId,
      from: week.from.toISOString().slice(0, 10),
      to: week.to.toISOString().slice(0, 10),
      generatedAt: new Date().toISOString(),
      totals: totals(now),
      previousTotals: previous.plays > 0 || previous.likes > 0 ? totals(previous) : null,
      daily: Array.from({ length: 7 }, (_, d) => {
        const day = new Date(week.from.getTime() + d * 86_400_000).toISOString().slice(0, 10);
        const found = now.daily.find((x) => x.day === day);
        return { day, plays: found?.plays ?? 0, listeners: found?.listeners ?? 0 };
      }),
      topTracks: now.tracks.slice(0, 5).map((t) => ({ trackId: t.trackId, title: titles.get(t.trackId) ?? null, plays: t.plays, completionRate: t.plays ? t.completes / t.plays : 0 })),
      funnel: funnel.all.map((f) => ({ step: f.step, users: f.users })),
      heatmap: top && heatmap ? { trackId: top.trackId, title: titles.get(top.trackId) ?? null, buckets: heatmap.buckets.map((b) => b.listens) } : null,
      churn: churn.status === 'ok' ? { atRisk: churn.atRisk.length, users: churn.atRisk.slice(0, 10) } : null,
      alerts: alerts
        .filter((a) => a.raisedAt >= week.from && a.raisedAt < week.to)
        .map((a) => ({ at: a.raisedAt.toISOString(), kind: a.kind, message: (a.payload as { message?: string }).message ?? a.kind })),
    };
  }

  async close(): Promise<void> {
    await this.alerts.close();
    await this.writer.flush();
    this.live.close();
  }
}
