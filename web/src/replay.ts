// The replay viewer: a recorded session played back from its update log through /replay/<session>,
// with a scrubber, play/pause and speed, the piano roll changing as it was edited, and the state at
// any moment exported as MIDI. Beside the roll: what changed since a marked moment (drawn on the
// roll), who made what at the moment shown, and the session's versions.
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';
import { StudioDoc } from '../../src/studio/model.js';
import { api, download, h, problem, socketProtocols, wsUrl, type Session } from './api.js';
import { ChangesPanel } from './changes.js';
import { connectionBanner, serverBack } from './connection.js';
import { HistoryApi } from './history-api.js';
import { PianoRoll, type PianoRollHooks } from './piano-roll.js';
import { versionsPanel } from './versions.js';
import { WhoMadeWhat } from './who-made-what.js';

interface History {
  start: number | null;
  end: number | null;
  updates: number;
  authors: { userId: string; updates: number }[];
}

export interface ReplayHandle {
  /** The replayed document as it is on screen now. */
  studio(): StudioDoc;
  /** The timeline position the server last reported (Unix ms). */
  at(): number;
  destroy(): void;
}

const time = (ms: number) => new Date(ms).toLocaleTimeString();

export interface ReplayOptions {
  /** Opens at this moment (Unix ms) instead of the first edit: a version's time, say. */
  at?: number;
}

export async function openReplay(root: HTMLElement, session: Session, sessionId: string, options: ReplayOptions = {}): Promise<ReplayHandle | null> {
  const response = await api(session, 'GET', `/api/v1/sessions/${encodeURIComponent(sessionId)}/history`);
  if (!response.ok) {
    root.replaceChildren(h('div', { class: 'error', role: 'alert' }, await problem(response, `session ${sessionId} cannot be replayed`)));
    return null;
  }
  const history = (await response.json()) as History;
  if (history.start === null || history.end === null) {
    root.replaceChildren(h('p', {}, `Session ${sessionId} has no recorded edits yet.`));
    return null;
  }
  const start = history.start;
  const end = history.end;
  const openAt = options.at !== undefined && Number.isFinite(options.at) ? Math.min(end, Math.max(start, options.at)) : start;

  let doc = new Y.Doc();
  let studio = new StudioDoc(doc);
  let position = openAt;
  let playing = false;
  /** When `position` was reported, and the speed then: between reports the clock moves on its own. */
  let reportedAt = performance.now();
  let currentSpeed = 1;
  const trackSelect = h('select', { 'aria-label': 'track' });
  const rollBox = h('div', { class: 'replay-roll' });
  // The replay's roll shows what was: it is read-only, and a note picked on it says who made it.
  const rollHooks: PianoRollHooks = { cursor: () => undefined, selection: () => undefined, error: () => undefined, inspect: (id) => who.inspect(id) };
  const newRoll = () => {
    const made = new PianoRoll(studio, rollHooks);
    made.readOnly = true;
    made.element.setAttribute('aria-label', 'piano roll of the shown track as it was: the left and right arrow keys pick a note');
    return made;
  };
  let roll = newRoll();
  rollBox.append(roll.element);

  const scrubber = h('input', { type: 'range', min: String(start), max: String(end), step: '1', value: String(openAt), 'data-testid': 'scrubber', 'aria-label': 'position' });
  const clockLabel = h('span', { 'data-testid': 'replay-at' }, time(openAt));
  const playButton = h('button', { class: 'primary', 'data-testid': 'replay-play' }, 'Play');
  const speed = h('select', { 'data-testid': 'speed', 'aria-label': 'speed' }, ...['0.5', '1', '2', '4', '8', '16'].map((s) => h('option', { value: s, selected: s === '1' }, `${s}×`)));
  const exportButton = h('button', { 'data-testid': 'replay-export' }, 'Export MIDI at this moment');
  const summary = h('span', { class: 'muted' }, `${history.updates} edits by ${history.authors.map((a) => a.userId).join(', ')}, ${time(start)}–${time(end)}`);

  const status = h('span', { class: 'muted', 'data-testid': 'replay-status' }, 'connecting…');
  // The controls act through the replay socket: usable once it is open, and not after it closed.
  const controls = [playButton, speed, scrubber];
  const usable = (on: boolean) => controls.forEach((c) => (c.disabled = !on));
  usable(false);
  // Paused on open: the person presses Play. When the server goes away, the replay waits for it and
  // opens again, paused where it was.
  const banner = connectionBanner();
  const stopped = new AbortController();
  let ws: WebSocket;
  const control = (message: Record<string, unknown>) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(message));
  const connect = (at: number) => {
    ws = new WebSocket(wsUrl(`/replay/${encodeURIComponent(sessionId)}?at=${Math.round(at)}&speed=1&play=0`), socketProtocols(session));
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      status.textContent = '';
      banner.online();
      usable(true);
      // A speed picked while connecting applies now.
      if (speed.value !== '1') control({ type: 'speed', speed: Number(speed.value) });
    };
    ws.onmessage = onMessage;
    ws.onclose = (event) => {
      usable(false);
      playing = false;
      playButton.textContent = 'Play';
      if (stopped.signal.aborted) return;
      // 1006: the connection was lost (the server stopped, the network went); 1001: the server is going away.
      if (event.code === 1006 || event.code === 1001) {
        const at = position;
        banner.offline(`Not connected to the server: the replay paused at ${time(at)} and carries on from there when the server is back.`);
        void serverBack(stopped.signal).then(
          () => {
            fresh();
            connect(at);
          },
          () => undefined,
        );
        return;
      }
      status.textContent = event.code === 1000 ? 'replay closed' : `replay closed: ${event.reason || `code ${event.code}`}`;
    };
  };

  const showTracks = () => {
    const tracks = studio.tracks();
    const current = trackSelect.value;
    trackSelect.replaceChildren(...tracks.map((t) => h('option', { value: t.id, selected: t.id === current }, t.name)));
    const track = tracks.find((t) => t.id === trackSelect.value) ?? tracks[0];
    const clip = track ? studio.clips(track.id)[0] : undefined;
    if (track && clip) {
      if (rollBox.dataset.showing !== `${track.id}/${clip.id}`) {
        roll.show(track.id, clip.id, track.color);
        rollBox.dataset.showing = `${track.id}/${clip.id}`;
      } else roll.render();
    }
    changes.draw();
  };
  trackSelect.addEventListener('change', () => {
    rollBox.dataset.showing = '';
    showTracks();
  });

  const fresh = () => {
    doc.destroy();
    doc = new Y.Doc();
    studio = new StudioDoc(doc);
    roll = newRoll();
    rollBox.replaceChildren(roll.element);
    rollBox.dataset.showing = '';
    doc.on('afterTransaction', showTracks);
  };
  doc.on('afterTransaction', showTracks);

  const onMessage = (event: MessageEvent) => {
    if (typeof event.data === 'string') {
      const message = JSON.parse(event.data) as { type: string; at: number; playing?: boolean; speed?: number };
      if (message.type === 'reset') fresh();
      if (message.type === 'end') playing = false;
      if (message.type === 'state') playing = message.playing ?? false;
      if (message.speed !== undefined) currentSpeed = message.speed;
      position = message.at;
      reportedAt = performance.now();
      scrubber.value = String(message.at);
      clockLabel.textContent = time(message.at);
      playButton.textContent = playing ? 'Pause' : 'Play';
      rollBox.dataset.at = String(message.at);
      changes.moved();
      who.moved();
      return;
    }
    // y-websocket sync messages: the state at the start, then the recorded updates as they happened.
    const decoder = decoding.createDecoder(new Uint8Array(event.data as ArrayBuffer));
    if (decoding.readVarUint(decoder) !== 0) return;
    syncProtocol.readSyncMessage(decoder, encoding.createEncoder(), doc, 'replay');
  };
  // --- history beside the roll: changes since a moment, who made what, versions ------------------
  const historyApi = new HistoryApi(session, sessionId);
  const shown = () => {
    const [trackId, clipId] = (rollBox.dataset.showing ?? '').split('/');
    return trackId && clipId ? { trackId, clipId } : null;
  };
  const seekTo = (at: number) => {
    const target = Math.min(end, Math.max(start, at));
    scrubber.value = String(target);
    clockLabel.textContent = time(target);
    control({ type: 'seek', at: target });
  };
  const changes = new ChangesPanel({ history: historyApi, position: () => position, playing: () => playing, seek: seekTo, roll: () => roll, showing: shown, ppq: () => studio.settings().ppq });
  const who = new WhoMadeWhat({
    history: historyApi,
    position: () => position,
    playing: () => playing,
    ppq: () => studio.settings().ppq,
    note: (id) => {
      const at = shown();
      return (at && studio.notes(at.trackId, at.clipId).find((n) => n.id === id)) ?? null;
    },
  });
  const versions = versionsPanel(historyApi, session, {
    open: (version) => version.at !== null && seekTo(version.at),
    extra: (version) =>
      version.at === null
        ? []
        : [h('button', { class: 'small', 'data-testid': 'version-compare', 'aria-label': `Compare from: ${version.label}`, onclick: () => changes.compareFrom({ version: version.id }, `“${version.label}”`) }, 'Compare from')],
    changed: (list) => changes.setVersions(list),
  });
  connect(openAt);

  scrubber.addEventListener('input', () => (clockLabel.textContent = time(Number(scrubber.value))));
  scrubber.addEventListener('change', () => control({ type: 'seek', at: Number(scrubber.value) }));
  playButton.addEventListener('click', () => control({ type: playing ? 'pause' : 'play' }));
  speed.addEventListener('change', () => control({ type: 'speed', speed: Number(speed.value) }));
  exportButton.addEventListener('click', async () => {
    const exported = await api(session, 'GET', `/api/v1/sessions/${encodeURIComponent(sessionId)}/export.mid?at=${Math.round(position)}`).catch(() => null);
    if (!exported) status.textContent = 'export needs the server, which cannot be reached now';
    else if (exported.ok) await download(exported, `${sessionId}-at-${Math.round(position)}.mid`);
    else status.textContent = await problem(exported, 'export failed');
  });

  root.replaceChildren(
    h(
      'div',
      { class: 'replay' },
      h('div', { class: 'toolbar' }, h('h2', {}, `Replay: ${sessionId}`), summary, h('a', { href: `#/studio/${encodeURIComponent(sessionId)}` }, 'Open the live session')),
      banner.element,
      h('div', { class: 'toolbar' }, playButton, speed, scrubber, clockLabel, trackSelect, exportButton, status),
      h('div', { class: 'replay-body' }, rollBox, h('aside', { class: 'history-side' }, changes.element, who.element, h('div', {}, h('h3', {}, 'Versions'), versions.element))),
    ),
  );
  // The clock and the scrubber follow playback between the server's reports.
  let frame = 0;
  const follow = () => {
    if (playing && !scrubbing) {
      const now = Math.min(end, position + (performance.now() - reportedAt) * currentSpeed);
      scrubber.value = String(Math.round(now));
      clockLabel.textContent = time(now);
    }
    frame = requestAnimationFrame(follow);
  };
  frame = requestAnimationFrame(follow);
  let scrubbing = false;
  scrubber.addEventListener('pointerdown', () => (scrubbing = true));
  scrubber.addEventListener('pointerup', () => (scrubbing = false));

  return {
    studio: () => studio,
    at: () => (playing ? Math.min(end, position + (performance.now() - reportedAt) * currentSpeed) : position),
    destroy: () => {
      stopped.abort();
      changes.destroy();
      who.destroy();
      cancelAnimationFrame(frame);
      ws.close();
      doc.destroy();
    },
  };
}
