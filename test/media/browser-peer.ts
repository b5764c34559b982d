// Runs in headless Chromium (bundled by esbuild in signaling.test.ts): a mediasoup-client peer
// speaking Veza's /media signaling. `window.vezaPeer` publishes fake audio and video, or consumes
// whatever the room sends, and reports the receive side's getStats().
import type { types } from 'mediasoup-client';
import { consume, join, transport, type Notification } from '../../web/src/media-signaling.js';

type Consumer = types.Consumer;
// This file runs in the browser; the project's TypeScript settings carry no DOM library.
declare class AudioContext {
  createOscillator(): { frequency: { value: number }; connect<T>(node: T): T; start(): void };
  createGain(): { gain: { value: number }; connect<T>(node: T): T };
  createMediaStreamDestination(): { stream: { getAudioTracks(): types.Producer['track'][] } };
}
declare const navigator: { mediaDevices: { getUserMedia(constraints: unknown): Promise<{ getAudioTracks(): types.Producer['track'][]; getVideoTracks(): types.Producer['track'][] }> } };
const window = globalThis as unknown as Record<string, unknown>;

interface PeerReport {
  notifications: Notification[];
  consumers: { kind: string; producerId: string }[];
  errors: string[];
}

/** `publish`: fake microphone and camera; `publish-audio`: the microphone only (a voice room); `consume`: receive everything. */
async function start(url: string, role: 'publish' | 'publish-audio' | 'consume'): Promise<void> {
  const report: PeerReport = { notifications: [], consumers: [], errors: [] };
  window.vezaReport = report;
  const { signaling, device } = await join(url);
  if (role !== 'consume') {
    const send = await transport(signaling, device, 'send');
    if (role === 'publish-audio') {
      // A voice at speaking level: a 220 Hz tone at -12 dBFS (the fake microphone only beeps, near -75 dBov on average).
      const context = new AudioContext();
      const tone = context.createOscillator();
      const gain = context.createGain();
      gain.gain.value = 0.25;
      const out = context.createMediaStreamDestination();
      tone.frequency.value = 220;
      tone.connect(gain).connect(out);
      tone.start();
      await send.produce({ track: out.stream.getAudioTracks()[0]!, appData: { source: 'mic' } });
      window.vezaLeave = () => signaling.close();
      return;
    }
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 15 } });
    await send.produce({ track: stream.getAudioTracks()[0]!, appData: { source: 'mic' } });
    await send.produce({ track: stream.getVideoTracks()[0]!, appData: { source: 'camera' } });
    window.vezaLeave = () => signaling.close();
    return;
  }
  const recv = await transport(signaling, device, 'recv');
  const consumers: Consumer[] = [];
  const take = async (producerId: string) => {
    const consumer = await consume(signaling, device, recv, producerId);
    consumers.push(consumer);
    report.consumers.push({ kind: consumer.kind, producerId });
    await signaling.request('resumeConsumer', { consumerId: consumer.id });
  };
  const seen = (n: Notification) => {
    report.notifications.push(n);
    if (n.method === 'newProducer') take(String(n.data.producerId)).catch((error: Error) => report.errors.push(error.message));
  };
  for (const n of signaling.notifications) seen(n);
  signaling.onNotification = seen;
  window.vezaLeave = () => signaling.close();
  window.vezaStats = async () => {
    const out: Record<string, { packetsReceived: number; framesDecoded: number }> = {};
    const stats = await recv.getStats();
    stats.forEach((entry: { type: string; kind?: string; packetsReceived?: number; framesDecoded?: number }) => {
      if (entry.type !== 'inbound-rtp' || !entry.kind) return;
      const current = out[entry.kind] ?? { packetsReceived: 0, framesDecoded: 0 };
      current.packetsReceived += entry.packetsReceived ?? 0;
      current.framesDecoded += entry.framesDecoded ?? 0;
      out[entry.kind] = current;
    });
    return out;
  };
}

window.vezaPeer = start;
