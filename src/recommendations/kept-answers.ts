// A user's whole answer without filters, kept encoded between their requests: the JSON the route
// writes, hashed and Brotli-compressed once as the server's live replies are (HttpRouter.keep), on
// the scored set it was described from. It goes when that set goes: when the user's signals change
// (the history cache drops their history, and their state with it), when a new model version
// serves, or when the model's bound on users keeping scored sets reaches them. Preparing a user
// (prewarm.ts) keeps their answers at the default limit in every context, so that a prepared user's
// requests are sent without describing, serialising, hashing or compressing anything.
import type { KeptBody } from '../server/compression.js';
import { CONTEXTS, DEFAULT_LIMIT, routeReply, type Context, type Filters } from './answer-types.js';
import { recommendWithModel } from './recommend.js';
import { filterKey, type ServingModel } from './serving.js';
import type { UserHistory } from './store.js';
import { userState } from './user-state.js';

/** Encodes a reply's text once to be sent as it is kept (the server's HttpRouter.keep). */
export type KeepBody = (text: string) => Promise<KeptBody>;

const UNFILTERED: Filters = { kinds: null, tags: null, artists: null };
const UNFILTERED_KEY = filterKey(UNFILTERED);

const answerKey = (context: Context, limit: number) => `${context}/${limit}`;
/** A scored set keeps the default limit's answers, and one answer at another limit (the latest). */
const DEFAULT_KEYS = new Set(CONTEXTS.map((context) => answerKey(context, DEFAULT_LIMIT)));

/**
 * The user's answer in `context` at `limit`, without filters or experiments, encoded: kept from an
 * earlier request or from preparation, or made, encoded and kept now. Null for a user the model has
 * no vector for (their answer is popular items, and no scored set holds it).
 */
export async function keptAnswer(model: ServingModel, history: UserHistory, userId: string, context: Context, limit: number, keep: KeepBody): Promise<KeptBody | null> {
  const state = userState(model, history, userId, 'model');
  if (!state.vector) return null;
  const key = answerKey(context, limit);
  const found = state.scored.get(UNFILTERED_KEY)?.answers?.get(key);
  if (found) return found;
  const answer = await recommendWithModel(model, history, { userId, context, limit, filters: UNFILTERED, strategy: 'model' });
  // The route's reply: the answer, and the experiments it took part in (none).
  const body = await keep(JSON.stringify(routeReply(answer, [])));
  // The set the answer was described from (the model may have dropped it meanwhile: then nothing is kept).
  const scored = state.scored.get(UNFILTERED_KEY);
  if (scored) {
    const answers = (scored.answers ??= new Map());
    if (!DEFAULT_KEYS.has(key)) for (const other of answers.keys()) if (!DEFAULT_KEYS.has(other)) answers.delete(other);
    answers.set(key, body);
  }
  return body;
}

/** Keeps the user's answers at the default limit in every context, as a version's preparation does (prewarm.ts). */
export async function keepDefaultAnswers(model: ServingModel, history: UserHistory, userId: string, keep: KeepBody): Promise<void> {
  for (const context of CONTEXTS) await keptAnswer(model, history, userId, context, DEFAULT_LIMIT, keep);
}
