import { describe, expect, it } from 'vitest';
import { alsRecommender } from '../../src/recommendations/replay-model.js';
import { popularityRecommender, replay, type ReplayEvent, type ReplayHistory, type ReplayRecommender } from '../../src/recommendations/replay.js';

const kinds = new Map([
  ['s1', 'sample'],
  ['s2', 'sample'],
  ['s3', 'sample'],
  ['t1', 'track'],
] as const);

const play = (at: number, userId: string, itemId: string): ReplayEvent => ({ at, type: 'interaction', userId, itemId, weight: 1 });
const edit = (at: number, userId: string, sessionId: string): ReplayEvent => ({ at, type: 'coedit', userId, sessionId });

/**
 * Worked by hand:
 * - t=1: u1 takes up s1, u2 takes up s1 and s2 (two trials); nothing came before, so both miss.
 * - t=2: u3 takes up s2 and s3 (one trial, actual [s2, s3]). Before it, s1 has 2 users and s2 has 1,
 *   so popularity suggests s1 then s2: a miss at k = 1, a hit at k = 2.
 * - t=3: u1 plays s1 again (had it) and a track: no trial.
 * - t=5: b joins X after a: trial [a]; a has the most sessions (1): hit. a's second edit: no trial.
 * - t=7: a joins Y after c: trial [c] (b, a's co-editor, is left out): hit.
 * - t=8: b joins Y: its earlier authors are c and a, a already b's co-editor: trial [c]. Sessions so
 *   far: a 2, b 1, c 1; a and b left out, so popularity answers c: hit.
 */
const EVENTS: ReplayEvent[] = [
  edit(8, 'b', 'Y'),
  play(1, 'u1', 's1'),
  play(1, 'u2', 's1'),
  play(1, 'u2', 's2'),
  play(2, 'u3', 's2'),
  play(2, 'u3', 's3'),
  play(3, 'u1', 's1'),
  play(3, 'u1', 't1'),
  edit(4, 'a', 'X'),
  edit(5, 'b', 'X'),
  edit(5, 'a', 'X'),
  edit(6, 'c', 'Y'),
  edit(7, 'a', 'Y'),
];

describe('offline replay', () => {
  it('asks the questions the events raise, in time order, and scores popularity as worked by hand', () => {
    const atOne = replay(EVENTS, kinds, [popularityRecommender], 1);
    expect(atOne.trials.map((t) => [t.question, t.at, t.userId, t.actual, t.hit['popularity']])).toEqual([
      ['samples', 1, 'u1', ['s1'], false],
      ['samples', 1, 'u2', ['s1', 's2'], false],
      ['samples', 2, 'u3', ['s2', 's3'], false],
      ['collaboration', 5, 'b', ['a'], true],
      ['collaboration', 7, 'a', ['c'], true],
      ['collaboration', 8, 'b', ['c'], true],
    ]);
    expect(atOne.summary).toEqual({ samples: { popularity: { hits: 0, trials: 3 } }, collaboration: { popularity: { hits: 3, trials: 3 } } });
    expect(replay(EVENTS, kinds, [popularityRecommender], 2).summary.samples.popularity).toEqual({ hits: 1, trials: 3 });
  });

  it('answers every question from strictly earlier events only', () => {
    const seen: { at: number; u3: number; authorsOfX: number }[] = [];
    const spy: ReplayRecommender = {
      name: 'spy',
      prepare: (past: ReplayHistory, at: number) => seen.push({ at, u3: past.items.get('u3')?.size ?? 0, authorsOfX: past.authors.get('X')?.size ?? 0 }),
      // Suggests exactly what the user is about to do, if it could see it; it cannot.
      samples: (past, userId) => [...(past.items.get(userId)?.keys() ?? [])],
      collaborators: () => [],
    };
    const result = replay(EVENTS, kinds, [spy], 10);
    expect(seen).toEqual([
      { at: 1, u3: 0, authorsOfX: 0 },
      { at: 2, u3: 0, authorsOfX: 0 },
      { at: 5, u3: 2, authorsOfX: 1 },
      { at: 7, u3: 2, authorsOfX: 2 },
      { at: 8, u3: 2, authorsOfX: 2 },
    ]);
    expect(result.summary.samples.spy).toEqual({ hits: 0, trials: 3 });
  });

  it('the model suggests the sample of a folded-in user’s own scene before a more popular one', () => {
    const events: ReplayEvent[] = [];
    for (let u = 0; u < 6; u++) for (const item of ['a1', 'a2', 'a3', 'as']) events.push(play(1, `a${u}`, item));
    for (let u = 0; u < 9; u++) for (const item of ['b1', 'b2', 'b3', 'bs']) events.push(play(1, `b${u}`, item));
    // x's question at t=2 trains the model; 'new' arrives after it, so is folded in at t=4.
    events.push(play(2, 'x', 'bs'), play(3, 'new', 'a1'), play(3, 'new', 'a2'), play(4, 'new', 'as'));
    const sampleKinds = new Map([
      ['as', 'sample'],
      ['bs', 'sample'],
    ] as const);
    const model = alsRecommender({ als: { factors: 4, regularization: 0.1 } });
    const result = replay(events, sampleKinds, [model, popularityRecommender], 1);
    expect(result.trials.filter((t) => t.userId === 'new').map((t) => [t.actual, t.hit])).toEqual([[['as'], { model: true, popularity: false }]]);
    expect(model.trainings).toBe(1);
  });
});
