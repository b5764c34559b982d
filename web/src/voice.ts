// Voice chat of a studio session: the microphone goes to /voice/<session>, everyone else's voice
// comes back and plays. Who is talking is shown from the session's awareness (the server's entry).
import { consume, join, transport, type Notification, type Signaling } from './media-signaling.js';

export class VoiceChat {
  private signaling: Signaling | null = null;
  private readonly audio = new Map<string, HTMLAudioElement>();
  private stream: MediaStream | null = null;

  /** `protocols` carry the sign-in (see `socketProtocols`), so the URL holds no token. */
  constructor(
    private readonly url: string,
    private readonly protocols: string[] = [],
  ) {}

  get active(): boolean {
    return this.signaling !== null;
  }

  async start(): Promise<void> {
    const { signaling, device } = await join(this.url, this.protocols);
    this.signaling = signaling;
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
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
      const send = await transport(signaling, device, 'send');
      await send.produce({ track: this.stream.getAudioTracks()[0]!, appData: { source: 'mic' } });
    } catch (error) {
      // Viewers may only listen; a refused microphone still lets one listen.
      console.warn('voice: listening only:', (error as Error).message);
    }
  }

  stop(): void {
    this.signaling?.close();
    this.signaling = null;
    this.stream?.getTracks().forEach((track) => track.stop());
    for (const element of this.audio.values()) element.srcObject = null;
    this.audio.clear();
  }
}
