// The shared beat clock. Each client estimates its offset to the server's clock (NTP-style: several
// request/answer samples, trusting the one with the shortest round trip, whose one-way delays can
// differ least), and the session's transport in the document says when beat 0 fell in server time.
// Every client then computes the same beat for the same instant. Browser-safe: no Node imports.
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { Transport } from './model.js';

/** A veza extension of the y-websocket protocol on /collab: clock request and answer. */
export const CLOCK_MESSAGE = 100;

export interface ClockSample {
  /** Client time when the request left, ms. */
  sentAt: number;
  /** Server time in the answer, ms. */
  serverTime: number;
  /** Client time when the answer arrived, ms. */
  receivedAt: number;
}

/** Client → server: [100, float64 client time]. */
export function clockRequest(sentAt: number): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, CLOCK_MESSAGE);
  encoding.writeFloat64(e, sentAt);
  return encoding.toUint8Array(e);
}

/** Server → client: [100, float64 the client's time echoed, float64 server time]. */
export function clockAnswer(sentAt: number, serverTime: number): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, CLOCK_MESSAGE);
  encoding.writeFloat64(e, sentAt);
  encoding.writeFloat64(e, serverTime);
  return encoding.toUint8Array(e);
}

/** Reads a request's client time (after the type varuint has been read by the caller's decoder). */
export function readClockRequest(decoder: decoding.Decoder): number {
  const sentAt = decoding.readFloat64(decoder);
  if (!Number.isFinite(sentAt)) throw new RangeError('clock request time is not a finite number');
  return sentAt;
}

/** The server's side: the answer to a whole request message, stamped `serverTime`. */
export function answerClockRequest(request: Uint8Array, serverTime: number): Uint8Array {
  const decoder = decoding.createDecoder(request);
  if (decoding.readVarUint(decoder) !== CLOCK_MESSAGE) throw new RangeError('not a clock request');
  return clockAnswer(readClockRequest(decoder), serverTime);
}

/** Parses an answer; null when `message` is not one. */
export function readClockAnswer(message: Uint8Array): { sentAt: number; serverTime: number } | null {
  try {
    const d = decoding.createDecoder(message);
    if (decoding.readVarUint(d) !== CLOCK_MESSAGE) return null;
    return { sentAt: decoding.readFloat64(d), serverTime: decoding.readFloat64(d) };
  } catch {
    return null;
  }
}

/**
 * Offset estimate from samples: the sample with the shortest round trip wins, offset =
 * serverTime − midpoint(sent, received). Its error is at most half that round trip, and only as large
 * as the difference between its two one-way delays.
 */
export class ClockEstimator {
  private readonly samples: (ClockSample & { rtt: number })[] = [];

  constructor(private readonly keep = 16) {}

  add(sample: ClockSample): void {
    const rtt = sample.receivedAt - sample.sentAt;
    if (!(rtt >= 0)) return;
    this.samples.push({ ...sample, rtt });
    if (this.samples.length > this.keep) this.samples.shift();
  }

  get size(): number {
    return this.samples.length;
  }

  /** Server time minus client time, ms; null before the first sample. */
  offset(): number | null {
    const best = this.best();
    return best ? best.serverTime - (best.sentAt + best.receivedAt) / 2 : null;
  }

  /** Worst-case error of `offset()`, ms: half the best round trip. */
  uncertainty(): number | null {
    const best = this.best();
    return best ? best.rtt / 2 : null;
  }

  /** The server's time now, given the client's clock. */
  serverNow(clientNow: number): number {
    return clientNow + (this.offset() ?? 0);
  }

  private best(): (ClockSample & { rtt: number }) | undefined {
    let best: (ClockSample & { rtt: number }) | undefined;
    for (const s of this.samples) if (!best || s.rtt < best.rtt) best = s;
    return best;
  }
}

/**
 * Beats played since beat 0 of the timeline as if there were no loop ("raw" beats: they only grow
 * while playing). With a loop, `beatAt` folds them into the loop once playback reaches its end.
 */
export function rawBeatAt(transport: Transport, serverTime: number): number {
  if (!transport.playing) return transport.stoppedAtBeat;
  return Math.max(0, ((serverTime - transport.beatZeroAt) * transport.bpm) / 60_000);
}

/** Whether this playback loops: the loop is on and playback started before its end. */
function loops(transport: Transport): boolean {
  return transport.looping && transport.loopEnd > transport.loopStart && transport.stoppedAtBeat < transport.loopEnd;
}

/** The beat (fractional, from 0) of the transport at a server time, inside the loop when it loops. */
export function beatAt(transport: Transport, serverTime: number): number {
  const raw = rawBeatAt(transport, serverTime);
  if (!transport.playing || !loops(transport) || raw < transport.loopEnd) return raw;
  const length = transport.loopEnd - transport.loopStart;
  return transport.loopStart + ((raw - transport.loopEnd) % length);
}

/** A stretch of the timeline, beats [from, to), heard at raw beat `beat + offset`. */
export interface PlayedSpan {
  from: number;
  to: number;
  offset: number;
}

/**
 * What the raw beats [fromRaw, toRaw) play: the timeline itself, or after the loop's end, the loop
 * again and again. A scheduler asks for its look-ahead window and schedules each span's notes.
 */
export function playedSpans(transport: Transport, fromRaw: number, toRaw: number): PlayedSpan[] {
  if (toRaw <= fromRaw) return [];
  if (!loops(transport)) return [{ from: fromRaw, to: toRaw, offset: 0 }];
  const { loopStart, loopEnd } = transport;
  const length = loopEnd - loopStart;
  const spans: PlayedSpan[] = [];
  let raw = fromRaw;
  if (raw < loopEnd) {
    const end = Math.min(toRaw, loopEnd);
    spans.push({ from: raw, to: end, offset: 0 });
    raw = end;
  }
  while (raw < toRaw) {
    // Pass k of the loop starts at raw beat loopEnd + k × length, playing loopStart.
    const passStart = loopEnd + Math.floor((raw - loopEnd) / length) * length;
    const offset = passStart - loopStart;
    const end = Math.min(toRaw, passStart + length);
    spans.push({ from: raw - offset, to: end - offset, offset });
    raw = end;
  }
  return spans;
}

/** The transport fields that start playback from `fromBeat` at server time `serverTime`. */
export function startTransport(bpm: number, fromBeat: number, serverTime: number): Pick<Transport, 'playing' | 'bpm' | 'beatZeroAt' | 'stoppedAtBeat'> {
  return { playing: true, bpm, beatZeroAt: serverTime - (fromBeat * 60_000) / bpm, stoppedAtBeat: fromBeat };
}

/** The transport fields that stop playback at server time `serverTime`, remembering the beat. */
export function stopTransport(transport: Transport, serverTime: number): Pick<Transport, 'playing' | 'stoppedAtBeat'> {
  return { playing: false, stoppedAtBeat: beatAt(transport, serverTime) };
}

/** Server time in ms with sub-millisecond resolution where the platform has it. */
export function preciseNow(): number {
  return globalThis.performance ? globalThis.performance.timeOrigin + globalThis.performance.now() : Date.now();
}
