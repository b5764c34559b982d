// A lean HTTP/1.1 client for load generators: one keep-alive connection, one request in flight on
// it, the response parsed by hand (status, Content-Length or chunked body, Content-Encoding decoded).
// Node's `fetch` costs some 0.5–1.3 ms of CPU per request (streams, a Response object, header
// objects); on a 2-core machine that shares its cores with the server under test, that cost shows
// up as the server's latency. This one costs a small fraction of it, so a closed loop measures the
// server rather than its client. GET only: what the benchmarks that use it ask.
import net from 'node:net';
import zlib from 'node:zlib';

export interface LeanResponse {
  status: number;
  headers: Map<string, string>;
  /** The body, decoded from its Content-Encoding (br, gzip, deflate). */
  body: Buffer;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class LeanHttpConnection {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (r: LeanResponse) => void; reject: (e: Error) => void } | null = null;
  private closed: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.tryParse();
    });
    const fail = (error: Error) => {
      this.closed ??= error;
      this.pending?.reject(error);
      this.pending = null;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<LeanHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new LeanHttpConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** GET `path` with `headers`; resolves once the whole response is in. */
  get(path: string, headers: Record<string, string>): Promise<LeanResponse> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.pending) return Promise.reject(new Error('one request at a time on a connection'));
    let head = `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(`${head}\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private tryParse(): void {
    if (!this.pending) return;
    const end = this.buffer.indexOf(HEADER_END);
    if (end < 0) return;
    const lines = this.buffer.toString('latin1', 0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const start = end + HEADER_END.length;
    let body: Buffer;
    let consumed: number;
    const length = headers.get('content-length');
    if (length !== undefined) {
      consumed = start + Number(length);
      if (this.buffer.length < consumed) return;
      body = this.buffer.subarray(start, consumed);
    } else if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      let at = start;
      for (;;) {
        const lineEnd = this.buffer.indexOf('\r\n', at);
        if (lineEnd < 0) return;
        const size = parseInt(this.buffer.toString('latin1', at, lineEnd), 16);
        if (this.buffer.length < lineEnd + 2 + size + 2) return;
        if (size === 0) {
          consumed = lineEnd + 4;
          break;
        }
        parts.push(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      // No body framing: only statuses without a body (204, 304) are expected here.
      consumed = start;
      body = Buffer.alloc(0);
    }
    this.buffer = this.buffer.subarray(consumed);
    const encoding = headers.get('content-encoding');
    if (encoding === 'br') body = zlib.brotliDecompressSync(body);
    else if (encoding === 'gzip') body = zlib.gunzipSync(body);
    else if (encoding === 'deflate') body = zlib.inflateSync(body);
    const { resolve } = this.pending;
    this.pending = null;
    resolve({ status, headers, body });
  }
}
