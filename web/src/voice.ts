// Voice chat of a studio session: the microphone goes to /voice/<session>, everyone else's voice
// comes back and plays. Who is talking is shown from the session's awareness (the server's entry).
// A call the network or a server restart drops is joined again once the server answers; the page
// hears about every change of state (`onState`) to say so.
import { serverBack } from './connection.js';
import { consume, join, transport, type Notification, type Signaling } from './media-signaling.js';

export type VoiceState = 'off' | 'joining' | 'on' | 'reconnecting';

/** Closes after which joining again may work: the server going away or restarting, the network, "try again later". */
const TRANSIENT_CLOSES = new Set([1001, 1006, 1011, 1012, 1013, 4429]);
/** Attempts to join again after a drop before giving up (each waits for the server's health first). */
const REJOIN_ATTEMPTS = 5;

export class VoiceChat {
  private signaling: Signaling | null = null;
  private readonly audio = new Map<string, HTMLAudioElement>();
  private stream: MediaStream | null = null;
  /** Set while the user wants to be in the call (from start to stop), whatever the connection does. */
  private wanted: AbortController | null = null;
  private current: VoiceState = 'off';
  /** Called on every change of state; `detail` is a short sentence for the page when there is one. */
  onState: (state: VoiceState, detail?: string) => void = () => undefined;

  /** `protocols` carry the sign-in (see `socketProtocols`), so the URL holds no token. */
  constructor(
    private readonly url: string,
    private readonly protocols: string[] = [],
  ) {}

  /** In the call or on the way to it (joining, or joining again after a drop). */
  get active(): boolean {
    return this.wanted !== null;
  }

  get state(): VoiceState {
    return this.current;
  }

  /** Joins the call; rejects (and leaves the state off) when the first attempt fails. */
  async start(): Promise<void> {
    if (this.wanted) return;
    const wanted = new AbortController();
    this.wanted = wanted;
    this.setState('joining');
    try {
      await this.connect(wanted.signal);
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  stop(): void {
    this.end();
  }

  /** Out of the call for good: the microphone released; `detail` says why when it was not the user's choice. */
  private end(detail?: string): void {
    this.wanted?.abort();
    this.wanted = null;
    this.hangUp();
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.setState('off', detail);
  }

  private setState(state: VoiceState, detail?: string): void {
    this.current = state;
    this.onState(state, detail);
  }

  private async connect(signal: AbortSignal): Promise<void> {
    const { signaling, device } = await join(this.url, this.protocols);
    if (signal.aborted) return signaling.close();
    this.signaling = signaling;
    signaling.onClose = (code, reason) => {
      if (this.signaling !== signaling || signal.aborted) return;
      const wasOn = this.current === 'on';
      this.hangUp();
      // While joining, `connect` itself fails and its caller decides; once in the call, rejoin.
      if (!wasOn) return;
      if (TRANSIENT_CLOSES.has(code)) void this.rejoin(signal);
      else this.end(`The voice call ended${reason ? `: ${reason}` : ''}.`);
    };
    const recv = await transport(signaling, device, 'recv');
    const listen = (n: Notification) => {
      if (n.method === 'newProducer' && n.data.kind === 'audio') {
        const producerId = String(n.data.producerId);
        consume(signaling, device, recv, producerId)
          .then(async (consumer) => {
            const element = new Audio();
            element.srcObject = new MediaStream([consumer.track]);
            element.autoplay = true;
            this.audio.set(producerId, element);
            await signaling.request('resumeConsumer', { consumerId: consumer.id });
          })
          .catch((error: Error) => console.warn('voice: could not listen', error.message));
      }
      if (n.method === 'producerClosed') this.audio.get(String(n.data.producerId))?.remove();
    };
    signaling.notifications.forEach(listen);
    signaling.onNotification = listen;
    try {
      // The microphone asked for once: joining again after a drop sends the same track.
      this.stream ??= await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
      const send = await transport(signaling, device, 'send');
      await send.produce({ track: this.stream.getAudioTracks()[0]!, appData: { source: 'mic' } });
    } catch (error) {
      // Viewers may only listen; a refused microphone still lets one listen.
      console.warn('voice: listening only:', (error as Error).message);
    }
    if (signal.aborted) return;
    if (this.signaling !== signaling) throw new Error('the voice room closed the connection while joining');
    this.setState('on');
  }

  /** After a drop: waits for the server, then joins again, a few times at most. */
  private async rejoin(signal: AbortSignal): Promise<void> {
    for (let attempt = 1; attempt <= REJOIN_ATTEMPTS && !signal.aborted; attempt++) {
      this.setState('reconnecting', 'Voice lost the server: joining the call again when it is back.');
      try {
        await serverBack(signal);
        await this.connect(signal);
        return;
      } catch {
        this.hangUp();
        // The server answers but the voice room does not yet (media still starting): a moment more.
        await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
      }
    }
    if (!signal.aborted) this.end('Voice could not join the call again; press Join voice to try once more.');
  }

  /** Closes the signaling connection and the voices heard through it, keeping the microphone. */
  private hangUp(): void {
    const signaling = this.signaling;
    this.signaling = null;
    signaling?.close();
    for (const element of this.audio.values()) element.srcObject = null;
    this.audio.clear();
  }
}
