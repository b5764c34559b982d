// The replay viewer's Changes panel: what changed from a marked moment (the scrubber's position when
// "Compare from here" was pressed, or a version) to the replay's current moment (or to another
// version, which the replay then shows). The changes of the shown clip are drawn on its piano roll
// (added notes outlined, removed ones as ghosts, a moved note as its ghost before and its outline
// after, resized and re-velocitied ones marked), with a legend; a list says them per author
// ("ben: 3 notes added, 1 moved on Bass"), with tempo, time signatures, tracks and clips.
import { h } from './api.js';
import type { HistoryApi, Moment, NoteChange, NoteDiff, SessionDiff, Version } from './history-api.js';
import { pitchName, type PianoRoll, type RollMark } from './piano-roll.js';

export interface ChangesOptions {
  history: HistoryApi;
  /** The replay's moment now (Unix ms), and whether it is playing. */
  position(): number;
  playing(): boolean;
  /** Moves the replay to a moment. */
  seek(at: number): void;
  /** The roll on screen and the clip it shows. */
  roll(): PianoRoll;
  showing(): { trackId: string; clipId: string } | null;
  /** Ticks per quarter note of the replayed session. */
  ppq(): number;
}

/** How each change is drawn: the mark's class and test id, and the legend's words. */
const LEGEND: [kind: string, words: string][] = [
  ['diff-added', 'added'],
  ['diff-removed', 'removed (ghost)'],
  ['diff-moved-from', 'moved: where it was'],
  ['diff-moved', 'moved: where it is'],
  ['diff-resized', 'resized'],
  ['diff-revelocitied', 'velocity changed'],
];

const NOTE_WORDS: Record<NoteChange, string> = { added: 'added', removed: 'removed', moved: 'moved', resized: 'resized', revelocitied: 'velocity changed' };
const NOTE_ORDER: NoteChange[] = ['added', 'removed', 'moved', 'resized', 'revelocitied'];
const time = (ms: number) => new Date(ms).toLocaleTimeString();
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** "3 notes added, 1 moved": the counts by kind of change, the first naming the notes. */
export function noteCounts(counts: Map<NoteChange, number>): string {
  const parts = NOTE_ORDER.filter((k) => counts.get(k)).map((k) => [counts.get(k)!, NOTE_WORDS[k]] as const);
  return parts.map(([n, words], i) => (i === 0 ? `${plural(n, 'note', 'notes')} ${words}` : `${n} ${words}`)).join(', ');
}

/** The diff in words, one line per author and subject, authors in the diff's order (most changes first). */
export function linesByAuthor(diff: SessionDiff, ppq: number): { author: string; text: string }[] {
  const lines = new Map<string, string[]>(diff.authors.map((a) => [a.userId, []]));
  const say = (by: string | null, text: string) => {
    const author = by ?? 'someone';
    if (!lines.has(author)) lines.set(author, []);
    lines.get(author)!.push(text);
  };
  const beat = (tick: number) => `beat ${Math.round((tick / ppq + 1) * 100) / 100}`;
  for (const track of diff.tracks) {
    if (track.change === 'added') say(track.by, `added track ${track.name}`);
    if (track.change === 'removed') say(track.by, `removed track ${track.name}`);
    if (track.change === 'renamed') say(track.by, `renamed a track to ${track.name}`);
    for (const clip of track.clips) say(clip.by, clip.change === 'renamed' ? `renamed a clip to ${clip.name} on ${track.name}` : `${clip.change} clip ${clip.name} on ${track.name}`);
    const byAuthor = new Map<string, Map<NoteChange, number>>();
    for (const note of track.notes) {
      const author = note.by ?? 'someone';
      const counts = byAuthor.get(author) ?? new Map<NoteChange, number>();
      counts.set(note.change, (counts.get(note.change) ?? 0) + 1);
      byAuthor.set(author, counts);
    }
    for (const [author, counts] of byAuthor) say(author === 'someone' ? null : author, `${noteCounts(counts)} on ${track.name}`);
  }
  for (const t of diff.tempo) {
    if (t.change === 'changed') say(t.by, `tempo ${t.before} → ${t.after} BPM at ${beat(t.tick)}`);
    else if (t.change === 'added') say(t.by, `tempo ${t.after} BPM from ${beat(t.tick)}`);
    else say(t.by, `removed the tempo change at ${beat(t.tick)}`);
  }
  const sig = (s: { numerator: number; denominator: number } | undefined) => (s ? `${s.numerator}/${s.denominator}` : '');
  for (const t of diff.timeSignatures) {
    if (t.change === 'changed') say(t.by, `time signature ${sig(t.before)} → ${sig(t.after)} at ${beat(t.tick)}`);
    else if (t.change === 'added') say(t.by, `time signature ${sig(t.after)} from ${beat(t.tick)}`);
    else say(t.by, `removed the time signature at ${beat(t.tick)}`);
  }
  return [...lines].flatMap(([author, texts]) => texts.map((text) => ({ author, text })));
}

/** The marks of one clip's note changes. */
export function marksOf(notes: NoteDiff[]): RollMark[] {
  const marks: RollMark[] = [];
  const said = (n: NoteDiff, note: { pitch: number }, what: string) => `${pitchName(note.pitch)} ${what}${n.by ? ` by ${n.by}` : ''}${n.at ? ` at ${time(n.at)}` : ''}`;
  for (const n of notes) {
    if (n.change === 'added' && n.after) marks.push({ kind: 'diff-added', ...n.after, label: said(n, n.after, 'added') });
    else if (n.change === 'removed' && n.before) marks.push({ kind: 'diff-removed', ...n.before, label: said(n, n.before, 'removed') });
    else if (n.change === 'moved' && n.before && n.after) {
      marks.push({ kind: 'diff-moved-from', ...n.before, label: said(n, n.before, 'was here before it moved') });
      marks.push({ kind: 'diff-moved', ...n.after, label: said(n, n.after, 'moved here') });
    } else if (n.after) marks.push({ kind: `diff-${n.change}`, ...n.after, label: said(n, n.after, n.change === 'resized' ? `resized (was ${n.before?.duration} ticks)` : `velocity changed (was ${n.before?.velocity})`) });
  }
  return marks;
}

export class ChangesPanel {
  readonly element: HTMLElement;
  private from: { moment: Moment; label: string } | null = null;
  /** The version compared to, or null for the replay's current moment. */
  private to: Version | null = null;
  private diff: SessionDiff | null = null;
  private versions: Version[] = [];
  private asked = 0;
  private drawn: { roll: PianoRoll | null; key: string } = { roll: null, key: '' };
  private timer = 0;
  private readonly fromVersion: HTMLSelectElement;
  private readonly toVersion: HTMLSelectElement;
  private readonly range: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly byAuthor: HTMLElement;
  private readonly error: HTMLElement;
  private readonly legend: HTMLElement;

  constructor(private readonly options: ChangesOptions) {
    const here = h('button', { 'data-testid': 'compare-from-here', title: 'Compare what changes from this moment on' }, 'Compare from here');
    here.addEventListener('click', () => this.compareFrom({ at: options.position() }, `this moment (${time(options.position())})`));
    this.fromVersion = h('select', { 'aria-label': 'compare from a version', 'data-testid': 'compare-from-version' });
    this.fromVersion.addEventListener('change', () => {
      const version = this.versions.find((v) => v.id === this.fromVersion.value);
      if (version) this.compareFrom({ version: version.id }, `“${version.label}”`);
    });
    this.toVersion = h('select', { 'aria-label': 'compare to', 'data-testid': 'compare-to' });
    this.toVersion.addEventListener('change', () => {
      this.to = this.versions.find((v) => v.id === this.toVersion.value) ?? null;
      if (this.to?.at != null) options.seek(this.to.at);
      this.load();
    });
    const clear = h('button', { 'data-testid': 'compare-clear' }, 'Clear');
    clear.addEventListener('click', () => this.clear());
    this.range = h('p', { class: 'muted', 'data-testid': 'changes-range' }, 'Mark a moment with “Compare from here” (or pick a version) to see what changed since.');
    this.summary = h('p', { 'data-testid': 'changes-summary', role: 'status' });
    this.byAuthor = h('ul', { class: 'changes-list', 'data-testid': 'changes-by-author' });
    this.error = h('p', { class: 'error', role: 'alert', 'data-testid': 'changes-error' });
    this.legend = h('ul', { class: 'legend', 'data-testid': 'changes-legend', 'aria-label': 'what the marks on the piano roll mean', hidden: true }, ...LEGEND.map(([kind, words]) => h('li', {}, h('span', { class: `swatch-mark roll-mark ${kind}`, 'aria-hidden': 'true' }), ` ${words}`)));
    this.element = h(
      'section',
      { class: 'changes', 'data-testid': 'changes', 'aria-label': 'Changes' },
      h('h3', {}, 'Changes'),
      h('div', { class: 'compare' }, here, this.fromVersion, h('span', { class: 'muted' }, 'to'), this.toVersion, clear),
      this.range,
      this.error,
      this.summary,
      this.legend,
      this.byAuthor,
    );
    this.setVersions([]);
  }

  /** The session's versions, for the pickers. */
  setVersions(versions: Version[]): void {
    this.versions = versions.filter((v) => v.at !== null);
    const options = (selected: string, first: string) => [h('option', { value: '' }, first), ...this.versions.map((v) => h('option', { value: v.id, selected: v.id === selected }, `${v.label} (${time(v.at!)})`))];
    this.fromVersion.replaceChildren(...options(this.from && 'version' in this.from.moment ? this.from.moment.version : '', 'or from a version…'));
    this.toVersion.replaceChildren(...options(this.to?.id ?? '', 'this moment'));
  }

  /** Compares from `moment` on. */
  compareFrom(moment: Moment, label: string): void {
    this.from = { moment, label };
    if ('at' in moment) this.fromVersion.value = '';
    this.load();
  }

  clear(): void {
    this.from = null;
    this.to = null;
    this.diff = null;
    this.asked++;
    this.fromVersion.value = '';
    this.toVersion.value = '';
    this.range.textContent = 'Mark a moment with “Compare from here” (or pick a version) to see what changed since.';
    this.summary.textContent = '';
    this.error.textContent = '';
    this.byAuthor.replaceChildren();
    this.legend.hidden = true;
    this.draw(true);
  }

  /** The replay moved: compare again once it rests (not on every report while it plays). */
  moved(): void {
    if (!this.from || this.to || this.options.playing()) return;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.load(), 150);
  }

  destroy(): void {
    window.clearTimeout(this.timer);
    this.asked++;
  }

  private load(): void {
    if (!this.from) return;
    const from = this.from;
    const toMoment: Moment = this.to ? { version: this.to.id } : { at: this.options.position() };
    const fromAt = 'at' in from.moment ? from.moment.at : this.versions.find((v) => 'version' in from.moment && v.id === from.moment.version)?.at;
    const toAt = this.to ? this.to.at! : this.options.position();
    const toLabel = this.to ? `“${this.to.label}”` : `this moment (${time(toAt)})`;
    this.range.textContent = `From ${from.label} to ${toLabel}`;
    this.error.textContent = '';
    const turn = ++this.asked;
    if (fromAt !== undefined && fromAt !== null && fromAt > toAt) {
      this.diff = null;
      this.show();
      this.error.textContent = 'The replay is before the moment compared from: move it later to see what changed.';
      return;
    }
    this.options.history.diff(from.moment, toMoment).then(
      (diff) => {
        if (turn !== this.asked) return;
        this.diff = diff;
        this.show();
      },
      (e: Error) => {
        if (turn !== this.asked) return;
        this.diff = null;
        this.show();
        this.error.textContent = e.message;
      },
    );
  }

  private show(): void {
    const diff = this.diff;
    this.legend.hidden = diff === null;
    if (!diff) {
      this.summary.textContent = '';
      this.byAuthor.replaceChildren();
      return this.draw(true);
    }
    const s = diff.summary;
    const notes = new Map<NoteChange, number>([
      ['added', s.notesAdded ?? 0],
      ['removed', s.notesRemoved ?? 0],
      ['moved', s.notesMoved ?? 0],
      ['resized', s.notesResized ?? 0],
      ['revelocitied', s.notesRevelocitied ?? 0],
    ]);
    const parts = [noteCounts(notes)];
    if (s.tracksAdded) parts.push(`${plural(s.tracksAdded!, 'track', 'tracks')} added`);
    if (s.tracksRemoved) parts.push(`${plural(s.tracksRemoved!, 'track', 'tracks')} removed`);
    if (s.clipsAdded) parts.push(`${plural(s.clipsAdded!, 'clip', 'clips')} added`);
    if (s.clipsRemoved) parts.push(`${plural(s.clipsRemoved!, 'clip', 'clips')} removed`);
    if (s.tempoChanges) parts.push(`${plural(s.tempoChanges!, 'tempo change', 'tempo changes')}`);
    if (s.timeSignatureChanges) parts.push(`${plural(s.timeSignatureChanges!, 'time signature change', 'time signature changes')}`);
    const said = parts.filter(Boolean);
    this.summary.textContent = said.length ? `${said.join('; ')}.` : 'Nothing changed.';
    this.byAuthor.replaceChildren(...linesByAuthor(diff, this.options.ppq()).map(({ author, text }) => h('li', { 'data-author': author }, h('b', {}, author), `: ${text}`)));
    this.draw(true);
  }

  /** Draws the shown clip's changes on the roll (again when the roll or its clip changed, or `force`). */
  draw(force = false): void {
    const roll = this.options.roll();
    const showing = this.options.showing();
    const key = showing ? `${showing.trackId}/${showing.clipId}` : '';
    if (!force && this.drawn.roll === roll && this.drawn.key === key) return;
    this.drawn = { roll, key };
    const track = showing && this.diff?.tracks.find((t) => t.trackId === showing.trackId);
    roll.mark(track ? marksOf(track.notes.filter((n) => n.clipId === showing!.clipId)) : []);
  }
}
