// Offline replay: recorded events in time order, and at each moment the question "what would the
// recommender have suggested, knowing only the past?", scored against what the user did next.
// Two questions are asked, the two the studio shows:
// - samples: when a user takes up a sample they have never had, were any of the samples they took
//   up at that moment among the k suggested?
// - collaboration: when a user first edits a session that others already edited, was any of those
//   others (not already a co-editor of theirs) among the k collaborators suggested?
// Events that share a timestamp form one moment: every question of a moment is asked before any of
// its events is applied, so no answer sees the event it is scored on (nor its siblings). Pure: the
// input is a list of events, the output counts of hits and trials per recommender and question.
import { RecommendationError, requireInteger } from './errors.js';

export type ReplayEvent =
  | { at: number; type: 'interaction'; userId: string; itemId: string; weight: number }
  | { at: number; type: 'coedit'; userId: string; sessionId: string };

export type ItemKind = 'track' | 'sample';

/** Everything that happened before the current moment. */
export class ReplayHistory {
  /** user → item → summed weight. */
  readonly items = new Map<string, Map<string, number>>();
  /** item → users who have it. */
  readonly listeners = new Map<string, Set<string>>();
  /** session → its authors. */
  readonly authors = new Map<string, Set<string>>();
  /** user → users they have edited a session with. */
  readonly coeditors = new Map<string, Set<string>>();

  constructor(readonly kinds: ReadonlyMap<string, ItemKind>) {}

  kindOf(itemId: string): ItemKind {
    return this.kinds.get(itemId) ?? 'track';
  }

  apply(event: ReplayEvent): void {
    if (event.type === 'interaction') {
      const mine = this.items.get(event.userId) ?? this.items.set(event.userId, new Map()).get(event.userId)!;
      mine.set(event.itemId, (mine.get(event.itemId) ?? 0) + event.weight);
      (this.listeners.get(event.itemId) ?? this.listeners.set(event.itemId, new Set()).get(event.itemId)!).add(event.userId);
      return;
    }
    const authors = this.authors.get(event.sessionId) ?? this.authors.set(event.sessionId, new Set()).get(event.sessionId)!;
    if (authors.has(event.userId)) return;
    for (const other of authors) {
      this.coeditorsOf(other).add(event.userId);
      this.coeditorsOf(event.userId).add(other);
    }
    authors.add(event.userId);
  }

  coeditorsOf(userId: string): Set<string> {
    return this.coeditors.get(userId) ?? this.coeditors.set(userId, new Set()).get(userId)!;
  }

  /** Users who have authored any session so far: the people collaborators are chosen from. */
  creators(): Set<string> {
    const out = new Set<string>();
    for (const authors of this.authors.values()) for (const a of authors) out.add(a);
    return out;
  }
}

/** A strategy under test: answers from the past only. */
export interface ReplayRecommender {
  readonly name: string;
  /** Called at the start of every moment that has a question, before the questions are asked. */
  prepare?(past: ReplayHistory, at: number): void;
  /** Up to k sample ids for the user, best first, none of which the user already has. */
  samples(past: ReplayHistory, userId: string, k: number): string[];
  /** Up to k user ids, best first, neither the user nor anyone they already co-edited with. */
  collaborators(past: ReplayHistory, userId: string, k: number): string[];
}

export type Question = 'samples' | 'collaboration';

export interface Trial {
  question: Question;
  at: number;
  userId: string;
  /** What the user did: the samples taken up, or the session's earlier authors. */
  actual: string[];
  /** Per recommender: whether any of `actual` was among its k suggestions. */
  hit: Record<string, boolean>;
}

export interface Tally {
  hits: number;
  trials: number;
}

export interface ReplayResult {
  trials: Trial[];
  /** question → recommender → hits / trials. */
  summary: Record<Question, Record<string, Tally>>;
}

/** Replays `events` (any order: they are sorted by time, stably) and asks every recommender every question. */
export function replay(events: readonly ReplayEvent[], kinds: ReadonlyMap<string, ItemKind>, recommenders: readonly ReplayRecommender[], k = 10): ReplayResult {
  requireInteger('k', k, 1);
  if (new Set(recommenders.map((r) => r.name)).size !== recommenders.length) throw new RecommendationError('recommender names must be distinct');
  const ordered = events.map((event, index) => ({ event, index })).sort((a, b) => a.event.at - b.event.at || a.index - b.index);
  const past = new ReplayHistory(kinds);
  const trials: Trial[] = [];
  for (let start = 0; start < ordered.length; ) {
    let end = start;
    while (end < ordered.length && ordered[end]!.event.at === ordered[start]!.event.at) end++;
    const moment = ordered.slice(start, end).map((o) => o.event);
    const questions = questionsOf(moment, past);
    if (questions.length > 0) for (const r of recommenders) r.prepare?.(past, moment[0]!.at);
    for (const q of questions) {
      const hit: Record<string, boolean> = {};
      for (const r of recommenders) {
        const suggested = q.question === 'samples' ? r.samples(past, q.userId, k) : r.collaborators(past, q.userId, k);
        hit[r.name] = suggested.slice(0, k).some((id) => q.actual.includes(id));
      }
      trials.push({ ...q, hit });
    }
    for (const event of moment) past.apply(event);
    start = end;
  }
  const summary: ReplayResult['summary'] = { samples: {}, collaboration: {} };
  for (const question of ['samples', 'collaboration'] as const) {
    for (const r of recommenders) {
      const mine = trials.filter((t) => t.question === question);
      summary[question][r.name] = { hits: mine.filter((t) => t.hit[r.name]).length, trials: mine.length };
    }
  }
  return { trials, summary };
}

/** The questions one moment's events raise, judged against the past (one per user and question). */
function questionsOf(moment: ReplayEvent[], past: ReplayHistory): Omit<Trial, 'hit'>[] {
  const newSamples = new Map<string, Set<string>>();
  const newPeople = new Map<string, Set<string>>();
  for (const event of moment) {
    if (event.type === 'interaction') {
      if (past.kindOf(event.itemId) !== 'sample' || past.items.get(event.userId)?.has(event.itemId)) continue;
      (newSamples.get(event.userId) ?? newSamples.set(event.userId, new Set()).get(event.userId)!).add(event.itemId);
    } else {
      const authors = past.authors.get(event.sessionId);
      if (!authors || authors.has(event.userId)) continue;
      const known = past.coeditors.get(event.userId) ?? new Set<string>();
      const fresh = [...authors].filter((a) => a !== event.userId && !known.has(a));
      if (fresh.length === 0) continue;
      const set = newPeople.get(event.userId) ?? newPeople.set(event.userId, new Set()).get(event.userId)!;
      for (const a of fresh) set.add(a);
    }
  }
  const at = moment[0]!.at;
  return [
    ...[...newSamples].map(([userId, actual]) => ({ question: 'samples' as const, at, userId, actual: [...actual].sort() })),
    ...[...newPeople].map(([userId, actual]) => ({ question: 'collaboration' as const, at, userId, actual: [...actual].sort() })),
  ];
}

/** The baseline: the samples with the most users so far, and the creators with the most sessions. */
export const popularityRecommender: ReplayRecommender = {
  name: 'popularity',
  samples(past, userId, k) {
    const mine = past.items.get(userId);
    return ranked(
      [...past.listeners].filter(([item]) => past.kindOf(item) === 'sample' && !mine?.has(item)).map(([item, users]) => [item, users.size]),
      k,
    );
  },
  collaborators(past, userId, k) {
    const sessions = new Map<string, number>();
    for (const authors of past.authors.values()) for (const a of authors) sessions.set(a, (sessions.get(a) ?? 0) + 1);
    const known = past.coeditors.get(userId);
    return ranked([...sessions].filter(([other]) => other !== userId && !known?.has(other)), k);
  },
};

/** The k ids with the highest scores; equal scores by id, so answers do not depend on map order. */
export function ranked(scored: Iterable<readonly [string, number]>, k: number): string[] {
  return [...scored]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, k)
    .map(([id]) => id);
}
