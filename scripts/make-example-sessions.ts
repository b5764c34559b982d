// Writes the example sessions of sessions/: three collaborators arranging the opening bars of a real
// song (MIDI files from Debian's openttd-openmsx package) over several minutes, each on their own
// replica of the session, every change passed to the others as it would be through the server. The
// bundles hold each change with its author and time, so replay, history and authorship show real work.
//   node --import tsx scripts/make-example-sessions.ts [--out sessions] [--midi-dir DIR]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ToneMidi from '@tonejs/midi';
import * as Y from 'yjs';
import { seededRandom } from '../src/shared/random.js';
import { decodeBundle, encodeBundle, type BundleUpdate } from '../src/sessions/bundle.js';
import { exportMidi } from '../src/studio/midi-export.js';
import { DEFAULT_PPQ, StudioDoc } from '../src/studio/model.js';

const { Midi } = ToneMidi;

interface Part {
  /** Index of the MIDI file's track. */
  track: number;
  name: string;
  color: string;
  player: string;
}

interface Plan {
  id: string;
  title: string;
  key: string;
  file: string;
  bars: number;
  /** When the session began (the bundles are reproducible: nothing depends on today's date). */
  start: string;
  owner: string;
  parts: Part[];
  seed: number;
}

const PLANS: Plan[] = [
  {
    id: 'example-city-blues',
    title: 'City Blues (example)',
    key: 'C major',
    file: 'city_blues_redfarn.mid',
    bars: 12,
    start: '2026-11-20T19:02:00Z',
    owner: 'ann',
    parts: [
      { track: 8, name: 'Drums', color: '#e5484d', player: 'ben' },
      { track: 3, name: 'Bass', color: '#4f7cff', player: 'cleo' },
      { track: 1, name: 'Honky-tonk piano', color: '#30a46c', player: 'ann' },
      { track: 5, name: 'Guitar', color: '#f5a524', player: 'ben' },
    ],
    seed: 7,
  },
  {
    id: 'example-chemistry-lab',
    title: 'Chemistry Lab (example)',
    key: 'A minor',
    file: 'chemistry_lab.mid',
    bars: 16,
    start: '2026-11-22T15:30:00Z',
    owner: 'cleo',
    parts: [
      { track: 5, name: 'Organ', color: '#4f7cff', player: 'cleo' },
      { track: 9, name: 'Vibraphone', color: '#8e4ec6', player: 'dev' },
      { track: 21, name: 'Nylon guitar', color: '#30a46c', player: 'ann' },
      { track: 17, name: 'Pad', color: '#f5a524', player: 'dev' },
    ],
    seed: 11,
  },
];

/** Every collaborator's replica; an edit on one reaches the others at once, as through the server. */
class Room {
  private readonly replicas = new Map<string, StudioDoc>();
  readonly log: BundleUpdate[] = [];
  now: number;

  constructor(users: string[], start: number) {
    this.now = start;
    users.forEach((user, i) => {
      const doc = new Y.Doc();
      // Fixed client ids: the same plan gives the same document.
      doc.clientID = 1000 + i;
      this.replicas.set(user, new StudioDoc(doc));
    });
  }

  edit(user: string, after: number, fn: (studio: StudioDoc) => void): void {
    this.now += Math.round(after);
    const studio = this.replicas.get(user)!;
    const updates: Uint8Array[] = [];
    const take = (update: Uint8Array, origin: unknown) => {
      if (origin !== 'remote') updates.push(update);
    };
    studio.doc.on('update', take);
    try {
      fn(studio);
    } finally {
      studio.doc.off('update', take);
    }
    for (const update of updates) {
      this.log.push({ at: this.now, author: user, update });
      for (const [other, replica] of this.replicas) if (other !== user) Y.applyUpdate(replica.doc, update, 'remote');
    }
  }

  studio(user: string): StudioDoc {
    return this.replicas.get(user)!;
  }
}

function build(plan: Plan, midiDir: string): { text: string; updates: number; notes: number; minutes: number } {
  const midi = new Midi(readFileSync(path.join(midiDir, plan.file)));
  const scale = DEFAULT_PPQ / midi.header.ppq;
  const [num, den] = midi.header.timeSignatures[0]?.timeSignature ?? [4, 4];
  const barTicks = (DEFAULT_PPQ * 4 * num!) / den!;
  const bpm = Math.round(midi.header.tempos[0]?.bpm ?? 120);
  const users = [...new Set([plan.owner, ...plan.parts.map((p) => p.player)])];
  const start = Date.parse(plan.start);
  const room = new Room(users, start);
  const rand = seededRandom(plan.seed);
  // The model names new tracks, notes, markers and chat messages with random UUIDs; seeded here, so
  // running the script again writes the same bundles.
  const ids = seededRandom(plan.seed * 7919);
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(ids() * 16).toString(16)).join('');
  Object.defineProperty(globalThis.crypto, 'randomUUID', { configurable: true, value: () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}` });
  const pause = (min: number, max: number) => (min + rand() * (max - min)) * 1000;
  const owner = plan.owner;

  room.edit(owner, 0, (s) => s.updateSettings({ title: plan.title, key: plan.key }));
  room.edit(owner, pause(3, 6), (s) => s.setTempo([{ tick: 0, bpm }]));
  room.edit(owner, pause(2, 4), (s) => s.setTimeSignatures([{ tick: 0, numerator: num!, denominator: den! }]));
  room.edit(owner, pause(4, 8), (s) => s.postChat(owner, `${plan.bars} bars to start; take a part each`, room.now));
  room.edit(owner, pause(2, 5), (s) => s.addMarker({ tick: 0, name: 'Intro' }));

  // Each part: a track and one clip over the bars, then its notes entered bar by bar.
  const parts = plan.parts.map((part) => {
    const source = midi.tracks[part.track];
    if (!source || source.notes.length === 0) throw new Error(`${plan.file}: track ${part.track} has no notes`);
    const notes = source.notes
      .map((n) => ({ pitch: n.midi, start: Math.round(n.ticks * scale), duration: Math.max(1, Math.round(n.durationTicks * scale)), velocity: Math.max(1, Math.min(127, Math.round(n.velocity * 127))) }))
      .filter((n) => n.start < plan.bars * barTicks);
    return { ...part, program: source.instrument.number, channel: source.channel, notes, trackId: '', clipId: '' };
  });
  for (const part of parts) {
    room.edit(part.player, pause(5, 15), (s) => {
      part.trackId = s.addTrack({ name: part.name, color: part.color, program: part.program });
      part.clipId = s.addClip(part.trackId, { name: `${part.name} ${plan.bars} bars`, start: 0, length: plan.bars * barTicks });
    });
  }
  let notes = 0;
  for (let bar = 0; bar < plan.bars; bar++) {
    if (bar === Math.floor(plan.bars / 2)) room.edit(owner, pause(3, 6), (s) => s.addMarker({ tick: bar * barTicks, name: 'Turnaround' }));
    for (const part of parts) {
      const inBar = part.notes.filter((n) => n.start >= bar * barTicks && n.start < (bar + 1) * barTicks);
      if (inBar.length === 0) continue;
      room.edit(part.player, pause(4, 14), (s) => s.addNotes(part.trackId, part.clipId, inBar.map((n) => ({ ...n, channel: part.channel }))));
      notes += inBar.length;
    }
  }

  // A listen-through: levels, a few corrections across parts, a tempo push and notes in the chat.
  const [first, second, third] = parts;
  room.edit(owner, pause(20, 40), (s) => s.postChat(owner, 'sounds good; bass a little up, drums down', room.now));
  room.edit(owner, pause(3, 8), (s) => {
    if (second) s.updateTrack(second.trackId, { volume: 1.2 });
    if (first) s.updateTrack(first.trackId, { volume: 0.8, pan: -0.1 });
  });
  if (third) {
    const fixer = first?.player ?? owner;
    const theirs = room.studio(fixer).notes(third.trackId, third.clipId);
    room.edit(fixer, pause(6, 12), (s) => {
      for (const note of theirs.slice(0, 6)) s.updateNote(third.trackId, third.clipId, note.id, { velocity: Math.max(1, note.velocity - 20) });
    });
    const last = theirs.at(-1);
    if (last) room.edit(third.player, pause(5, 10), (s) => s.updateNote(third.trackId, third.clipId, last.id, { duration: last.duration * 2 }));
    const stray = theirs[Math.floor(theirs.length / 2)];
    if (stray) room.edit(third.player, pause(4, 9), (s) => s.removeNote(third.trackId, third.clipId, stray.id));
  }
  room.edit(plan.parts[0]!.player, pause(5, 10), (s) => s.postChat(plan.parts[0]!.player, `try ${bpm + 4}?`, room.now));
  room.edit(owner, pause(3, 6), (s) => s.setTempo([{ tick: 0, bpm: bpm + 4 }]));
  room.edit(owner, pause(2, 5), (s) => s.addMarker({ tick: plan.bars * barTicks, name: 'End' }));

  const final = room.studio(owner);
  const text = encodeBundle({
    id: plan.id,
    tenantId: 'default',
    title: plan.title,
    createdAt: start,
    exportedAt: room.now,
    updates: room.log,
    midi: exportMidi(final.snapshot()),
  });
  decodeBundle(text); // what the server will check on import
  return { text, updates: room.log.length, notes, minutes: (room.now - start) / 60_000 };
}

const { values } = parseArgs({ options: { out: { type: 'string', default: 'sessions' }, 'midi-dir': { type: 'string', default: '/usr/share/games/openttd/baseset/openmsx' } } });
const out = path.resolve(values.out!);
mkdirSync(out, { recursive: true });
for (const plan of PLANS) {
  let result;
  try {
    result = build(plan, values['midi-dir']!);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`make-example-sessions: ${plan.file} not found in ${values['midi-dir']}; install Debian's openttd-openmsx package\n`);
      process.exit(1);
    }
    throw error;
  }
  const file = path.join(out, `${plan.id}.veza.json`);
  writeFileSync(file, result.text);
  process.stdout.write(`${path.relative(process.cwd(), file)}: ${result.updates} changes, ${result.notes} notes, ${result.minutes.toFixed(1)} minutes, ${(result.text.length / 1024).toFixed(0)} KiB\n`);
}
