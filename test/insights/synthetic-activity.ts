// Fake listening activity for the churn tests and benchmarks: no real data leaves a tenant, so
// the model is checked on activity in which churn is predictable the way it is in real products.
import { sigmoid } from '../../src/insights/churn-model.js';
import type { DayCounts, UserActivity } from '../../src/insights/churn-features.js';
import { requireInteger } from '../../src/insights/errors.js';
import { seededRandom, type Random } from '../../src/shared/random.js';

export interface SyntheticActivityOptions {
  users: number;
  days: number;
  /** Day index of the first simulated day. */
  startDay: number;
  seed: number;
}

function gaussian(random: Random): number {
  const u = 1 - random(); // (0, 1], so the log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function poisson(lambda: number, random: Random): number {
  const limit = Math.exp(-Math.min(lambda, 50));
  let k = 0;
  for (let product = random(); product > limit; product *= random()) k++;
  return k;
}

function binomial(n: number, probability: number, random: Random): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (random() < probability) k++;
  return k;
}

/**
 * Deterministic fake activity (same options, same output) in which churn is predictable the way
 * it is in real products, for tests and benchmarks:
 * - half the users are there from the first day, the rest join on a uniformly random later day;
 * - each user has a latent engagement e that drifts day to day (mean-reverting noise around a
 *   personal level that itself trends up or down), and e sets how often they are active, how much
 *   they play, how often they skip (less when engaged), like, share and buy;
 * - every active-state day they quit with hazard sigmoid(-4.5 - 1.2·e) (~1%/day at e = 0, ~9% at
 *   e = -2), so falling engagement, visible as declining activity, precedes churn;
 * - 30% of quits are breaks of 7 + ~21 days (geometric) after which the user returns refreshed,
 *   so "no activity for a while" does not always mean gone.
 */
export function syntheticActivity(options: SyntheticActivityOptions): UserActivity[] {
  const { users, days, startDay, seed } = options;
  requireInteger('users', users, 0, 10_000_000);
  requireInteger('days', days, 1, 100_000);
  requireInteger('startDay', startDay, 0);
  requireInteger('seed', seed, 0, 0xffffffff);
  const random = seededRandom(seed);
  const out: UserActivity[] = [];
  for (let u = 0; u < users; u++) {
    const joinOffset = random() < 0.5 ? 0 : Math.floor(random() * days);
    const level = 0.8 * gaussian(random);
    const trend = 0.01 * gaussian(random); // per day
    let engagement = level + 0.3 * gaussian(random);
    let breakDaysLeft = 0;
    let gone = false;
    const activity = new Map<number, DayCounts>();
    for (let t = joinOffset; t < days && !gone; t++) {
      if (breakDaysLeft > 0) {
        breakDaysLeft--;
        if (breakDaysLeft === 0) engagement = level + trend * (t - joinOffset) + 0.3 * gaussian(random);
        continue;
      }
      const target = level + trend * (t - joinOffset);
      engagement += 0.05 * (target - engagement) + 0.15 * gaussian(random);
      if (t > joinOffset && random() < sigmoid(-4.5 - 1.2 * engagement)) {
        if (random() < 0.3) {
          breakDaysLeft = 7;
          while (random() > 1 / 21) breakDaysLeft++;
        } else {
          gone = true;
        }
        continue;
      }
      if (random() >= sigmoid(engagement + 0.5)) continue;
      const plays = 1 + poisson(Math.exp(1 + 0.7 * engagement), random);
      const skips = binomial(plays, sigmoid(-1.2 - 0.8 * engagement), random);
      let listenMs = 0;
      for (let i = 0; i < plays; i++) listenMs += Math.round(i < skips ? 20_000 * random() : 150_000 + 90_000 * random());
      activity.set(startDay + t, {
        plays,
        listenMs,
        likes: binomial(plays, 0.03 + 0.04 * sigmoid(engagement), random),
        shares: random() < 0.02 ? 1 : 0,
        purchases: random() < 0.004 * Math.exp(0.5 * engagement) ? 1 : 0,
        skips,
      });
    }
    out.push({ userId: `user-${u}`, days: activity });
  }
  return out;
}
