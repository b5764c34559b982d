// When a model version starts serving, its users are made ready before they ask: their histories are
// read in bulk (a thousand users a statement instead of one read per request) into the history cache,
// and each one's state and scored candidates are computed, sixteen users a turn so that their rows
// share scoring calls, as concurrent requests would; then each one's answers at the default limit in
// every context are written and kept encoded (kept-answers.ts), one user at a time. Requests go
// first: the work yields to the event loop after every turn and every user's answers. It stops when
// the version stops serving or the service closes. A user whose signals are stored later is dropped
// from the cache as usual, and their next answer is a cold one.
import type { Logger } from '../log.js';
import type { HistoryCache } from './history-cache.js';
import { keepDefaultAnswers, type KeepBody } from './kept-answers.js';
import { prepareUser } from './recommend.js';
import type { ServingModel } from './serving.js';
import type { RecommendationStore } from './store.js';

/** Users whose histories are read in one go. */
const READ_CHUNK = 1000;
/** Users prepared in one turn: 3 rows each, so 48 rows in one scoring call. */
const USERS_PER_TURN = 16;

export interface PrewarmDeps {
  store: RecommendationStore;
  histories: HistoryCache;
  logger: Logger;
  keep: KeepBody;
}

export interface PrewarmReport {
  users: number;
  ms: number;
}

function yieldToRequests(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Prepares the first `count` users of the version; `serving()` says whether to go on. */
export async function prewarm(model: ServingModel, tenantId: string, deps: PrewarmDeps, count: number, serving: () => boolean): Promise<PrewarmReport> {
  const started = performance.now();
  const users = model.meta.users.slice(0, count);
  model.scoredUsersKept = Math.max(model.scoredUsersKept, users.length);
  let prepared = 0;
  for (let at = 0; at < users.length && serving(); at += READ_CHUNK) {
    const chunk = users.slice(at, at + READ_CHUNK);
    await deps.histories.prime(tenantId, chunk, async () => {
      const read = await deps.store.histories(tenantId, chunk);
      return chunk.map((userId) => read.get(userId)!);
    });
    for (let turn = 0; turn < chunk.length && serving(); turn += USERS_PER_TURN) {
      const turnUsers = chunk.slice(turn, turn + USERS_PER_TURN);
      await Promise.all(
        turnUsers.map(async (userId) => {
          const history = deps.histories.peek(tenantId, userId);
          if (!history) return;
          await prepareUser(model, history, userId);
          prepared++;
        }),
      );
      await yieldToRequests();
      for (const userId of turnUsers) {
        const history = deps.histories.peek(tenantId, userId);
        if (!history || !serving()) continue;
        await keepDefaultAnswers(model, history, userId, deps.keep);
        await yieldToRequests();
      }
    }
  }
  return { users: prepared, ms: performance.now() - started };
}
