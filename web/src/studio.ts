// The studio: one session's tracks, piano roll, transport with sound on the shared beat clock,
// collaborators' cursors and selections, chat, MIDI in and out, and voice chat. The session is a
// Y.Doc kept in sync with the server by y-websocket's WebsocketProvider.
import * as decoding from 'lib0/decoding';
import { IndexeddbPersistence } from 'y-indexeddb';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { beatAt, CLOCK_MESSAGE, ClockEstimator, clockRequest, preciseNow, readClockAnswer, startTransport, stopTransport } from '../../src/studio/clock.js';
import { StudioDoc, TRANSPORT_BPM } from '../../src/studio/model.js';
import { api, download, h, problem, signedInSocket, socketProtocols, wsUrl, type Session } from './api.js';
import { connectionBanner } from './connection.js';
import { GM_FAMILIES, GM_PROGRAMS } from './gm.js';
import { HistoryApi } from './history-api.js';
import { barBeat, PianoRoll, type Peer } from './piano-roll.js';
import { Player } from './synth.js';
import { versionsPanel } from './versions.js';
import { VoiceChat } from './voice.js';

const COLORS = ['#e5484d', '#3e63dd', '#30a46c', '#f76b15', '#8e4ec6', '#0090ff', '#d6409f', '#ffc53d'];
const colorOf = (name: string) => COLORS[[...name].reduce((sum, c) => sum + c.charCodeAt(0), 0) % COLORS.length]!;

/** What the page exposes for end-to-end tests and the console (`window.veza`). */
export interface StudioHandle {
  doc: Y.Doc;
  studio: StudioDoc;
  /** This user's own changes, for undo and redo (others' are never undone here). */
  undo: Y.UndoManager;
  /** This user's role on the session, once the server has said (null until then). */
  role(): string | null;
  provider: WebsocketProvider;
  /** This session kept in the browser (IndexedDB): edits made offline survive the tab closing. */
  local: IndexeddbPersistence;
  /** Changes made here since the server last confirmed the session was in sync. */
  unsent(): number;
  player: Player;
  clockOffset(): number | null;
  destroy(): void;
}

export function openStudio(root: HTMLElement, session: Session, sessionId: string): StudioHandle {
  const doc = new Y.Doc();
  const studio = new StudioDoc(doc);
  // Kept per user and session in this browser; loaded before the server answers, merged with it after.
  const local = new IndexeddbPersistence(`veza:${session.userId}:${sessionId}`, doc);
  const provider = new WebsocketProvider(wsUrl('/collab'), sessionId, doc, { WebSocketPolyfill: signedInSocket(session), disableBc: true });
  const clock = new ClockEstimator();
  const serverNow = () => clock.serverNow(preciseNow());
  const player = new Player(studio, serverNow);
  const voice = new VoiceChat(wsUrl(`/voice/${encodeURIComponent(sessionId)}`), socketProtocols(session));
  let selectedTrack: string | null = null;
  /** Tracks a MIDI import created, until one with notes has arrived and is shown. */
  let awaitingImport: string[] = [];

  // The beat clock: samples over the collaboration socket (message type 100).
  provider.messageHandlers[CLOCK_MESSAGE] = (_encoder, decoder: decoding.Decoder) => {
    const answer = readClockAnswer(decoder.arr);
    if (answer) clock.add({ sentAt: answer.sentAt, serverTime: answer.serverTime, receivedAt: preciseNow() });
  };
  const sampleClock = () => {
    if (provider.ws?.readyState === WebSocket.OPEN) provider.ws.send(clockRequest(preciseNow()));
  };
  const clockTimer = window.setInterval(sampleClock, 1000);
  // --- connection: one visible state, and what is waiting to be sent ----------------------------
  const statusLine = h('span', { class: 'muted', 'data-testid': 'status' }, 'connecting…');
  let unsent = 0;
  let synced = false;
  const banner = connectionBanner();
  const renderConnection = () => {
    const online = provider.wsconnected && synced;
    statusLine.textContent = online ? 'connected' : provider.wsconnected ? 'syncing…' : provider.wsconnecting ? 'reconnecting…' : 'offline';
    if (online) return banner.online();
    banner.offline(`Not connected to the server${unsent > 0 ? `: ${unsent} change${unsent === 1 ? '' : 's'} kept on this device, sent when the connection returns` : '; your changes are kept on this device until it returns'}.`);
  };
  doc.on('update', (_update: Uint8Array, origin: unknown) => {
    // Local changes (not the server's, nor those loaded from this browser's copy).
    if (origin === provider || origin === local) return;
    if (!(provider.wsconnected && synced)) unsent++;
    renderConnection();
  });
  provider.on('status', ({ status }: { status: string }) => {
    if (status !== 'connected') synced = false;
    if (status === 'connected') for (let i = 0; i < 5; i++) window.setTimeout(sampleClock, i * 100);
    renderConnection();
  });
  provider.on('sync', (isSynced: boolean) => {
    synced = isSynced;
    // The exchange on reconnecting sends the server everything it lacks, these changes included.
    if (isSynced) unsent = 0;
    renderConnection();
  });

  const errorLine = h('div', { class: 'error', role: 'alert' });
  const fail = (message: string) => {
    errorLine.textContent = message;
    window.setTimeout(() => (errorLine.textContent === message ? (errorLine.textContent = '') : undefined), 6000);
  };

  // --- role: a viewer sees everything and changes nothing ---------------------------------------
  // Until the server has said, nothing is editable: a viewer's edit would live only in this tab.
  let role: string | null = null;
  let editable = false;
  const roleBadge = h('span', { class: 'badge', 'data-testid': 'role' }, '');
  const applyRole = () => {
    editable = role === 'owner' || role === 'editor';
    roleBadge.textContent = role === null ? '' : editable ? role : `${role}: read only`;
    roleBadge.classList.toggle('read-only', !editable && role !== null);
    roll.readOnly = !editable;
    for (const control of [addTrackButton, fileInput, bpmInput, playButton, toStartButton, loopButton, loopFrom, loopTo, quantiseButton, chatInput, chatSend]) control.disabled = !editable;
    chatInput.placeholder = editable ? 'Say something' : 'viewers cannot post in the chat';
    playButton.title = editable ? '' : 'viewers follow the session’s transport';
    shownTracks = '';
    renderTracks();
    renderUndo();
  };
  void api(session, 'GET', '/api/v1/me').then(async (response) => {
    if (!response.ok) return fail(await problem(response, 'your role on this session could not be read'));
    const me = (await response.json()) as { docs: Record<string, string> };
    role = me.docs[sessionId] ?? me.docs['*'] ?? null;
    if (role === null) fail(`you have no role on session ${sessionId}`);
    applyRole();
  });

  // --- piano roll and awareness -------------------------------------------------------------
  provider.awareness.setLocalStateField('user', { id: session.userId, name: session.userId, color: colorOf(session.userId) });
  const roll = new PianoRoll(studio, {
    cursor: (at) => provider.awareness.setLocalStateField('cursor', at),
    selection: (ids) => {
      provider.awareness.setLocalStateField('selection', ids);
      renderSelection();
    },
    error: fail,
    seek: (beat) => editable && seek(beat),
  });

  // --- tracks ---------------------------------------------------------------------------------
  const trackList = h('div', { class: 'tracks', 'data-testid': 'tracks' });
  const ensureClip = (trackId: string): string => {
    const clips = studio.clips(trackId);
    if (clips.length > 0) return clips[0]!.id;
    return studio.addClip(trackId, { name: 'Clip 1', start: 0, length: 64 * studio.settings().ppq });
  };
  const selectTrack = (trackId: string | null) => {
    selectedTrack = trackId;
    // Collaborators see which track one works on, and one's cursor only on that track.
    provider.awareness.setLocalStateField('track', trackId);
    if (!trackId) return;
    const track = studio.tracks().find((t) => t.id === trackId);
    if (!track) return;
    try {
      // A track without a clip gets one from an editor; a viewer's would be refused by the server.
      const clip = editable ? ensureClip(trackId) : studio.clips(trackId)[0]?.id;
      if (clip) roll.show(trackId, clip, track.color);
    } catch (error) {
      fail((error as Error).message);
    }
    renderTracks();
  };
  let shownTracks = '';
  const renderTracks = () => {
    const tracks = studio.tracks();
    // Rebuilt only when a track or the selection changed: a note edit must not take the focus away
    // from someone typing a track name.
    const signature = JSON.stringify([selectedTrack, tracks]);
    if (signature === shownTracks) return;
    shownTracks = signature;
    // The people list names the track each person works on.
    queueMicrotask(() => renderPeople());
    trackList.replaceChildren(
      ...tracks.map((track) =>
        h(
          'div',
          { class: `track${track.id === selectedTrack ? ' selected' : ''}`, 'data-track': track.id, onclick: (e: Event) => (e.target as HTMLElement).closest('input,button') || selectTrack(track.id) },
          h('span', { class: 'swatch', style: { background: track.color } }),
          h('input', { class: 'track-name', value: track.name, 'aria-label': 'track name', disabled: !editable, onchange: (e: Event) => studio.updateTrack(track.id, { name: (e.target as HTMLInputElement).value }) }),
          h('button', { class: `toggle${track.mute ? ' on' : ''}`, title: 'mute', disabled: !editable, onclick: () => studio.updateTrack(track.id, { mute: !track.mute }) }, 'M'),
          h('button', { class: `toggle${track.solo ? ' on' : ''}`, title: 'solo', disabled: !editable, onclick: () => studio.updateTrack(track.id, { solo: !track.solo }) }, 'S'),
          h('input', { type: 'range', min: '0', max: '2', step: '0.01', value: String(track.volume), title: 'volume', disabled: !editable, onchange: (e: Event) => studio.updateTrack(track.id, { volume: Number((e.target as HTMLInputElement).value) }) }),
          h('input', { type: 'range', min: '-1', max: '1', step: '0.01', value: String(track.pan), title: 'pan', disabled: !editable, onchange: (e: Event) => studio.updateTrack(track.id, { pan: Number((e.target as HTMLInputElement).value) }) }),
          instrumentMenu(track.id, track.program),
          deleteTrackButton(track.id, track.name),
        ),
      ),
    );
  };
  /** The track's General MIDI program, by family. */
  const instrumentMenu = (trackId: string, program: number) =>
    h(
      'select',
      { class: 'instrument', 'aria-label': 'instrument', title: 'instrument (General MIDI)', disabled: !editable, onchange: (e: Event) => edit(() => studio.updateTrack(trackId, { program: Number((e.target as HTMLSelectElement).value) })) },
      ...GM_FAMILIES.map((family, f) => {
        const group = h('optgroup', { label: family });
        group.append(...GM_PROGRAMS.slice(f * 8, f * 8 + 8).map((name, i) => h('option', { value: String(f * 8 + i), selected: f * 8 + i === program }, name)));
        return group;
      }),
    );
  /** Deleting asks once more on the button itself (undo brings the track back). */
  const deleteTrackButton = (trackId: string, name: string) => {
    const button = h('button', { class: 'delete-track', title: `delete ${name}`, 'aria-label': `delete track ${name}`, disabled: !editable }, 'Delete');
    let armed: number | null = null;
    button.addEventListener('click', () => {
      if (armed === null) {
        button.textContent = 'Sure?';
        armed = window.setTimeout(() => {
          armed = null;
          button.textContent = 'Delete';
        }, 3000);
        return;
      }
      window.clearTimeout(armed);
      edit(() => studio.removeTrack(trackId));
    });
    return button;
  };
  /** A change refused by the model is said, not thrown. */
  const edit = (change: () => void) => {
    try {
      change();
    } catch (error) {
      fail((error as Error).message);
    }
  };
  const addTrack = () => {
    try {
      const id = studio.addTrack({ name: `Track ${studio.tracks().length + 1}`, color: COLORS[studio.tracks().length % COLORS.length]! });
      ensureClip(id);
      selectTrack(id);
    } catch (error) {
      fail((error as Error).message);
    }
  };

  // --- undo and redo: this user's own changes only ----------------------------------------------
  // Local edits are transactions without an origin (the default tracked one); what arrives from the
  // server carries the provider as its origin and is never undone here. Quick successive changes
  // (a drag, a track with its first clip) count as one step.
  const undo = new Y.UndoManager([doc.getMap('settings'), doc.getMap('tracks'), doc.getArray('tempo'), doc.getArray('timeSignatures'), doc.getMap('markers')], { captureTimeout: 400 });
  const undoButton = h('button', { 'data-testid': 'undo', title: 'Undo (Ctrl+Z)', disabled: true }, 'Undo');
  const redoButton = h('button', { 'data-testid': 'redo', title: 'Redo (Ctrl+Shift+Z or Ctrl+Y)', disabled: true }, 'Redo');
  const renderUndo = () => {
    undoButton.disabled = !editable || undo.undoStack.length === 0;
    redoButton.disabled = !editable || undo.redoStack.length === 0;
  };
  for (const event of ['stack-item-added', 'stack-item-popped', 'stack-cleared'] as const) undo.on(event, renderUndo);
  // One step per gesture: a click or a key press starts a new one (what it changes, a drag included, is one step).
  const newGesture = () => undo.stopCapturing();
  document.addEventListener('pointerdown', newGesture, true);
  document.addEventListener('keydown', newGesture, true);
  undoButton.addEventListener('click', () => undo.undo());
  redoButton.addEventListener('click', () => undo.redo());
  const onKey = (event: KeyboardEvent) => {
    if (!(event.ctrlKey || event.metaKey) || !editable) return;
    // Text fields keep their own undo.
    const target = event.target as HTMLElement | null;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)) return;
    const key = event.key.toLowerCase();
    if (key === 'z' && !event.shiftKey) undo.undo();
    else if ((key === 'z' && event.shiftKey) || key === 'y') undo.redo();
    else return;
    event.preventDefault();
  };
  document.addEventListener('keydown', onKey);

  const addTrackButton = h('button', { onclick: addTrack, 'data-testid': 'add-track' }, '+ Track');

  // --- transport ------------------------------------------------------------------------------
  // Shared by everyone in the session: play, stop, position, tempo and the loop. The metronome is
  // each listener's own.
  const beatLabel = h('span', { class: 'beat', 'data-testid': 'beat', title: 'bar.beat' }, '1.1');
  const bpmInput = h('input', { type: 'number', min: String(TRANSPORT_BPM.min), max: String(TRANSPORT_BPM.max), value: '120', title: 'tempo (BPM)', 'aria-label': 'tempo' });
  const playButton = h('button', { class: 'primary', 'data-testid': 'play', 'aria-keyshortcuts': 'Space' }, 'Play');
  const toStartButton = h('button', { 'data-testid': 'to-start', title: 'Return to start (Home)', 'aria-keyshortcuts': 'Home' }, 'To start');
  const loopButton = h('button', { 'data-testid': 'loop', title: 'Loop the bars below (L)', 'aria-pressed': 'false', 'aria-keyshortcuts': 'L' }, 'Loop');
  const barInput = (testId: string, label: string) => h('input', { type: 'number', min: '1', max: '9999', step: '1', class: 'bar-input', 'data-testid': testId, 'aria-label': label, title: label });
  const loopFrom = barInput('loop-from', 'loop from bar');
  const loopTo = barInput('loop-to', 'loop to the end of bar');
  const metronomeButton = h('button', { 'data-testid': 'metronome', title: 'Metronome: a click on every beat, for you only (M)', 'aria-pressed': 'false', 'aria-keyshortcuts': 'M' }, 'Click');
  const beatsPerBar = () => studio.timeSignatures()[0]?.numerator ?? 4;
  const togglePlay = async () => {
    const transport = studio.transport();
    if (transport.playing) return edit(() => studio.setTransport(stopTransport(transport, serverNow())));
    await player.start().catch(() => undefined);
    edit(() => studio.setTransport(startTransport(transport.bpm, transport.stoppedAtBeat, serverNow())));
  };
  /** Moves the playhead to `beat`; while playing, playback goes on from there. */
  const seek = (beat: number) => {
    const transport = studio.transport();
    edit(() => studio.setTransport(transport.playing ? startTransport(transport.bpm, beat, serverNow()) : { stoppedAtBeat: beat }));
  };
  const toggleLoop = () => {
    const transport = studio.transport();
    edit(() => {
      // Playing on from the beat reached, so that turning the loop on past its end does not jump.
      studio.setTransport({ looping: !transport.looping, ...(transport.playing ? startTransport(transport.bpm, beatAt(transport, serverNow()), serverNow()) : {}) });
    });
  };
  const toggleMetronome = () => {
    player.metronome = !player.metronome;
    metronomeButton.setAttribute('aria-pressed', String(player.metronome));
    if (player.metronome) void player.start().catch(() => undefined);
  };
  playButton.addEventListener('click', () => void togglePlay());
  toStartButton.addEventListener('click', () => seek(0));
  loopButton.addEventListener('click', toggleLoop);
  metronomeButton.addEventListener('click', toggleMetronome);
  const onLoopBars = () => {
    const from = Math.round(Number(loopFrom.value));
    const to = Math.round(Number(loopTo.value));
    if (!Number.isFinite(from) || !Number.isFinite(to) || from < 1 || to < from) {
      fail('the loop runs from a bar to the same bar or a later one');
      shownLoop = '';
      return renderTransport(true);
    }
    edit(() => studio.setTransport({ loopStart: (from - 1) * beatsPerBar(), loopEnd: to * beatsPerBar() }));
  };
  loopFrom.addEventListener('change', onLoopBars);
  loopTo.addEventListener('change', onLoopBars);
  bpmInput.addEventListener('change', () => {
    const bpm = Number(bpmInput.value);
    const transport = studio.transport();
    if (!Number.isFinite(bpm) || bpm < TRANSPORT_BPM.min || bpm > TRANSPORT_BPM.max) {
      fail(`the tempo goes from ${TRANSPORT_BPM.min} to ${TRANSPORT_BPM.max} BPM`);
      bpmInput.value = String(Math.round(transport.bpm));
      return;
    }
    edit(() => studio.setTransport(transport.playing ? startTransport(bpm, beatAt(transport, serverNow()), serverNow()) : { bpm }));
  });
  const onTransportKey = (event: KeyboardEvent) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    // Keys typed into a field, or Space on a focused button (which presses it), stay theirs.
    const target = event.target as HTMLElement | null;
    if (target && (['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON'].includes(target.tagName) || target.isContentEditable)) return;
    const key = event.key.toLowerCase();
    if (key === 'm') toggleMetronome();
    else if (!editable) return;
    else if (key === ' ') void togglePlay();
    else if (key === 'home') seek(0);
    else if (key === 'l') toggleLoop();
    else return;
    event.preventDefault();
  };
  document.addEventListener('keydown', onTransportKey);
  /** The loop's button, bars and ruler band as the shared transport has them. */
  let shownLoop = '';
  const renderTransport = (evenWhileTyping = false) => {
    const { looping, loopStart, loopEnd } = studio.transport();
    const perBar = beatsPerBar();
    const key = `${looping}/${loopStart}/${loopEnd}/${perBar}`;
    if (key === shownLoop) return;
    shownLoop = key;
    loopButton.setAttribute('aria-pressed', String(looping));
    if (evenWhileTyping || document.activeElement !== loopFrom) loopFrom.value = String(Math.floor(loopStart / perBar) + 1);
    if (evenWhileTyping || document.activeElement !== loopTo) loopTo.value = String(Math.max(1, Math.ceil(loopEnd / perBar)));
    roll.rulerShows(perBar, { start: loopStart, end: loopEnd, on: looping });
  };
  let frame = 0;
  const animate = () => {
    const transport = studio.transport();
    const beat = beatAt(transport, serverNow());
    beatLabel.textContent = barBeat(beat, beatsPerBar());
    playButton.textContent = transport.playing ? 'Stop' : 'Play';
    if (document.activeElement !== bpmInput) bpmInput.value = String(Math.round(transport.bpm));
    roll.playheadAt(transport.playing || beat > 0 ? beat : null);
    // Someone else pressed play: start the sound here too (the browser may need a click first).
    if (transport.playing) void player.start().catch(() => undefined);
    else player.stop();
    frame = requestAnimationFrame(animate);
  };
  frame = requestAnimationFrame(animate);

  // --- the selected notes: velocity and quantise ---------------------------------------------------
  const velocityInput = h('input', { type: 'number', min: '1', max: '127', step: '1', class: 'bar-input', 'data-testid': 'velocity', 'aria-label': 'velocity of the selected notes', title: 'velocity of the selected notes (1–127)', disabled: true });
  const quantiseButton = h('button', { 'data-testid': 'quantise', title: 'Quantise the selected notes (all when none is selected) to sixteenths (Q)', 'aria-keyshortcuts': 'Q' }, 'Quantise');
  const renderSelection = () => {
    const notes = roll.selectedNotes();
    velocityInput.disabled = !editable || notes.length === 0;
    if (document.activeElement !== velocityInput) velocityInput.value = notes.length > 0 ? String(notes[0]!.velocity) : '';
  };
  velocityInput.addEventListener('change', () => {
    const velocity = Math.round(Number(velocityInput.value));
    if (!Number.isFinite(velocity) || velocity < 1 || velocity > 127) {
      fail('velocity goes from 1 to 127');
      velocityInput.blur();
      return renderSelection();
    }
    roll.setVelocity(velocity);
  });
  quantiseButton.addEventListener('click', () => roll.quantise());

  // --- people, voice and chat -----------------------------------------------------------------
  const people = h('ul', { class: 'people', 'data-testid': 'people' });
  const renderPeople = () => {
    const peers: Peer[] = [];
    const names: HTMLElement[] = [];
    const tracksById = new Map(studio.tracks().map((t) => [t.id, t.name]));
    let voiceState: { inCall?: string[]; speaking?: string[] } = {};
    provider.awareness.getStates().forEach((state, clientId) => {
      if (state.voice) voiceState = state.voice as typeof voiceState;
      const user = state.user as { id: string; name: string; color: string } | undefined;
      if (!user) return;
      const onTrack = typeof state.track === 'string' ? tracksById.get(state.track) : undefined;
      names.push(h('li', { 'data-user': user.id, style: { color: user.color } }, user.name + (clientId === doc.clientID ? ' (you)' : ''), onTrack ? h('span', { class: 'muted on-track' }, ` on ${onTrack}`) : null));
      // Where someone points and what they select is drawn on the track they work on only.
      if (clientId !== doc.clientID && state.track === selectedTrack) peers.push({ clientId, name: user.name, color: user.color, cursor: state.cursor as Peer['cursor'], selection: state.selection as string[] | undefined });
    });
    for (const item of names) {
      const id = item.dataset.user!;
      if (voiceState.inCall?.includes(id)) item.append(h('span', { class: 'muted' }, ' in voice'));
      if (voiceState.speaking?.includes(id)) item.classList.add('speaking');
    }
    people.replaceChildren(...names);
    roll.renderPeers(peers);
  };
  provider.awareness.on('change', renderPeople);
  // This user's own entry was set before anyone listened: show it now.
  renderPeople();

  const voiceButton = h('button', { 'data-testid': 'voice' }, 'Join voice');
  // What the call is doing when it is not simply on or off: joining, lost and joining again, ended.
  const voiceStatus = h('span', { class: 'muted', role: 'status', 'data-testid': 'voice-status', hidden: true });
  voice.onState = (state, detail) => {
    voiceButton.textContent = state === 'off' ? 'Join voice' : 'Leave voice';
    voiceStatus.textContent = detail ?? (state === 'joining' ? 'joining the call…' : '');
    voiceStatus.hidden = voiceStatus.textContent === '';
  };
  voiceButton.addEventListener('click', async () => {
    try {
      if (voice.active) voice.stop();
      else await voice.start();
    } catch (error) {
      fail(`voice: ${(error as Error).message}`);
    }
  });

  const chatLog = h('div', { class: 'chat-log', 'data-testid': 'chat' });
  const chatInput = h('input', { placeholder: 'Say something', 'aria-label': 'chat message' });
  const renderChat = () => {
    chatLog.replaceChildren(...studio.chat().slice(-100).map((m) => h('div', { class: 'chat-line' }, h('b', {}, m.author), ' ', m.text)));
    chatLog.scrollTop = chatLog.scrollHeight;
  };
  const chatSend = h('button', { type: 'submit' }, 'Send');
  const chatForm = h('form', { class: 'chat-form' }, chatInput, chatSend);
  chatForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    try {
      studio.postChat(session.userId, text);
      chatInput.value = '';
    } catch (error) {
      fail((error as Error).message);
    }
  });

  // --- MIDI in and out --------------------------------------------------------------------------
  const fileInput = h('input', { type: 'file', accept: '.mid,.midi,audio/midi', 'data-testid': 'midi-file', 'aria-label': 'import a MIDI file' });
  const importNote = h('span', { class: 'muted', 'data-testid': 'import-result' });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    importNote.textContent = `importing ${file.name}…`;
    const response = await api(session, 'POST', `/api/v1/sessions/${encodeURIComponent(sessionId)}/midi`, await file.arrayBuffer(), 'audio/midi');
    fileInput.value = '';
    if (!response.ok) {
      importNote.textContent = '';
      fail(await problem(response, `${file.name} was not imported`));
      return;
    }
    const result = (await response.json()) as { trackIds: string[]; notes: number; warnings: string[] };
    importNote.textContent = `${file.name}: ${result.notes} notes on ${result.trackIds.length} tracks${result.warnings.length ? ` (${result.warnings.length} warnings)` : ''}`;
    // The import arrives through the live document, maybe after this answer: show its first track
    // with notes once the document has it.
    awaitingImport = result.trackIds;
    onChange();
  });
  const exportButton = h('button', { 'data-testid': 'export' }, 'Export MIDI');
  exportButton.addEventListener('click', async () => {
    const response = await api(session, 'GET', `/api/v1/sessions/${encodeURIComponent(sessionId)}/export.mid`).catch(() => null);
    if (!response) return fail('export needs the server, which cannot be reached now');
    if (!response.ok) return fail(await problem(response, 'export failed'));
    await download(response, `${sessionId}.mid`);
  });

  // --- versions: named and automatic, opened in the replay viewer, restored ----------------------
  const versions = versionsPanel(new HistoryApi(session, sessionId), session, {
    open: (version) => (location.hash = `#/replay/${encodeURIComponent(sessionId)}${version.at === null ? '' : `?at=${version.at}`}`),
  });
  const versionsBox = h('details', { class: 'versions-box', 'data-testid': 'versions-panel' }, h('summary', {}, 'Versions'), versions.element);
  // The list is read again each time it is opened: others name versions too.
  versionsBox.addEventListener('toggle', () => versionsBox.open && void versions.refresh());

  // --- layout and updates ---------------------------------------------------------------------
  root.replaceChildren(
    h(
      'div',
      { class: 'studio' },
      h('div', { class: 'toolbar' }, h('h2', {}, sessionId), roleBadge, statusLine, undoButton, redoButton, toStartButton, playButton, bpmInput, h('span', { class: 'muted' }, 'BPM'), beatLabel, loopButton, loopFrom, h('span', { class: 'muted' }, 'to'), loopTo, metronomeButton, h('span', { class: 'muted' }, 'velocity'), velocityInput, quantiseButton, voiceButton, voiceStatus, h('label', { class: 'file' }, 'Import MIDI', fileInput), exportButton, importNote, h('a', { href: `#/replay/${encodeURIComponent(sessionId)}` }, 'Replay')),
      banner.element,
      errorLine,
      h('div', { class: 'studio-body' }, h('aside', { class: 'left' }, trackList, addTrackButton), h('div', { class: 'roll-column' }, roll.ruler, roll.element, roll.lane), h('aside', { class: 'right' }, h('h3', {}, 'In the session'), people, versionsBox, h('h3', {}, 'Chat'), chatLog, chatForm)),
    ),
  );
  const onChange = () => {
    const arrived = awaitingImport.find((id) => studio.tracks().some((t) => t.id === id) && studio.clips(id).some((c) => studio.notes(id, c.id).length > 0));
    if (arrived) {
      awaitingImport = [];
      selectTrack(arrived);
    }
    renderTracks();
    if (selectedTrack && !studio.tracks().some((t) => t.id === selectedTrack)) selectedTrack = null;
    if (!selectedTrack && studio.tracks().length > 0) selectTrack(studio.tracks()[0]!.id);
    roll.render();
    renderSelection();
    renderTransport();
    renderChat();
  };
  doc.on('afterTransaction', onChange);
  provider.on('sync', (synced: boolean) => synced && onChange());

  return {
    doc,
    studio,
    undo,
    role: () => role,
    provider,
    local,
    unsent: () => unsent,
    player,
    clockOffset: () => clock.offset(),
    destroy: () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('keydown', onTransportKey);
      document.removeEventListener('pointerdown', newGesture, true);
      document.removeEventListener('keydown', newGesture, true);
      undo.destroy();
      cancelAnimationFrame(frame);
      window.clearInterval(clockTimer);
      player.destroy();
      voice.stop();
      provider.destroy();
      void local.destroy();
      doc.destroy();
    },
  };
}
