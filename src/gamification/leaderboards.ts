// Live leaderboards: the store for this process, Redis when configured, memory otherwise. What both
// stores share (the board types, the order, period keys, validation) is in `leaderboard-core.ts`;
// it is re-exported here, where the rest of the server and the tests import the leaderboards from.
import type { LeaderboardStore } from './leaderboard-core.js';

export * from './leaderboard-core.js';

/** Redis when a URL is given, memory otherwise. */
export async function createLeaderboards(options: { redisUrl?: string | null; keyPrefix?: string }): Promise<LeaderboardStore> {
  if (options.redisUrl) {
    const { RedisLeaderboards } = await import('./leaderboards-redis.js');
    return RedisLeaderboards.connect(options.redisUrl, options.keyPrefix ?? 'veza:lb:');
  }
  const { MemoryLeaderboards } = await import('./leaderboards-memory.js');
  return new MemoryLeaderboards();
}
