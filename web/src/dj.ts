// The DJ room: the DJ's view (publish the music and cameras, pick the live camera, see guests and
// viewers, start HLS for a large audience) and the viewer's view (the music and the live camera in
// sync over WebRTC, or the HLS stream when the room is past its WebRTC audience).
import Hls from 'hls.js';
import type { types } from 'mediasoup-client';
import { api, h, problem, socketProtocols, wsUrl, type Session } from './api.js';
import { brandName } from './branding.js';
import { connectionBanner, serverBack } from './connection.js';
import { consume, join, transport, type Notification, type Signaling } from './media-signaling.js';

export interface DjHandle {
  /** What this page receives or sends, for tests. */
  state(): { role: 'dj' | 'viewer' | 'hls' | null; liveCamera: string | null; cameras: string[]; framesShown: number; hlsUrl: string | null };
  destroy(): void;
}

export async function openDj(root: HTMLElement, session: Session, roomId: string): Promise<DjHandle> {
  const url = wsUrl(`/media/${encodeURIComponent(roomId)}`);
  const protocols = socketProtocols(session);
  let signaling: Signaling | null = null;
  let role: 'dj' | 'viewer' | 'hls' | null = null;
  let liveCamera: string | null = null;
  let hls: Hls | null = null;
  let hlsUrl: string | null = null;
  let framesShown = 0;
  const cameras: string[] = [];
  const cameraTracks = new Map<string, MediaStreamTrack>();
  const stream = new MediaStream();
  const video = h('video', { autoplay: true, playsInline: true, muted: false, class: 'stage', 'data-testid': 'stage' });
  const countFrames = () => {
    framesShown++;
    video.requestVideoFrameCallback(countFrames);
  };
  video.requestVideoFrameCallback(countFrames);
  const status = h('div', { class: 'muted', 'data-testid': 'dj-status' }, 'Choose how to join.');
  const errorLine = h('div', { class: 'error', role: 'alert' });
  const fail = (message: string) => (errorLine.textContent = message);
  /** A button's action: the last error goes when it is pressed again, a new one replaces it. */
  const act = (action: () => Promise<unknown>, what?: string, hint?: string) => () => {
    errorLine.textContent = '';
    action().catch((e: Error) => fail(`${what ? `${what}: ` : ''}${e.message}${hint ? `; ${hint}` : ''}`));
  };
  const cameraList = h('div', { class: 'cameras', 'data-testid': 'cameras' });
  const people = h('ul', { class: 'people', 'data-testid': 'room-people' });
  const seenUsers = new Map<string, string>();

  const showLive = (producerId: string | null) => {
    liveCamera = producerId;
    for (const button of cameraList.querySelectorAll<HTMLButtonElement>('button[data-camera]')) button.classList.toggle('on', button.dataset.camera === producerId);
    // Viewers hold one consumer per camera; the server only lets the live one flow.
    const track = producerId ? cameraTracks.get(producerId) : undefined;
    if (track && role === 'viewer') {
      for (const old of stream.getVideoTracks()) stream.removeTrack(old);
      stream.addTrack(track);
    }
  };

  const chatLog = h('div', { class: 'chat-log', 'data-testid': 'room-chat' });
  const chatInput = h('input', { placeholder: 'Say something', 'aria-label': 'room chat message' });
  const chatForm = h('form', { class: 'chat-form' }, chatInput, h('button', { type: 'submit' }, 'Send'));
  chatForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    if (!signaling) return fail('join the room (go live or watch) to chat');
    signaling.request('chat', { text }).then(() => (chatInput.value = ''), (e: Error) => fail(`chat: ${e.message}`));
  });

  const onNotification = (device: Awaited<ReturnType<typeof join>>['device'], recv: types.Transport | null) => (n: Notification) => {
    if (n.method === 'chat') {
      chatLog.append(h('div', { class: 'chat-line' }, h('b', {}, String(n.data.userId)), ' ', String(n.data.text)));
      chatLog.scrollTop = chatLog.scrollHeight;
    }
    if (n.method === 'liveCamera') showLive((n.data.producerId as string | null) ?? null);
    if (n.method === 'audience') audience.textContent = `${Number(n.data.peers)} in the room`;
    if (n.method === 'newProducer') {
      const source = String((n.data.appData as { source?: string }).source ?? n.data.kind);
      seenUsers.set(String(n.data.peerId), `${String(n.data.userId)} (${source})`);
      // Whoever sends the room's music is the DJ, whom tips go to.
      if (source === 'music') djUserId = String(n.data.userId);
      people.replaceChildren(...[...seenUsers.values()].map((u) => h('li', {}, u)));
      if (recv && signaling) {
        const producerId = String(n.data.producerId);
        consume(signaling, device, recv, producerId, 'stage')
          .then(async (consumer) => {
            if (consumer.kind === 'audio') stream.addTrack(consumer.track);
            else cameraTracks.set(producerId, consumer.track);
            if (consumer.kind === 'video' && producerId === liveCamera) showLive(producerId);
            await signaling!.request('resumeConsumer', { consumerId: consumer.id });
          })
          .catch((error: Error) => fail(`could not receive ${producerId}: ${error.message}`));
      }
    }
  };

  // --- the audience and its tips (Super Chat: a larger tip stays pinned for longer) ----------------
  const audience = h('span', { class: 'muted', 'data-testid': 'audience' }, '');
  let djUserId: string | null = null;
  const pinnedList = h('ul', { class: 'tips pinned', 'data-testid': 'pinned-tips' });
  const recentList = h('ul', { class: 'tips', 'data-testid': 'recent-tips' });
  const money = (minor: number, currency: string) => new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(minor / 100);
  const tipLine = (tip: { fromUserId: string; amount: number; currency: string; message: string | null; status: string }) =>
    h('li', { class: tip.status === 'refunded' ? 'refunded' : '' }, h('b', {}, money(tip.amount, tip.currency)), ` ${tip.fromUserId}`, tip.message ? `: ${tip.message}` : '', tip.status === 'refunded' ? ' (refunded)' : '');
  type TipsFrame = { pinned: Parameters<typeof tipLine>[0][]; recent: Parameters<typeof tipLine>[0][] };
  const tipsSocket = new WebSocket(wsUrl(`/live/${encodeURIComponent(roomId)}/tips`), protocols);
  tipsSocket.onmessage = (event) => {
    const frame = JSON.parse(String(event.data)) as TipsFrame;
    pinnedList.replaceChildren(...frame.pinned.map(tipLine));
    recentList.replaceChildren(...frame.recent.map(tipLine));
  };
  const tipAmount = h('input', { type: 'number', min: '0.5', max: '500', step: '0.5', value: '5', class: 'bar-input', 'aria-label': 'tip amount' });
  const tipCurrency = h('select', { 'aria-label': 'tip currency' }, ...['EUR', 'USD', 'GBP'].map((c) => h('option', { value: c }, c)));
  const tipMessage = h('input', { placeholder: 'Message with the tip (optional)', maxlength: '500', 'aria-label': 'tip message' });
  const tipForm = h('form', { class: 'chat-form tip-form' }, tipAmount, tipCurrency, tipMessage, h('button', { type: 'submit', 'data-testid': 'send-tip' }, 'Tip'));
  tipForm.addEventListener('submit', (event) => {
    event.preventDefault();
    errorLine.textContent = '';
    const amount = Math.round(Number(tipAmount.value) * 100);
    if (!djUserId) return fail('no DJ is live in this room to tip');
    if (!Number.isFinite(amount) || amount < 1) return fail('a tip is a positive amount');
    // One key per press: a retried request sends the tip once.
    const body = JSON.stringify({ toUserId: djUserId, amount, currency: tipCurrency.value, ...(tipMessage.value ? { message: tipMessage.value } : {}) });
    void api(session, 'POST', `/api/v1/live/${encodeURIComponent(roomId)}/tips`, body, 'application/json', { 'idempotency-key': crypto.randomUUID() }).then(
      async (response) => (response.ok ? (tipMessage.value = '') : fail(await problem(response, 'the tip was not sent'))),
      () => fail('the tip needs the server, which cannot be reached now'),
    );
  });

  const providerNote = h('p', { class: 'muted', 'data-testid': 'tip-provider' }, '');
  void api(session, 'GET', '/api/v1/tips/provider')
    .then(async (response) => {
      if (!response.ok) return;
      const info = (await response.json()) as { name: string; testMode: boolean };
      providerNote.textContent = info.testMode ? 'Test mode: no money moves.' : `Paid through ${info.name}.`;
    })
    .catch(() => undefined);

  // The connection's state, shown the way every screen shows it.
  const banner = connectionBanner();
  const stopped = new AbortController();
  const watchConnection = (joined: Signaling) => {
    joined.onClose = (code, reason) => {
      if (stopped.signal.aborted || signaling !== joined) return;
      signaling = null;
      role = null;
      status.textContent = 'Choose how to join.';
      if (code !== 1006 && code !== 1001) return banner.offline(`The room closed the connection${reason ? `: ${reason}` : ''}.`);
      banner.offline('Not connected to the server: you left the room. Go live or Watch again once it is back.');
      void serverBack(stopped.signal).then(
        () => banner.offline('The server is back: Go live or Watch to join the room again.'),
        () => undefined,
      );
    };
    banner.online();
  };

  const goLive = async () => {
    const joined = await join(url, protocols);
    signaling = joined.signaling;
    watchConnection(signaling);
    role = 'dj';
    const send = await transport(signaling, joined.device, 'send');
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    await send.produce({ track: media.getAudioTracks()[0]!, appData: { source: 'music' } });
    const camera = await send.produce({
      track: media.getVideoTracks()[0]!,
      appData: { source: 'camera' },
      encodings: [{ scaleResolutionDownBy: 4, maxBitrate: 150_000 }, { scaleResolutionDownBy: 2, maxBitrate: 500_000 }, { maxBitrate: 2_000_000 }],
    });
    addCamera(camera.id);
    stream.addTrack(media.getVideoTracks()[0]!);
    video.muted = true; // the DJ does not hear themself
    signaling.onNotification = onNotification(joined.device, null);
    signaling.notifications.forEach(signaling.onNotification);
    status.textContent = 'You are live. Add cameras, pick the live one, start HLS for a large audience.';
    controls.replaceChildren(
      h('button', { onclick: () => addExtraCamera(send).catch((e: Error) => fail(e.message)) }, '+ Camera'),
      h('button', { onclick: () => startHls().catch((e: Error) => fail(e.message)), 'data-testid': 'start-hls' }, 'Start HLS'),
    );
  };

  const addCamera = (producerId: string) => {
    cameras.push(producerId);
    cameraList.append(
      h('button', { 'data-camera': producerId, onclick: () => signaling?.request('setLiveCamera', { producerId }).catch((e: Error) => fail(e.message)) }, `Camera ${cameras.length}`),
    );
    if (!liveCamera) showLive(producerId);
  };

  const addExtraCamera = async (send: types.Transport) => {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 } });
    const camera = await send.produce({ track: media.getVideoTracks()[0]!, appData: { source: 'camera' } });
    addCamera(camera.id);
  };

  const startHls = async () => {
    const response = await api(session, 'POST', `/api/v1/rooms/${encodeURIComponent(roomId)}/hls`);
    if (!response.ok) throw new Error(await problem(response, 'HLS did not start'));
    hlsUrl = ((await response.json()) as { url: string }).url;
    status.textContent = `HLS: ${location.origin}${hlsUrl}`;
  };

  const watch = async () => {
    const joined = await join(url, protocols);
    signaling = joined.signaling;
    watchConnection(signaling);
    role = 'viewer';
    let recv: types.Transport;
    try {
      recv = await transport(signaling, joined.device, 'recv');
    } catch (error) {
      // Past the room's WebRTC audience: HLS for the picture, this connection for the chat.
      const full = /^room-full: (.*?);/.exec((error as Error).message);
      if (!full) throw error;
      signaling.onNotification = onNotification(joined.device, null);
      signaling.notifications.forEach(signaling.onNotification);
      await watchHls(full[1]);
      return;
    }
    signaling.onNotification = onNotification(joined.device, recv);
    signaling.notifications.forEach(signaling.onNotification);
    status.textContent = 'Watching over WebRTC.';
  };

  const watchHls = async (reason?: string) => {
    const response = await api(session, 'GET', `/api/v1/rooms/${encodeURIComponent(roomId)}/hls`);
    if (!response.ok) throw new Error(await problem(response, 'this room has no HLS stream'));
    hlsUrl = ((await response.json()) as { url: string }).url;
    role = 'hls';
    video.srcObject = null;
    // A freshly started egress names its playlist once the first segments are written.
    status.textContent = `Waiting for the HLS stream${reason ? ` (${reason})` : ''}…`;
    for (let attempt = 0; attempt < 60 && (await fetch(hlsUrl, { method: 'GET', cache: 'no-store' })).status === 404; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (Hls.isSupported()) {
      hls = new Hls({ liveSyncDurationCount: 2, manifestLoadPolicy: { default: { maxTimeToFirstByteMs: 10_000, maxLoadTimeMs: 20_000, timeoutRetry: { maxNumRetry: 4, retryDelayMs: 0, maxRetryDelayMs: 0 }, errorRetry: { maxNumRetry: 6, retryDelayMs: 1000, maxRetryDelayMs: 4000 } } } });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) fail(`HLS: ${data.type} ${data.details}`);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => void video.play().catch((e: Error) => fail(`HLS playback: ${e.message}`)));
      hls.loadSource(hlsUrl);
      hls.attachMedia(video);
    } else video.src = hlsUrl;
    status.textContent = `Watching the HLS stream${reason ? ` (${reason})` : ''}.`;
  };

  video.srcObject = stream;
  const controls = h(
    'div',
    { class: 'toolbar' },
    h('button', { class: 'primary', onclick: act(goLive, 'going live failed'), 'data-testid': 'go-live' }, 'Go live (DJ)'),
    h('button', { onclick: act(watch, 'could not watch', 'try Watch via HLS'), 'data-testid': 'watch' }, 'Watch'),
    h('button', { onclick: act(() => watchHls()), 'data-testid': 'watch-hls' }, 'Watch via HLS'),
  );
  root.replaceChildren(
    h(
      'div',
      { class: 'dj' },
      h('div', { class: 'toolbar' }, h('h2', {}, `${brandName() ? `${brandName()} · ` : ''}DJ room: ${roomId}`), audience, status),
      banner.element,
      controls,
      errorLine,
      h('div', { class: 'dj-body' }, video, h('aside', { class: 'right' }, h('h3', {}, 'Cameras'), cameraList, h('h3', {}, 'In the room'), people, h('h3', {}, 'Chat'), chatLog, chatForm, h('h3', {}, 'Tips'), pinnedList, recentList, tipForm, providerNote)),
    ),
  );
  return {
    state: () => ({ role, liveCamera, cameras: [...cameras], framesShown, hlsUrl }),
    destroy: () => {
      stopped.abort();
      tipsSocket.close();
      signaling?.close();
      hls?.destroy();
      for (const track of stream.getTracks()) track.stop();
    },
  };
}
