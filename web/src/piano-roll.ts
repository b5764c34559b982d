// The piano roll of one clip: notes as elements on a grid (a beat per column, a pitch per row).
// Click the grid to add a note, drag a note to move it (every selected note moves with it), drag its
// right edge to resize it, double-click it (or select it and press Delete) to remove it. Shift-click
// adds a note to the selection, shift-drag on the grid selects the notes in a box; Ctrl+A, Ctrl+C
// and Ctrl+V select all, copy and paste (where the pointer last was); the arrow keys move the
// selection by a sixteenth or a semitone; Q quantises. Every change goes through the shared
// StudioDoc, so collaborators see it; what they point at and select is drawn from their awareness.
// A read-only roll (a viewer's, the replay's) changes nothing: a click or the left and right arrow
// keys pick a note to ask who made it. Marks (a diff's changes) can be drawn over the notes.
import type { Note, StudioDoc } from '../../src/studio/model.js';
import { h } from './api.js';

const BEAT_PX = 48;
const ROW_PX = 12;
const LOW = 24;
const HIGH = 107;
const NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];

export interface Peer {
  clientId: number;
  name: string;
  color: string;
  cursor?: { tick: number; pitch: number } | undefined;
  selection?: string[] | undefined;
}

export interface PianoRollHooks {
  /** Where this user points (ticks, pitch), for their awareness. */
  cursor(at: { tick: number; pitch: number } | null): void;
  selection(ids: string[]): void;
  error(message: string): void;
  /** The ruler was clicked at a beat (to a quarter beat): move the playhead there. */
  seek?(beat: number): void;
  /**
   * A note was pointed at or picked (null: none), to say who made it. On a read-only roll a click
   * picks a note and the left and right arrow keys step through the notes in time order.
   */
  inspect?(noteId: string | null): void;
}

/** A mark drawn over the grid (a diff's change, a note's former place): not a note, never edited. */
export interface RollMark {
  /** Classes of the mark (its look) and its test id. */
  kind: string;
  pitch: number;
  start: number;
  duration: number;
  /** What the mark says on hover and to assistive technology. */
  label: string;
}

/** What the ruler shows besides the bars: the loop's stretch, in beats. */
export interface RulerLoop {
  start: number;
  end: number;
  on: boolean;
}

export const pitchName = (pitch: number) => `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;

/** Notes copied in this page, with starts relative to the earliest (ticks). */
let clipboard: { pitch: number; start: number; duration: number; velocity: number }[] = [];

/** A beat (from 0) as bar.beat (from 1), the way the transport shows it. */
export const barBeat = (beat: number, beatsPerBar: number) => `${Math.floor(beat / beatsPerBar) + 1}.${(Math.floor(beat) % beatsPerBar) + 1}`;

export class PianoRoll {
  readonly element: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly peersLayer: HTMLElement;
  private readonly playhead: HTMLElement;
  private target: { trackId: string; clipId: string; color: string } | null = null;
  private selected = new Set<string>();
  private readonly noteElements = new Map<string, HTMLElement>();
  /** A viewer's roll: notes are shown, and nothing the pointer or keys do changes them. */
  readOnly = false;
  /** Bars and beats above the grid, scrolled with it; clicking it moves the playhead. */
  readonly ruler: HTMLElement;
  private readonly rulerTrack: HTMLElement;
  private readonly loopBand: HTMLElement;
  private rulerDrawn = '';
  private beatsPerBar = 4;
  /** The velocity lane under the grid: a bar per note, dragged up or down to set its velocity. */
  readonly lane: HTMLElement;
  private readonly laneTrack: HTMLElement;
  private readonly laneBars = new Map<string, HTMLElement>();
  /** Where the pointer last was over the grid: where Ctrl+V pastes. */
  private pointer: { tick: number; pitch: number } | null = null;
  /** Marks drawn over the notes (see `mark`). */
  private readonly marksLayer: HTMLElement;
  /** The note picked on a read-only roll (see `PianoRollHooks.inspect`). */
  private inspected: string | null = null;

  constructor(
    private readonly studio: StudioDoc,
    private readonly hooks: PianoRollHooks,
  ) {
    this.grid = h('div', { class: 'roll-grid', 'data-testid': 'piano-roll' });
    this.peersLayer = h('div', { class: 'roll-peers' });
    this.playhead = h('div', { class: 'roll-playhead' });
    const keys = h('div', { class: 'roll-keys' });
    for (let pitch = HIGH; pitch >= LOW; pitch--) keys.append(h('div', { class: `roll-key${NAMES[pitch % 12]!.includes('#') ? ' black' : ''}` }, pitch % 12 === 0 ? pitchName(pitch) : ''));
    this.marksLayer = h('div', { class: 'roll-marks', 'data-testid': 'roll-marks' });
    this.grid.append(this.marksLayer, this.peersLayer, this.playhead);
    this.element = h('div', { class: 'roll', tabindex: '0' }, keys, this.grid);
    this.loopBand = h('div', { class: 'ruler-loop', 'data-testid': 'ruler-loop' });
    this.rulerTrack = h('div', { class: 'ruler-track' }, this.loopBand);
    this.ruler = h('div', { class: 'ruler', 'data-testid': 'ruler', title: 'bars and beats: click to move the playhead' }, this.rulerTrack);
    this.laneTrack = h('div', { class: 'lane-track' });
    this.lane = h('div', { class: 'velocity-lane', 'data-testid': 'velocity-lane', title: 'velocity: drag a bar up or down (the selected notes move together)' }, this.laneTrack);
    this.lane.addEventListener('pointerdown', (event) => this.onLaneDown(event));
    this.element.addEventListener('scroll', () => this.alignRuler());
    this.ruler.addEventListener('pointerdown', (event) => {
      const beat = (event.clientX - this.rulerTrack.getBoundingClientRect().left) / BEAT_PX;
      this.hooks.seek?.(Math.max(0, Math.round(beat * 4) / 4));
    });
    this.grid.style.height = `${(HIGH - LOW + 1) * ROW_PX}px`;
    this.grid.addEventListener('pointerdown', (event) => this.onPointerDown(event));
    this.grid.addEventListener('pointermove', (event) => {
      this.pointer = this.at(event);
      this.hooks.cursor(this.pointer);
    });
    this.grid.addEventListener('pointerleave', () => this.hooks.cursor(null));
    this.grid.addEventListener('pointerover', (event) => {
      const id = (event.target as HTMLElement).closest<HTMLElement>('.note')?.dataset.id;
      if (id) this.hooks.inspect?.(id);
    });
    this.grid.addEventListener('pointerout', (event) => {
      if ((event.target as HTMLElement).closest('.note')) this.hooks.inspect?.(this.inspected);
    });
    this.grid.addEventListener('dblclick', (event) => {
      // The grid captures the pointer while a note is dragged, so the event's target is the grid:
      // find the note under the pointer instead.
      const under = document.elementFromPoint(event.clientX, event.clientY);
      const id = under?.closest<HTMLElement>('.note')?.dataset.id;
      if (id) this.remove([id]);
    });
    this.element.addEventListener('keydown', (event) => this.onKey(event));
  }

  private get ppq(): number {
    return this.studio.settings().ppq;
  }

  show(trackId: string, clipId: string, color: string): void {
    this.target = { trackId, clipId, color };
    this.selected.clear();
    for (const element of this.noteElements.values()) element.remove();
    this.noteElements.clear();
    for (const bar of this.laneBars.values()) bar.remove();
    this.laneBars.clear();
    this.render();
    // Scroll to where the notes are (middle C when empty).
    const notes = this.notes();
    const pitch = notes.length ? notes.reduce((sum, n) => sum + n.pitch, 0) / notes.length : 60;
    this.element.scrollTop = (HIGH - pitch) * ROW_PX - this.element.clientHeight / 2;
  }

  notes(): Note[] {
    if (!this.target) return [];
    try {
      return this.studio.notes(this.target.trackId, this.target.clipId);
    } catch {
      return []; // the clip was removed by someone else
    }
  }

  /** Draws the notes as the document has them now (called on every change). */
  render(): void {
    const notes = this.notes();
    const seen = new Set<string>();
    let end = 32 * this.ppq;
    for (const note of notes) {
      seen.add(note.id);
      end = Math.max(end, note.start + note.duration + 8 * this.ppq);
      let element = this.noteElements.get(note.id);
      if (!element) {
        element = h('div', { class: 'note', 'data-id': note.id }, h('div', { class: 'note-handle' }));
        element.style.background = this.target!.color;
        this.noteElements.set(note.id, element);
        this.grid.append(element);
      }
      this.place(element, note.start, note.pitch, note.duration);
      element.dataset.pitch = String(note.pitch);
      element.dataset.start = String(note.start);
      element.classList.toggle('inspected', note.id === this.inspected);
      element.title = `${pitchName(note.pitch)} at beat ${(note.start / this.ppq + 1).toFixed(2)}, ${(note.duration / this.ppq).toFixed(2)} beats, velocity ${note.velocity}`;
      element.style.opacity = String(0.35 + (0.6 * note.velocity) / 127);
      element.dataset.velocity = String(note.velocity);
      element.classList.toggle('selected', this.selected.has(note.id));
    }
    for (const [id, element] of this.noteElements) {
      if (seen.has(id)) continue;
      element.remove();
      this.noteElements.delete(id);
      this.selected.delete(id);
    }
    this.grid.style.width = `${Math.ceil(end / this.ppq) * BEAT_PX}px`;
    this.grid.dataset.notes = String(notes.length);
    this.drawRuler();
    this.drawLane(notes);
  }

  /** Bars of `beatsPerBar` beats (the session's time signature), and the loop's stretch. */
  rulerShows(beatsPerBar: number, loop: RulerLoop): void {
    this.beatsPerBar = Math.max(1, Math.round(beatsPerBar));
    this.loopBand.style.left = `${loop.start * BEAT_PX}px`;
    this.loopBand.style.width = `${Math.max(0, loop.end - loop.start) * BEAT_PX}px`;
    this.loopBand.classList.toggle('on', loop.on);
    this.loopBand.title = `loop ${loop.on ? 'on' : 'off'}: bars ${barBeat(loop.start, this.beatsPerBar)} to ${barBeat(loop.end, this.beatsPerBar)}`;
    this.drawRuler();
  }

  private drawRuler(): void {
    const beats = Math.ceil(this.grid.offsetWidth / BEAT_PX) || Math.ceil(parseFloat(this.grid.style.width) / BEAT_PX) || 32;
    const key = `${beats}/${this.beatsPerBar}`;
    if (key === this.rulerDrawn) return this.alignRuler();
    this.rulerDrawn = key;
    this.rulerTrack.style.width = `${beats * BEAT_PX}px`;
    for (const mark of this.rulerTrack.querySelectorAll('.ruler-bar')) mark.remove();
    for (let bar = 0; bar * this.beatsPerBar < beats; bar++) {
      const mark = h('div', { class: 'ruler-bar' }, String(bar + 1));
      mark.style.left = `${bar * this.beatsPerBar * BEAT_PX}px`;
      this.rulerTrack.append(mark);
    }
    this.alignRuler();
  }

  /** The ruler and the velocity lane start where the grid does and follow its horizontal scroll. */
  private alignRuler(): void {
    const shift = `translateX(${this.grid.offsetLeft - this.element.scrollLeft}px)`;
    this.rulerTrack.style.transform = shift;
    this.laneTrack.style.transform = shift;
  }

  /** One bar per note of the clip, as tall as its velocity (1–127). */
  private drawLane(notes: Note[]): void {
    this.laneTrack.style.width = this.grid.style.width;
    const seen = new Set<string>();
    for (const note of notes) {
      seen.add(note.id);
      let bar = this.laneBars.get(note.id);
      if (!bar) {
        bar = h('div', { class: 'lane-bar', 'data-id': note.id });
        this.laneBars.set(note.id, bar);
        this.laneTrack.append(bar);
      }
      bar.style.left = `${(note.start / this.ppq) * BEAT_PX}px`;
      bar.style.height = `${(note.velocity / 127) * 100}%`;
      bar.style.background = this.target?.color ?? '';
      bar.classList.toggle('selected', this.selected.has(note.id));
      bar.title = `${pitchName(note.pitch)}: velocity ${note.velocity}`;
    }
    for (const [id, bar] of this.laneBars) {
      if (seen.has(id)) continue;
      bar.remove();
      this.laneBars.delete(id);
    }
    this.alignRuler();
  }

  /** Dragging a bar sets its note's velocity, and the selection's with it when the note is selected. */
  private onLaneDown(event: PointerEvent): void {
    const id = (event.target as HTMLElement).closest<HTMLElement>('.lane-bar')?.dataset.id;
    if (this.readOnly || !this.target || !id || event.button !== 0) return;
    // The roll's keys (copy, paste, arrows) act on what the lane selected: the roll keeps the focus
    // (the lane itself is not focusable, so the press would otherwise move it to the page).
    event.preventDefault();
    this.element.focus({ preventScroll: true });
    if (!this.selected.has(id)) this.select([id]);
    const group = this.selectedNotes();
    const box = this.lane.getBoundingClientRect();
    const velocityAt = (e: PointerEvent) => Math.max(1, Math.min(127, Math.round(((box.bottom - e.clientY) / box.height) * 127)));
    let velocity = velocityAt(event);
    this.lane.setPointerCapture(event.pointerId);
    const show = () => {
      for (const n of group) {
        const bar = this.laneBars.get(n.id);
        if (bar) bar.style.height = `${(velocity / 127) * 100}%`;
      }
    };
    const move = (e: PointerEvent) => {
      velocity = velocityAt(e);
      show();
    };
    const up = () => {
      this.lane.removeEventListener('pointermove', move);
      this.lane.removeEventListener('pointerup', up);
      this.change(group, () => ({ velocity }));
    };
    show();
    this.lane.addEventListener('pointermove', move);
    this.lane.addEventListener('pointerup', up);
  }

  /** Collaborators' cursors and selections. */
  renderPeers(peers: Peer[]): void {
    this.peersLayer.replaceChildren();
    for (const element of this.noteElements.values()) element.style.outline = '';
    for (const peer of peers) {
      if (peer.cursor) {
        const marker = h('div', { class: 'peer-cursor', title: peer.name }, peer.name);
        marker.style.left = `${(peer.cursor.tick / this.ppq) * BEAT_PX}px`;
        marker.style.top = `${(HIGH - peer.cursor.pitch) * ROW_PX}px`;
        marker.style.borderColor = peer.color;
        marker.style.color = peer.color;
        this.peersLayer.append(marker);
      }
      for (const id of peer.selection ?? []) {
        const element = this.noteElements.get(id);
        if (element) element.style.outline = `2px solid ${peer.color}`;
      }
    }
  }

  /** Moves the playhead to a beat (null hides it). */
  playheadAt(beat: number | null): void {
    this.playhead.style.display = beat === null ? 'none' : 'block';
    if (beat !== null) this.playhead.style.left = `${beat * BEAT_PX}px`;
  }

  private place(element: HTMLElement, start: number, pitch: number, duration: number): void {
    element.style.left = `${(start / this.ppq) * BEAT_PX}px`;
    element.style.top = `${(HIGH - pitch) * ROW_PX}px`;
    element.style.width = `${Math.max(4, (duration / this.ppq) * BEAT_PX)}px`;
    element.style.height = `${ROW_PX - 1}px`;
  }

  private at(event: PointerEvent): { tick: number; pitch: number } {
    const box = this.grid.getBoundingClientRect();
    const tick = Math.max(0, Math.round(((event.clientX - box.left) / BEAT_PX) * this.ppq));
    const pitch = Math.min(HIGH, Math.max(LOW, HIGH - Math.floor((event.clientY - box.top) / ROW_PX)));
    return { tick, pitch };
  }

  private snap(tick: number): number {
    const step = this.ppq / 4;
    return Math.max(0, Math.round(tick / step) * step);
  }

  private select(ids: string[]): void {
    this.selected = new Set(ids);
    for (const [id, element] of this.noteElements) element.classList.toggle('selected', this.selected.has(id));
    for (const [id, bar] of this.laneBars) bar.classList.toggle('selected', this.selected.has(id));
    this.hooks.selection(ids);
  }

  private edit(change: () => void): void {
    try {
      change();
    } catch (error) {
      this.hooks.error((error as Error).message);
    }
  }

  /** The selected notes' ids. */
  get selection(): string[] {
    return [...this.selected];
  }

  /** The selected notes, as the document has them. */
  selectedNotes(): Note[] {
    return this.notes().filter((n) => this.selected.has(n.id));
  }

  /** Sets the velocity (1–127) of every selected note, as one change. */
  setVelocity(velocity: number): void {
    this.change(this.selectedNotes(), () => ({ velocity }));
  }

  /** Snaps the selected notes (every note when none is selected) to the sixteenth grid, starts and lengths. */
  quantise(): void {
    const notes = this.selected.size > 0 ? this.selectedNotes() : this.notes();
    const step = this.ppq / 4;
    this.change(notes, (n) => ({ start: this.snap(n.start), duration: Math.max(step, Math.round(n.duration / step) * step) }));
  }

  /** Applies `patch(note)` to each of `notes` in one transaction (one undo step, one update). */
  private change(notes: Note[], patch: (note: Note) => Partial<Omit<Note, 'id'>>): void {
    if (this.readOnly || !this.target || notes.length === 0) return;
    const { trackId, clipId } = this.target;
    this.edit(() => this.studio.doc.transact(() => notes.forEach((n) => this.studio.updateNote(trackId, clipId, n.id, patch(n)))));
    this.render();
  }

  private copy(): void {
    const notes = this.selectedNotes();
    if (notes.length === 0) return;
    const first = Math.min(...notes.map((n) => n.start));
    clipboard = notes.map((n) => ({ pitch: n.pitch, start: n.start - first, duration: n.duration, velocity: n.velocity }));
  }

  /** Pastes what was copied where the pointer last was over the grid, else right after the selection. */
  private paste(): void {
    if (this.readOnly || !this.target || clipboard.length === 0) return;
    const { trackId, clipId } = this.target;
    const after = this.selectedNotes().reduce((end, n) => Math.max(end, n.start + n.duration), 0);
    const at = this.pointer ? this.snap(this.pointer.tick) : this.snap(after);
    let added: string[] = [];
    this.edit(() => (added = this.studio.addNotes(trackId, clipId, clipboard.map((n) => ({ ...n, start: at + n.start })))));
    this.select(added);
    this.render();
  }

  private onKey(event: KeyboardEvent): void {
    if (this.readOnly) return this.onReadOnlyKey(event);
    const key = event.key.toLowerCase();
    const command = event.ctrlKey || event.metaKey;
    const step = this.ppq / 4;
    if ((key === 'delete' || key === 'backspace') && this.selected.size > 0) this.remove([...this.selected]);
    else if (command && key === 'a') this.select(this.notes().map((n) => n.id));
    else if (command && key === 'c') this.copy();
    else if (command && key === 'v') this.paste();
    else if (!command && key === 'q') this.quantise();
    else if (!command && key.startsWith('arrow') && this.selected.size > 0) {
      const notes = this.selectedNotes();
      const dt = key === 'arrowleft' ? -step : key === 'arrowright' ? step : 0;
      const dp = key === 'arrowup' ? 1 : key === 'arrowdown' ? -1 : 0;
      if (notes.some((n) => n.start + dt < 0 || n.pitch + dp < LOW || n.pitch + dp > HIGH)) return;
      this.change(notes, (n) => ({ start: n.start + dt, pitch: n.pitch + dp }));
    } else return;
    event.preventDefault();
  }

  /** Shift-drag on the grid: the notes the box touches join the selection. */
  private boxSelect(event: PointerEvent): void {
    const box = h('div', { class: 'roll-box', 'data-testid': 'selection-box' });
    this.grid.append(box);
    const origin = this.grid.getBoundingClientRect();
    const x0 = event.clientX - origin.left;
    const y0 = event.clientY - origin.top;
    let rect = { left: x0, top: y0, right: x0, bottom: y0 };
    this.grid.setPointerCapture(event.pointerId);
    const move = (e: PointerEvent) => {
      const x = e.clientX - origin.left;
      const y = e.clientY - origin.top;
      rect = { left: Math.min(x0, x), top: Math.min(y0, y), right: Math.max(x0, x), bottom: Math.max(y0, y) };
      Object.assign(box.style, { left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.right - rect.left}px`, height: `${rect.bottom - rect.top}px` });
    };
    const up = () => {
      this.grid.removeEventListener('pointermove', move);
      this.grid.removeEventListener('pointerup', up);
      box.remove();
      const inside = this.notes().filter((n) => {
        const left = (n.start / this.ppq) * BEAT_PX;
        const right = left + Math.max(4, (n.duration / this.ppq) * BEAT_PX);
        const top = (HIGH - n.pitch) * ROW_PX;
        return right > rect.left && left < rect.right && top + ROW_PX > rect.top && top < rect.bottom;
      });
      this.select([...new Set([...this.selected, ...inside.map((n) => n.id)])]);
    };
    this.grid.addEventListener('pointermove', move);
    this.grid.addEventListener('pointerup', up);
  }

  private remove(ids: string[]): void {
    if (this.readOnly || !this.target) return;
    const { trackId, clipId } = this.target;
    this.edit(() => this.studio.doc.transact(() => ids.forEach((id) => this.studio.removeNote(trackId, clipId, id))));
    this.select([]);
  }

  /** Picks a note on a read-only roll (null: none); the roll draws it picked and says so. */
  inspect(id: string | null): void {
    this.inspected = id;
    for (const [noteId, element] of this.noteElements) element.classList.toggle('inspected', noteId === id);
    this.hooks.inspect?.(id);
  }

  /** The left and right arrow keys step through the notes in time order (then by pitch). */
  private onReadOnlyKey(event: KeyboardEvent): void {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    const notes = this.notes().sort((a, b) => a.start - b.start || a.pitch - b.pitch);
    if (notes.length === 0) return;
    const index = notes.findIndex((n) => n.id === this.inspected);
    const next = index < 0 ? (event.key === 'ArrowRight' ? 0 : notes.length - 1) : Math.max(0, Math.min(notes.length - 1, index + (event.key === 'ArrowRight' ? 1 : -1)));
    const note = notes[next]!;
    this.inspect(note.id);
    this.noteElements.get(note.id)?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    event.preventDefault();
  }

  /** Draws `marks` over the notes, in place of the ones drawn before. */
  mark(marks: RollMark[]): void {
    this.marksLayer.replaceChildren(
      ...marks.map((m) => {
        const element = h('div', { class: `roll-mark ${m.kind}`, 'data-testid': m.kind, title: m.label, 'data-pitch': String(m.pitch), 'data-start': String(m.start) });
        this.place(element, m.start, m.pitch, m.duration);
        return element;
      }),
    );
  }

  private onPointerDown(event: PointerEvent): void {
    if (this.readOnly && this.target && event.button === 0) {
      const id = (event.target as HTMLElement).closest<HTMLElement>('.note')?.dataset.id ?? null;
      this.element.focus({ preventScroll: true });
      return this.inspect(id);
    }
    if (this.readOnly || !this.target || event.button !== 0 || event.detail > 1) return;
    // Keys go to the roll; the page must not jump to show it.
    this.element.focus({ preventScroll: true });
    const { trackId, clipId } = this.target;
    const noteElement = (event.target as HTMLElement).closest<HTMLElement>('.note');
    const from = this.at(event);
    if (!noteElement) {
      if (event.shiftKey) return this.boxSelect(event);
      const start = Math.floor(from.tick / (this.ppq / 4)) * (this.ppq / 4);
      let added: string[] = [];
      this.edit(() => (added = this.studio.addNotes(trackId, clipId, [{ pitch: from.pitch, start, duration: this.ppq, velocity: 96 }])));
      this.select(added);
      return;
    }
    const id = noteElement.dataset.id!;
    if (event.shiftKey) {
      const ids = new Set(this.selected);
      if (ids.has(id)) ids.delete(id);
      else ids.add(id);
      return this.select([...ids]);
    }
    if (!this.selected.has(id)) this.select([id]);
    // Every selected note moves (or resizes) by the same amount as the one under the pointer.
    const group = this.selectedNotes();
    const note = group.find((n) => n.id === id);
    if (!note) return;
    const resizing = (event.target as HTMLElement).classList.contains('note-handle');
    this.grid.setPointerCapture(event.pointerId);
    let delta = { ticks: 0, pitches: 0, length: 0 };
    const moved = (n: Note) => ({
      start: n.start + delta.ticks,
      pitch: n.pitch + delta.pitches,
      duration: Math.max(this.ppq / 4, n.duration + delta.length),
    });
    const move = (e: PointerEvent) => {
      const now = this.at(e);
      if (resizing) delta = { ticks: 0, pitches: 0, length: this.snap(note.duration + now.tick - from.tick) - note.duration };
      else {
        // Kept inside the grid for the whole group.
        const ticks = Math.max(this.snap(note.start + now.tick - from.tick) - note.start, -Math.min(...group.map((n) => n.start)));
        const pitches = Math.min(HIGH - Math.max(...group.map((n) => n.pitch)), Math.max(LOW - Math.min(...group.map((n) => n.pitch)), now.pitch - from.pitch));
        delta = { ticks, pitches, length: 0 };
      }
      for (const n of group) {
        const element = this.noteElements.get(n.id);
        const to = moved(n);
        if (element) this.place(element, to.start, to.pitch, to.duration);
      }
    };
    const up = () => {
      this.grid.removeEventListener('pointermove', move);
      this.grid.removeEventListener('pointerup', up);
      if (delta.ticks !== 0 || delta.pitches !== 0 || delta.length !== 0) {
        this.edit(() => this.studio.doc.transact(() => group.forEach((n) => this.studio.updateNote(trackId, clipId, n.id, moved(n)))));
      } else if (group.length > 1) {
        // A click without a drag on a note of a group selects that note alone.
        this.select([id]);
      }
      this.render();
    };
    this.grid.addEventListener('pointermove', move);
    this.grid.addEventListener('pointerup', up);
  }
}
