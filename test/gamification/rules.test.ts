import { describe, expect, it } from 'vitest';
import { createEvent, type VezaEvent } from '../../src/events/catalog.js';
import { parseQuest, contributionOf } from '../../src/gamification/quests.js';
import { advance, counterOf, emptyProgress, levelOf, parseRule, pointsForLevel, standing, subjectOf, type Progress, type Rule } from '../../src/gamification/rules.js';

const T0 = Date.parse('2026-11-02T10:00:00Z');
const tip = (from: string, to: string, amount: number, at: number, currency = 'EUR'): VezaEvent =>
  createEvent('tip.sent', { tenantId: 'default', actor: from, at: new Date(at), payload: { roomId: 'r1', fromUserId: from, toUserId: to, amount, currency } });
const play = (user: string, at: number): VezaEvent => createEvent('track.played', { tenantId: 'default', actor: user, at: new Date(at), payload: { trackId: 't1' } });

function run(rule: Rule, events: VezaEvent[]): Progress {
  let progress = emptyProgress(rule.criteria);
  for (const e of events) if (subjectOf(rule, e)) progress = advance(rule.criteria, progress, e, Date.parse(e.at));
  return progress;
}

describe('achievement rules as data', () => {
  const base = { title: 'Patron', category: 'supporter', event: 'tip.sent', points: 50 } as const;

  it('refuses bad rules with the reason, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ ...base, criteria: { kind: 'sum', field: 'currency', atLeast: 10 } }, /currency is not a number field of tip.sent \(its number fields: amount\)/],
      [{ ...base, where: { colour: 'red' }, criteria: { kind: 'count', atLeast: 1 } }, /where.colour: tip.sent has no field colour/],
      [{ ...base, subject: 'amount', criteria: { kind: 'count', atLeast: 1 } }, /subject: amount is not a user field/],
      [{ ...base, criteria: { kind: 'count', atLeast: 0 } }, /criteria.atLeast/],
      [{ ...base, criteria: { kind: 'count', atLeast: 20_000, withinSeconds: 60 } }, /at most 10000 events/],
      [{ ...base, criteria: { kind: 'streak', days: 1 } }, /criteria.days/],
      [{ ...base, event: 'track.exploded', criteria: { kind: 'count', atLeast: 1 } }, /event/],
      [{ ...base, category: 'wizard', criteria: { kind: 'count', atLeast: 1 } }, /category/],
      [{ ...base, criteria: { kind: 'count', atLeast: 1 }, surprise: true }, /Unrecognized key/],
      [{ ...base, criteria: { kind: 'median', atLeast: 1 } }, /criteria/],
    ];
    for (const [input, message] of bad) expect(() => parseRule(input), JSON.stringify(input)).toThrow(message);
  });

  it('counts, sums, thresholds and streaks, with a where filter and a subject field', () => {
    const big = parseRule({ ...base, where: { currency: 'EUR' }, criteria: { kind: 'sum', field: 'amount', atLeast: 1000 } });
    const events = [tip('ann', 'cy', 400, T0), tip('ann', 'cy', 500, T0 + 1000, 'USD'), tip('ann', 'cy', 599, T0 + 2000)];
    expect(standing(big.criteria, run(big, events))).toEqual({ current: 999, goal: 1000, met: false });
    expect(standing(big.criteria, run(big, [...events, tip('ann', 'cy', 1, T0 + 3000)])).met).toBe(true);

    // Credit to the recipient: three tips received.
    const loved = parseRule({ ...base, category: 'creator', subject: 'toUserId', criteria: { kind: 'count', atLeast: 3 } });
    expect(subjectOf(loved, tip('ann', 'cy', 1, T0))).toBe('cy');
    expect(subjectOf(loved, play('ann', T0))).toBeNull();

    const whale = parseRule({ ...base, criteria: { kind: 'threshold', field: 'amount', atLeast: 5000 } });
    expect(standing(whale.criteria, run(whale, [tip('a', 'b', 4999, T0)])).met).toBe(false);
    expect(standing(whale.criteria, run(whale, [tip('a', 'b', 4999, T0), tip('a', 'b', 5000, T0 + 1)])).met).toBe(true);
  });

  it('slides a window: 3 plays within an hour', () => {
    const binge = parseRule({ title: 'Binge', category: 'listener', event: 'track.played', criteria: { kind: 'count', atLeast: 3, withinSeconds: 3600 }, points: 5 });
    const spread = [0, 40, 80, 120].map((m) => play('u', T0 + m * 60_000)); // every 40 minutes: never 3 within an hour
    expect(standing(binge.criteria, run(binge, spread))).toMatchObject({ current: 2, met: false });
    const burst = [...spread, play('u', T0 + 130 * 60_000)]; // 80, 120, 130
    expect(standing(binge.criteria, run(binge, burst))).toMatchObject({ current: 3, met: true });
  });

  it('counts a streak of UTC days; a gap starts it again and a repeat day changes nothing', () => {
    const daily = parseRule({ title: 'Daily', category: 'listener', event: 'track.played', criteria: { kind: 'streak', days: 3 }, points: 5 });
    const day = (d: number, h = 12) => play('u', Date.parse('2026-11-01T00:00:00Z') + d * 86_400_000 + h * 3_600_000);
    expect(standing(daily.criteria, run(daily, [day(0), day(0, 23), day(1), day(3), day(4)]))).toMatchObject({ current: 2, met: false });
    expect(standing(daily.criteria, run(daily, [day(0), day(1, 0), day(2, 23)]))).toMatchObject({ current: 3, met: true });
  });

  it('keeps progress across versions that count the same thing, and restarts it when what is counted changes', () => {
    const v1 = parseRule({ ...base, criteria: { kind: 'count', atLeast: 10 } });
    const v2 = parseRule({ ...base, title: 'Big patron', points: 80, criteria: { kind: 'count', atLeast: 20 } });
    const v3 = parseRule({ ...base, where: { currency: 'EUR' }, criteria: { kind: 'count', atLeast: 20 } });
    expect(counterOf(v2)).toBe(counterOf(v1));
    expect(counterOf(v3)).not.toBe(counterOf(v1));
  });

  it('levels: 0, 100, 300, 600, 1000 points, exactly at the thresholds', () => {
    expect([1, 2, 3, 4, 5].map(pointsForLevel)).toEqual([0, 100, 300, 600, 1000]);
    expect([0, 99, 100, 299, 300, 599, 600, 999, 1000, 4499, 4500].map(levelOf)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 9, 10]);
  });

  it('quests count events in their time range, per contributor', () => {
    const quest = parseQuest({
      title: 'Tip jar',
      event: 'tip.sent',
      measure: { kind: 'sum', field: 'amount' },
      goal: 10_000,
      startsAt: '2026-11-02T00:00:00Z',
      endsAt: '2026-11-03T00:00:00Z',
      reward: { points: 20 },
    });
    expect(contributionOf(quest, tip('ann', 'cy', 250, T0))).toEqual({ userId: 'ann', amount: 250 });
    expect(contributionOf(quest, tip('ann', 'cy', 250, Date.parse('2026-11-03T00:00:00Z')))).toBeNull();
    expect(() => parseQuest({ ...quest, endsAt: quest.startsAt })).toThrow(/endsAt must be after startsAt/);
    expect(() => parseQuest({ ...quest, measure: { kind: 'sum', field: 'roomId' } })).toThrow(/roomId is not a number field/);
  });
});
