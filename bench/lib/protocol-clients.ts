// Raw-protocol clients for the benchmark: the plain y-websocket protocol and Hocuspocus's framing of
// it. No provider library runs here, so the generator spends its CPU on sending and counting only.
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as syncProtocol from 'y-protocols/sync';
import * as Y from 'yjs';

/** Top-level message types; 0–3 are shared, the rest are Hocuspocus's own. */
const messageSync = 0;
const messageAuth = 2;
const hocuspocusClose = 7;
/** Hocuspocus auth sub-types (@hocuspocus/common AuthMessageType); y-protocols/auth uses 0 for "denied". */
const hocuspocusAuthToken = 0;
const hocuspocusAuthDenied = 1;
const plainAuthDenied = 0;

export type ProtocolName = 'plain' | 'hocuspocus';

const emptyDoc = new Y.Doc();

/** A message the server sent that ends the client's session (denied, closed by the server). */
export class ProtocolError extends Error {}

/**
 * Frames y-protocols messages for one document. Hocuspocus prefixes every message with the document
 * name (a varString) and wants an Auth message before anything else on that document.
 */
export class Framing {
  private readonly prefix: Uint8Array;

  constructor(
    readonly protocol: ProtocolName,
    readonly docName: string,
  ) {
    const encoder = encoding.createEncoder();
    if (protocol === 'hocuspocus') encoding.writeVarString(encoder, docName);
    this.prefix = encoding.toUint8Array(encoder);
  }

  private message(write: (encoder: encoding.Encoder) => void): Uint8Array {
    const encoder = encoding.createEncoder();
    encoding.writeUint8Array(encoder, this.prefix);
    write(encoder);
    return encoding.toUint8Array(encoder);
  }

  /** What a fresh client sends on open: (auth with an empty token,) sync step 1 with an empty state vector. */
  hello(): Uint8Array[] {
    const step1 = this.message((e) => {
      encoding.writeVarUint(e, messageSync);
      syncProtocol.writeSyncStep1(e, emptyDoc);
    });
    if (this.protocol === 'plain') return [step1];
    const auth = this.message((e) => {
      encoding.writeVarUint(e, messageAuth);
      encoding.writeVarUint(e, hocuspocusAuthToken);
      encoding.writeVarString(e, '');
    });
    return [auth, step1];
  }

  /** The answer to the server's sync step 1: we hold nothing, so an empty step 2. */
  emptyStep2(): Uint8Array {
    return this.message((e) => {
      encoding.writeVarUint(e, messageSync);
      syncProtocol.writeSyncStep2(e, emptyDoc);
    });
  }

  update(update: Uint8Array): Uint8Array {
    return this.message((e) => {
      encoding.writeVarUint(e, messageSync);
      syncProtocol.writeUpdate(e, update);
    });
  }

  /** A decoder positioned after the document-name prefix (whose name is not checked: one doc per socket). */
  open(data: Uint8Array): decoding.Decoder {
    const decoder = decoding.createDecoder(data);
    if (this.protocol === 'hocuspocus') {
      const nameLength = decoding.readVarUint(decoder);
      decoder.pos += nameLength;
    }
    return decoder;
  }
}

export interface ClientOptions {
  /** Called with a view of each sync Update's payload, at receipt. */
  onUpdate?: (update: Uint8Array) => void;
  /** Called when the socket closes after the handshake without our asking. */
  onLost?: (reason: string) => void;
  timeoutMs?: number;
}

/** One WebSocket speaking the sync protocol for one document. */
export class WireClient {
  /** The payload of the server's sync step 2 (the document as it was when we joined). */
  initialState: Uint8Array = new Uint8Array();
  private synced = false;

  private constructor(
    readonly ws: WebSocket,
    readonly framing: Framing,
    private readonly options: ClientOptions,
  ) {}

  /** Opens a socket, completes the sync handshake, and resolves once the server's step 2 arrived. */
  static connect(url: string, framing: Framing, options: ClientOptions = {}): Promise<WireClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client = new WireClient(ws, framing, options);
    return new Promise<WireClient>((resolve, reject) => {
      let lostReason: string | undefined;
      const fail = (error: Error) => {
        clearTimeout(timer);
        ws.terminate();
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error(`no sync step 2 within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
      ws.on('error', (error) => fail(error));
      ws.on('close', (code, reason) => {
        const why = `${code} ${reason.toString() || '(no reason)'}`;
        if (client.synced) options.onLost?.(lostReason ?? why);
        else fail(new Error(`closed before sync: ${why}`));
      });
      ws.on('open', () => {
        for (const message of framing.hello()) ws.send(message);
      });
      ws.on('message', (data: Buffer) => {
        try {
          if (client.receive(data)) {
            clearTimeout(timer);
            resolve(client);
          }
        } catch (error) {
          if (!client.synced) return fail(error as Error);
          lostReason = (error as Error).message;
          ws.terminate();
        }
      });
    });
  }

  send(message: Uint8Array): void {
    this.ws.send(message);
  }

  close(): void {
    this.ws.removeAllListeners();
    this.ws.on('error', () => {});
    this.ws.terminate();
  }

  /** Handles one message; true when it completed the sync handshake. */
  private receive(data: Uint8Array): boolean {
    const decoder = this.framing.open(data);
    const type = decoding.readVarUint(decoder);
    if (type === messageSync) {
      const step = decoding.readVarUint(decoder);
      if (step === syncProtocol.messageYjsUpdate) {
        this.options.onUpdate?.(decoding.readVarUint8Array(decoder));
      } else if (step === syncProtocol.messageYjsSyncStep1) {
        this.ws.send(this.framing.emptyStep2());
      } else if (step === syncProtocol.messageYjsSyncStep2 && !this.synced) {
        this.initialState = decoding.readVarUint8Array(decoder).slice();
        this.synced = true;
        return true;
      }
    } else if (type === messageAuth) {
      const sub = decoding.readVarUint(decoder);
      const denied = this.framing.protocol === 'hocuspocus' ? hocuspocusAuthDenied : plainAuthDenied;
      if (sub === denied) throw new ProtocolError(`permission denied: ${decoding.readVarString(decoder)}`);
    } else if (type === hocuspocusClose && this.framing.protocol === 'hocuspocus') {
      throw new ProtocolError(`closed by server: ${decoding.readVarString(decoder)}`);
    }
    // Awareness, query-awareness and Hocuspocus's SyncStatus acknowledgements are not counted.
    return false;
  }
}

const contentString = 4;
const hasOrigin = 0x80;
const hasRightOrigin = 0x40;
const hasParentSub = 0x20;

/**
 * Which client's clocks [from, to) a Yjs v1 update carries. A lone string item (what our writers
 * send) is read straight from the header, about 0.1 µs; anything else (say, several updates a server
 * merged into one) goes through Yjs's own parser, about 1 µs. Null when it mixes several clients.
 */
export function clockRange(update: Uint8Array): { client: number; from: number; to: number } | null {
  const decoder = decoding.createDecoder(update);
  const clients = decoding.readVarUint(decoder);
  const structs = decoding.readVarUint(decoder);
  if (clients === 1 && structs === 1) {
    const client = decoding.readVarUint(decoder);
    const from = decoding.readVarUint(decoder);
    const info = decoding.readUint8(decoder);
    if ((info & 0x1f) === contentString) {
      if (info & hasOrigin) skipVarUints(decoder, 2);
      if (info & hasRightOrigin) skipVarUints(decoder, 2);
      if (!(info & (hasOrigin | hasRightOrigin))) {
        if (decoding.readVarUint(decoder) === 1) skipString(decoder);
        else skipVarUints(decoder, 2);
        if (info & hasParentSub) skipString(decoder);
      }
      const length = decoding.readVarUint(decoder);
      const start = decoder.pos;
      let ascii = true;
      for (let i = start; i < start + length; i++) ascii &&= update[i]! < 0x80;
      if (ascii) return { client, from, to: from + length };
      return { client, from, to: from + new TextDecoder().decode(update.subarray(start, start + length)).length };
    }
  }
  const meta = Y.parseUpdateMeta(update);
  const [first, ...others] = meta.from;
  if (!first || others.length) return null;
  return { client: first[0], from: first[1], to: meta.to.get(first[0])! };
}

// Plain functions, not closures over the decoder: a closure makes this hot path ten times slower.
function skipVarUints(decoder: decoding.Decoder, count: number): void {
  for (let i = 0; i < count; i++) decoding.readVarUint(decoder);
}

/** Skips a varString by its byte length; TextDecoder would cost more than the rest put together. */
function skipString(decoder: decoding.Decoder): void {
  const length = decoding.readVarUint(decoder);
  decoder.pos += length;
}
