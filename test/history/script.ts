// A scripted three-user session for the authorship and diff suites: users a, b and c edit a session
// through the server's own edit path, one logged update per step, a few milliseconds apart.
import type { CollabService } from '../../src/collab/service.js';
import { StudioDoc } from '../../src/studio/model.js';
import type { LoggedUpdateRow, ReplayStore } from '../../src/studio/replay-store.js';

export type Step = [user: 'a' | 'b' | 'c', edit: (studio: StudioDoc) => void];

const note = (id: string, pitch: number, start: number, duration: number, velocity: number) => ({ id, pitch, start, duration, velocity });

/** Steps 1–9 lead to the first moment (M1), 10–21 to the end. */
export const STEPS: Step[] = [
  ['a', (s) => s.addTrack({ id: 't1', name: 'Drums' })],
  ['a', (s) => s.addClip('t1', { id: 'c1', name: 'Beat' })],
  ['a', (s) => s.addNotes('t1', 'c1', [note('n1', 36, 0, 120, 100), note('n2', 38, 480, 120, 90)])],
  ['b', (s) => s.addTrack({ id: 't2', name: 'Bass' })],
  ['b', (s) => s.addClip('t2', { id: 'c2', name: 'Line' })],
  ['b', (s) => s.addNotes('t2', 'c2', [note('n3', 40, 0, 240, 80)])],
  ['c', (s) => s.updateNote('t1', 'c1', 'n1', { start: 240 })],
  ['c', (s) => s.addNotes('t1', 'c1', [note('n4', 42, 960, 60, 70)])],
  ['a', (s) => s.setTempo([{ tick: 0, bpm: 120 }, { tick: 1920, bpm: 140 }])],
  // M1
  ['a', (s) => s.updateNote('t1', 'c1', 'n1', { pitch: 37 })],
  ['b', (s) => s.updateNote('t1', 'c1', 'n1', { duration: 200 })],
  ['b', (s) => s.updateNote('t1', 'c1', 'n2', { duration: 240 })],
  ['c', (s) => s.updateNote('t1', 'c1', 'n2', { duration: 360, velocity: 60 })],
  ['a', (s) => s.updateNote('t2', 'c2', 'n3', { pitch: 41 })],
  ['c', (s) => s.updateTrack('t2', { name: 'Sub bass' })],
  ['b', (s) => s.removeNote('t1', 'c1', 'n4')],
  [
    'c',
    (s) =>
      s.transact(() => {
        s.addTrack({ id: 't3', name: 'Keys' });
        s.addClip('t3', { id: 'c3', name: 'Chords' });
        s.addNotes('t3', 'c3', [note('n5', 60, 0, 480, 100)]);
      }),
  ],
  ['a', (s) => s.setTempo([{ tick: 0, bpm: 120 }, { tick: 1920, bpm: 150 }])],
  ['b', (s) => s.setTimeSignatures([{ tick: 0, numerator: 4, denominator: 4 }, { tick: 3840, numerator: 3, denominator: 4 }])],
  ['b', (s) => s.addTrack({ id: 't4', name: 'Temp' })],
  ['a', (s) => s.removeTrack('t4')],
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Plays the steps into `docId`; resolves with the log's rows, one per step, in order. */
export async function playScript(collab: CollabService, replay: ReplayStore, docId: string, steps: readonly Step[] = STEPS): Promise<LoggedUpdateRow[]> {
  for (const [user, edit] of steps) {
    await collab.edit('default', docId, user, (doc) => edit(new StudioDoc(doc)));
    await collab.persisted('default', docId);
    await sleep(4);
  }
  const rows = await replay.updatesAfter('default', docId, null, 10_000);
  if (rows.length !== steps.length) throw new Error(`expected ${steps.length} logged updates, found ${rows.length}`);
  return rows;
}
