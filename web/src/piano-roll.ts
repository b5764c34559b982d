// The piano roll of one clip: notes as elements on a grid (a beat per column, a pitch per row).
// Click the grid to add a note, drag a note to move it, drag its right edge to resize it,
// double-click it (or select it and press Delete) to remove it. Every change goes through the shared
// StudioDoc, so collaborators see it; what they point at and select is drawn from their awareness.
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
}

/** What the ruler shows besides the bars: the loop's stretch, in beats. */
export interface RulerLoop {
  start: number;
  end: number;
  on: boolean;
}

export const pitchName = (pitch: number) => `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;

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

  constructor(
    private readonly studio: StudioDoc,
    private readonly hooks: PianoRollHooks,
  ) {
    this.grid = h('div', { class: 'roll-grid', 'data-testid': 'piano-roll' });
    this.peersLayer = h('div', { class: 'roll-peers' });
    this.playhead = h('div', { class: 'roll-playhead' });
    const keys = h('div', { class: 'roll-keys' });
    for (let pitch = HIGH; pitch >= LOW; pitch--) keys.append(h('div', { class: `roll-key${NAMES[pitch % 12]!.includes('#') ? ' black' : ''}` }, pitch % 12 === 0 ? pitchName(pitch) : ''));
    this.grid.append(this.peersLayer, this.playhead);
    this.element = h('div', { class: 'roll', tabindex: '0' }, keys, this.grid);
    this.loopBand = h('div', { class: 'ruler-loop', 'data-testid': 'ruler-loop' });
    this.rulerTrack = h('div', { class: 'ruler-track' }, this.loopBand);
    this.ruler = h('div', { class: 'ruler', 'data-testid': 'ruler', title: 'bars and beats: click to move the playhead' }, this.rulerTrack);
    this.element.addEventListener('scroll', () => this.alignRuler());
    this.ruler.addEventListener('pointerdown', (event) => {
      const beat = (event.clientX - this.rulerTrack.getBoundingClientRect().left) / BEAT_PX;
      this.hooks.seek?.(Math.max(0, Math.round(beat * 4) / 4));
    });
    this.grid.style.height = `${(HIGH - LOW + 1) * ROW_PX}px`;
    this.grid.addEventListener('pointerdown', (event) => this.onPointerDown(event));
    this.grid.addEventListener('pointermove', (event) => this.hooks.cursor(this.at(event)));
    this.grid.addEventListener('pointerleave', () => this.hooks.cursor(null));
    this.grid.addEventListener('dblclick', (event) => {
      // The grid captures the pointer while a note is dragged, so the event's target is the grid:
      // find the note under the pointer instead.
      const under = document.elementFromPoint(event.clientX, event.clientY);
      const id = under?.closest<HTMLElement>('.note')?.dataset.id;
      if (id) this.remove([id]);
    });
    this.element.addEventListener('keydown', (event) => {
      if ((event.key === 'Delete' || event.key === 'Backspace') && this.selected.size > 0) this.remove([...this.selected]);
    });
  }

  private get ppq(): number {
    return this.studio.settings().ppq;
  }

  show(trackId: string, clipId: string, color: string): void {
    this.target = { trackId, clipId, color };
    this.selected.clear();
    for (const element of this.noteElements.values()) element.remove();
    this.noteElements.clear();
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
      element.title = `${pitchName(note.pitch)} at beat ${(note.start / this.ppq + 1).toFixed(2)}, ${(note.duration / this.ppq).toFixed(2)} beats, velocity ${note.velocity}`;
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

  /** The ruler starts where the grid does and follows its horizontal scroll. */
  private alignRuler(): void {
    this.rulerTrack.style.transform = `translateX(${this.grid.offsetLeft - this.element.scrollLeft}px)`;
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
    this.hooks.selection(ids);
  }

  private edit(change: () => void): void {
    try {
      change();
    } catch (error) {
      this.hooks.error((error as Error).message);
    }
  }

  private remove(ids: string[]): void {
    if (this.readOnly || !this.target) return;
    const { trackId, clipId } = this.target;
    this.edit(() => this.studio.doc.transact(() => ids.forEach((id) => this.studio.removeNote(trackId, clipId, id))));
    this.select([]);
  }

  private onPointerDown(event: PointerEvent): void {
    if (this.readOnly || !this.target || event.button !== 0 || event.detail > 1) return;
    this.element.focus();
    const { trackId, clipId } = this.target;
    const noteElement = (event.target as HTMLElement).closest<HTMLElement>('.note');
    const from = this.at(event);
    if (!noteElement) {
      const start = Math.floor(from.tick / (this.ppq / 4)) * (this.ppq / 4);
      let added: string[] = [];
      this.edit(() => (added = this.studio.addNotes(trackId, clipId, [{ pitch: from.pitch, start, duration: this.ppq, velocity: 96 }])));
      this.select(added);
      return;
    }
    const id = noteElement.dataset.id!;
    const note = this.notes().find((n) => n.id === id);
    if (!note) return;
    this.select([id]);
    const resizing = (event.target as HTMLElement).classList.contains('note-handle');
    this.grid.setPointerCapture(event.pointerId);
    let moved: { start: number; pitch: number; duration: number } = { start: note.start, pitch: note.pitch, duration: note.duration };
    const move = (e: PointerEvent) => {
      const now = this.at(e);
      moved = resizing
        ? { ...moved, duration: Math.max(this.ppq / 4, this.snap(note.duration + now.tick - from.tick)) }
        : { ...moved, start: this.snap(note.start + now.tick - from.tick), pitch: Math.min(HIGH, Math.max(LOW, note.pitch + now.pitch - from.pitch)) };
      this.place(noteElement, moved.start, moved.pitch, moved.duration);
    };
    const up = () => {
      this.grid.removeEventListener('pointermove', move);
      this.grid.removeEventListener('pointerup', up);
      if (moved.start !== note.start || moved.pitch !== note.pitch || moved.duration !== note.duration) {
        this.edit(() => this.studio.updateNote(trackId, clipId, id, moved));
      }
      this.render();
    };
    this.grid.addEventListener('pointermove', move);
    this.grid.addEventListener('pointerup', up);
  }
}
