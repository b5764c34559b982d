// The replay viewer's "Who made what": each person's share of the session at the replay's moment
// (notes and tracks they created that are still there, and edits made), as bars with their numbers,
// and who created and who last changed the note pointed at or picked on the piano roll.
import { h } from './api.js';
import type { Authored, Authorship, HistoryApi } from './history-api.js';
import { pitchName } from './piano-roll.js';

export interface WhoMadeWhatOptions {
  history: HistoryApi;
  position(): number;
  playing(): boolean;
  /** A note of the replayed document by id (its pitch and start), for the words. */
  note(id: string): { pitch: number; start: number } | null;
  ppq(): number;
}

const KINDS = [
  ['notes', 'notes'],
  ['tracks', 'tracks'],
  ['edits', 'edits'],
] as const;
const time = (ms: number) => new Date(ms).toLocaleTimeString();
const HINT = 'Point at a note, or focus the piano roll and use the left and right arrow keys, to see who made it.';

export class WhoMadeWhat {
  readonly element: HTMLElement;
  private report: Authorship | null = null;
  private notes = new Map<string, Authored>();
  private inspected: string | null = null;
  private asked = 0;
  private timer = 0;
  private shownAt: number | null = null;
  private readonly chart: HTMLElement;
  private readonly moment: HTMLElement;
  private readonly noteInfo: HTMLElement;
  private readonly error: HTMLElement;

  constructor(private readonly options: WhoMadeWhatOptions) {
    this.moment = h('p', { class: 'muted', 'data-testid': 'shares-at' });
    this.chart = h('ul', { class: 'shares', 'data-testid': 'shares', 'aria-label': 'each person’s share of the session' });
    this.noteInfo = h('p', { 'data-testid': 'note-author', 'aria-live': 'polite' }, HINT);
    this.error = h('p', { class: 'error', role: 'alert', 'data-testid': 'shares-error' });
    this.element = h('section', { class: 'who-made-what', 'data-testid': 'who-made-what', 'aria-label': 'Who made what' }, h('h3', {}, 'Who made what'), this.moment, this.error, this.chart, this.noteInfo);
  }

  /** The replay moved: read the shares again once it rests. */
  moved(): void {
    if (this.options.playing() || this.options.position() === this.shownAt) return;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.load(), 150);
  }

  destroy(): void {
    window.clearTimeout(this.timer);
    this.asked++;
  }

  /** Says who made note `id` (null: the hint). */
  inspect(id: string | null): void {
    this.inspected = id;
    const note = id ? this.options.note(id) : null;
    const who = id ? this.notes.get(id) : undefined;
    if (!id || !note) {
      this.noteInfo.textContent = HINT;
      return;
    }
    const where = `${pitchName(note.pitch)} at beat ${Math.round((note.start / this.options.ppq() + 1) * 100) / 100}`;
    if (!who) {
      this.noteInfo.textContent = `${where}: who made it is being read…`;
      return;
    }
    const created = who.createdBy ? `created by ${who.createdBy}${who.createdAt ? ` at ${time(who.createdAt)}` : ''}` : 'created by someone unknown';
    const unchanged = who.lastChangedBy === who.createdBy && who.lastChangedAt === who.createdAt;
    const changed = unchanged ? 'not changed since' : `last changed by ${who.lastChangedBy ?? 'someone unknown'}${who.lastChangedAt ? ` at ${time(who.lastChangedAt)}` : ''}`;
    this.noteInfo.textContent = `${where}: ${created}; ${changed}.`;
  }

  private async load(): Promise<void> {
    const at = this.options.position();
    const turn = ++this.asked;
    try {
      const report = await this.options.history.authorship(at);
      if (turn !== this.asked) return;
      this.report = report;
      this.shownAt = at;
      this.error.textContent = '';
    } catch (e) {
      if (turn !== this.asked) return;
      this.error.textContent = (e as Error).message;
      return;
    }
    this.render();
  }

  private render(): void {
    const report = this.report!;
    this.moment.textContent = `At ${time(report.at)}, after ${report.updates} edit${report.updates === 1 ? '' : 's'}:`;
    this.notes = new Map(report.tracks.flatMap((t) => t.clips.flatMap((c) => c.notes.map((n) => [n.id, n] as const))));
    this.chart.replaceChildren(
      ...report.shares.map((share) =>
        h(
          'li',
          { 'data-user': share.userId },
          h('b', {}, share.userId),
          ...KINDS.map(([kind, words]) => {
            const bar = h('span', { class: 'share-fill' });
            bar.style.width = `${Math.round(share[kind].share * 100)}%`;
            return h('div', { class: 'share-row' }, h('span', { class: 'share-kind' }, words), h('span', { class: 'share-bar', 'aria-hidden': 'true' }, bar), h('span', { class: 'share-count', 'data-kind': kind }, `${share[kind].count} (${Math.round(share[kind].share * 100)} %)`));
          }),
        ),
      ),
    );
    if (report.shares.length === 0) this.chart.append(h('li', { class: 'muted' }, 'Nobody has made anything yet at this moment.'));
    this.inspect(this.inspected);
  }
}
