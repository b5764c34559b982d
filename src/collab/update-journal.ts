import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** One accepted update as the journal keeps it until it is in the database. */
export interface JournalRecord {
  tenantId: string;
  docId: string;
  author: string;
  /** Unix ms when the server accepted it. */
  at: number;
  update: Uint8Array;
}

export interface JournalSegment {
  id: number;
  records: JournalRecord[];
  /** Bytes after the last whole frame (a write cut short by a crash); they are not read. */
  tornBytes: number;
}

const SUFFIX = '.journal';
const FRAME_HEADER = 8;
/** Segments are opened for synchronised appends: a write returns once its data is on disk (one system call, not a write and an fdatasync). */
const APPEND_DURABLE = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;

/**
 * The update log's write-ahead journal on the embedded database: accepted updates are appended to a
 * file and made durable (a synchronised write, `O_DSYNC`) at every group commit, and moved into the database in bulk
 * less often, so the database pays one statement a second instead of ten and each document's
 * updates arrive together. The file is split in segments: moving to the database starts a new
 * segment, and segments whose updates are all in the database are deleted.
 *
 * A segment is a sequence of frames, one per append: length (u32), CRC-32 of the body (u32), body.
 * A frame that a crash cut short fails its length or checksum, and reading stops there: its updates
 * were never acknowledged as durable.
 */
export class UpdateJournal {
  private current: { id: number; file: FileHandle } | null = null;
  private lastId = 0;
  /** Segments not yet known to be in the database, oldest first. */
  private readonly segments: number[] = [];

  private constructor(readonly dir: string) {}

  /** Opens the journal in `dir` and reads what a previous run left there (to be moved to the database). */
  static async open(dir: string): Promise<{ journal: UpdateJournal; leftover: JournalSegment[] }> {
    await mkdir(dir, { recursive: true });
    const journal = new UpdateJournal(dir);
    const ids = (await readdir(dir))
      .filter((name) => name.endsWith(SUFFIX) && /^\d+$/.test(name.slice(0, -SUFFIX.length)))
      .map((name) => Number(name.slice(0, -SUFFIX.length)))
      .sort((a, b) => a - b);
    const leftover: JournalSegment[] = [];
    for (const id of ids) {
      leftover.push({ id, ...decodeSegment(await readFile(journal.file(id))) });
      journal.segments.push(id);
      journal.lastId = id;
    }
    return { journal, leftover };
  }

  /** Appends the updates as one frame of the current segment and resolves once they are on disk. */
  async append(groups: readonly JournalGroup[]): Promise<void> {
    if (groups.length === 0) return;
    const frame = encodeFrame(groups);
    if (!this.current) {
      const id = Math.max(Date.now(), this.lastId + 1);
      const file = await open(this.file(id), APPEND_DURABLE, 0o644);
      this.lastId = id;
      this.current = { id, file };
      this.segments.push(id);
      await this.syncDir();
    }
    await this.current.file.write(frame);
  }

  /**
   * Ends the current segment: later appends go to a new one. Returns the id of the newest segment
   * so far (0 when there is none): every record appended before this call is in a segment with an
   * id at or below it.
   */
  async rotate(): Promise<number> {
    const current = this.current;
    this.current = null;
    await current?.file.close();
    return this.lastId;
  }

  /** Deletes the segments with ids at or below `upto`, whose records are all in the database. */
  async release(upto: number): Promise<void> {
    while (this.segments.length > 0 && this.segments[0]! <= upto) {
      const id = this.segments[0]!;
      if (this.current?.id === id) break;
      await unlink(this.file(id)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      this.segments.shift();
    }
    await this.syncDir();
  }

  private file(id: number): string {
    return path.join(this.dir, `${String(id).padStart(16, '0')}${SUFFIX}`);
  }

  /** A new or deleted file is durable once its directory is. */
  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

/** Updates of one document, as a frame holds them. */
export interface JournalGroup {
  tenantId: string;
  docId: string;
  updates: readonly { author: string; at: Date | number; update: Uint8Array }[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Encoded authors: a frame names each update's author, and there are few of them. */
const names = new Map<string, Buffer>();

function encoded(text: string): Buffer {
  let bytes = names.get(text);
  if (!bytes) {
    bytes = Buffer.from(encoder.encode(text));
    if (bytes.byteLength > 0xffff) throw new Error('journal record field longer than 65535 bytes');
    if (names.size >= 10_000) names.clear();
    names.set(text, bytes);
  }
  return bytes;
}

/**
 * One frame: per document, tenant and document ids (u16 length each, UTF-8) and the update count
 * (u32), then per update its author (u16 length, UTF-8), time (f64, Unix ms) and bytes (u32 length).
 */
export function encodeFrame(groups: readonly JournalGroup[]): Buffer {
  let size = 0;
  for (const g of groups) {
    size += 2 + encoded(g.tenantId).byteLength + 2 + encoded(g.docId).byteLength + 4;
    for (const u of g.updates) size += 2 + encoded(u.author).byteLength + 12 + u.update.byteLength;
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER + size);
  let at = FRAME_HEADER;
  const text = (bytes: Buffer) => {
    frame.writeUInt16LE(bytes.byteLength, at);
    bytes.copy(frame, at + 2);
    at += 2 + bytes.byteLength;
  };
  for (const g of groups) {
    text(encoded(g.tenantId));
    text(encoded(g.docId));
    frame.writeUInt32LE(g.updates.length, at);
    at += 4;
    for (const u of g.updates) {
      text(encoded(u.author));
      frame.writeDoubleLE(typeof u.at === 'number' ? u.at : u.at.getTime(), at);
      frame.writeUInt32LE(u.update.byteLength, at + 8);
      frame.set(u.update, at + 12);
      at += 12 + u.update.byteLength;
    }
  }
  frame.writeUInt32LE(size, 0);
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER)), 4);
  return frame;
}

export function decodeSegment(data: Uint8Array): { records: JournalRecord[]; tornBytes: number } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const records: JournalRecord[] = [];
  let at = 0;
  while (at + FRAME_HEADER <= buf.byteLength) {
    const size = buf.readUInt32LE(at);
    const end = at + FRAME_HEADER + size;
    if (end > buf.byteLength || crc32(buf.subarray(at + FRAME_HEADER, end)) !== buf.readUInt32LE(at + 4)) break;
    let p = at + FRAME_HEADER;
    const text = () => {
      const n = buf.readUInt16LE(p);
      const s = decoder.decode(buf.subarray(p + 2, p + 2 + n));
      p += 2 + n;
      return s;
    };
    while (p < end) {
      const tenantId = text();
      const docId = text();
      const count = buf.readUInt32LE(p);
      p += 4;
      for (let i = 0; i < count; i++) {
        const author = text();
        const time = buf.readDoubleLE(p);
        const n = buf.readUInt32LE(p + 8);
        records.push({ tenantId, docId, author, at: time, update: new Uint8Array(buf.subarray(p + 12, p + 12 + n)) });
        p += 12 + n;
      }
    }
    at = end;
  }
  return { records, tornBytes: buf.byteLength - at };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3), as zlib computes it. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
