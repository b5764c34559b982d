import WebSocket from 'ws';

export interface Reply {
  id?: number | string;
  ok?: boolean;
  data?: Record<string, unknown>;
  error?: { code: string; message: string };
  method?: string;
}

/** A raw signaling client: requests by id, notifications in arrival order, the close code. */
export class RawPeer {
  private nextId = 1;
  readonly notifications: Reply[] = [];
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const reply = JSON.parse(String(raw)) as Reply;
      if (typeof reply.id === 'number') this.waiting.get(reply.id)?.(reply);
      else this.notifications.push(reply);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static open(url: string): Promise<RawPeer> {
    const ws = new WebSocket(url);
    const peer = new RawPeer(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(peer));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body) as unknown })));
      });
      ws.once('error', reject);
    });
  }

  request(method: string, data?: unknown): Promise<Reply> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, data }));
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  async ok(method: string, data?: unknown): Promise<Record<string, unknown>> {
    const reply = await this.request(method, data);
    if (!reply.ok) throw new Error(`${method} failed: ${JSON.stringify(reply.error)}`);
    return reply.data ?? {};
  }

  close(): void {
    this.ws.close();
  }
}

/** Opus RTP parameters a raw peer can produce with (no media flows; enough for signaling). */
export const OPUS_RTP = {
  mid: '0',
  codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc: 11111111 }],
  rtcp: { cname: 'raw-peer', reducedSize: true },
};
