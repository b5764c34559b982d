// A .tar.gz written as a stream: POSIX ustar headers (a pax header first for a name longer than
// ustar holds), each file's bytes padded to 512-byte blocks, two zero blocks at the end, the whole
// through gzip into the file. Files are copied in with backpressure; nothing is held whole in memory.
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGzip, type Gzip } from 'node:zlib';

const BLOCK = 512;

function field(header: Buffer, offset: number, length: number, value: string): void {
  header.write(value, offset, length, 'utf8');
}

function octal(header: Buffer, offset: number, length: number, value: number): void {
  field(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

function header(name: string, size: number, mtime: Date, type: '0' | 'x'): Buffer {
  const block = Buffer.alloc(BLOCK);
  field(block, 0, 100, name);
  octal(block, 100, 8, 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, size);
  octal(block, 136, 12, Math.floor(mtime.getTime() / 1000));
  block.fill(' ', 148, 156);
  field(block, 156, 1, type);
  field(block, 257, 6, 'ustar\0');
  field(block, 263, 2, '00');
  let sum = 0;
  for (const byte of block) sum += byte;
  field(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** A pax extended header record: `<length> path=<name>\n`, the length counting itself. */
function paxPath(name: string): Buffer {
  const body = ` path=${name}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return Buffer.from(`${length}${body}`);
}

export class TarGzWriter {
  private readonly gzip: Gzip;
  private readonly out: WriteStream;
  private readonly finished: Promise<void>;
  /** Bytes written into the archive before compression. */
  bytes = 0;

  constructor(file: string) {
    this.gzip = createGzip();
    this.out = createWriteStream(file, { mode: 0o600 });
    this.finished = new Promise((resolve, reject) => {
      this.out.on('finish', resolve);
      this.out.on('error', reject);
      this.gzip.on('error', reject);
    });
    this.finished.catch(() => undefined);
    this.gzip.pipe(this.out);
  }

  private async write(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    if (!this.gzip.write(chunk)) await Promise.race([once(this.gzip, 'drain'), this.finished]);
  }

  private async entryHeader(name: string, size: number, mtime: Date): Promise<void> {
    const safe = name.replace(/^\/+/, '');
    if (Buffer.byteLength(safe) > 99) {
      const pax = paxPath(safe);
      await this.write(header('PaxHeader', pax.length, mtime, 'x'));
      await this.write(pax);
      await this.pad(pax.length);
      await this.write(header(safe.slice(0, 99), size, mtime, '0'));
    } else {
      await this.write(header(safe, size, mtime, '0'));
    }
  }

  private async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest > 0) await this.write(Buffer.alloc(BLOCK - rest));
  }

  /** One file of the archive from memory. */
  async add(name: string, content: string | Uint8Array, mtime = new Date()): Promise<void> {
    const data = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    await this.entryHeader(name, data.length, mtime);
    await this.write(data);
    await this.pad(data.length);
  }

  /** One file of the archive copied from disk. */
  async addFile(name: string, file: string): Promise<number> {
    const info = await stat(file);
    await this.entryHeader(name, info.size, info.mtime);
    let copied = 0;
    for await (const chunk of createReadStream(file)) {
      const part = chunk as Buffer;
      // A file that grows while it is copied is cut at the size its header announced.
      const take = part.subarray(0, Math.max(0, info.size - copied));
      copied += take.length;
      if (take.length > 0) await this.write(take);
      if (copied >= info.size) break;
    }
    if (copied < info.size) await this.write(Buffer.alloc(info.size - copied));
    await this.pad(info.size);
    return info.size;
  }

  /** Writes the end-of-archive blocks and waits for the file to be on disk. */
  async close(): Promise<void> {
    await this.write(Buffer.alloc(BLOCK * 2));
    this.gzip.end();
    await this.finished;
  }

  /** Stops writing (the caller removes the file). */
  destroy(): void {
    this.gzip.destroy();
    this.out.destroy();
  }
}
