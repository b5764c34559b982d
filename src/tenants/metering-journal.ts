import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * The usage meter's local journal: what the meter counted, appended as text lines with one
 * `write(2)` before the count is acted on (an API call is journaled before its answer is written).
 * A write that returned is in the kernel's page cache and survives the process being killed (`kill -9`);
 * it is not synchronised to the disk, so a machine that loses power loses what the kernel had not
 * written yet.
 *
 * Lines (fields separated by one space; tenant ids, metrics and event ids hold none):
 *   `U <minute> <tenant> <metric> <amount> [<event id>]`  an amount counted in a minute (minutes since the epoch)
 *   `J <tenant> <key> <at ms> <event id>`                   a live-room viewer joined (participant time runs)
 *   `L <key> <event id>`                                    that viewer left
 *   `I <event id>`                                          an event already counted (kept across segments)
 *   `S` … `E`                                               a segment's opening snapshot, whole once `E` is there
 *
 * The journal is a sequence of segments; a new one opens with a snapshot of everything not yet
 * settled in the database, and the older ones are then deleted. Replay reads the newest segment whose
 * snapshot is whole and ignores the rest, so a crash during a rotation neither loses nor repeats a
 * count. A line cut short (no newline) is not read; a new process never appends to an old segment.
 */
export interface JournalState {
  /** Amounts per `minute|tenant`, each an array indexed like the meter's metrics. */
  amounts: { minute: number; tenant: string; metric: string; amount: number }[];
  viewers: Map<string, { tenant: string; at: number }>;
  eventIds: string[];
  /** Lines that did not parse (a torn tail). */
  skipped: number;
}

const SUFFIX = '.usage';

export class MeterJournal {
  private fd: number;
  private id: number;
  private closed = false;

  private constructor(
    readonly dir: string,
    id: number,
    fd: number,
  ) {
    this.id = id;
    this.fd = fd;
  }

  /** Opens the journal in `dir`: reads what earlier runs left, and starts a new segment holding it (`snapshot`). */
  static open(dir: string, snapshot: (state: JournalState) => string): { journal: MeterJournal; state: JournalState } {
    mkdirSync(dir, { recursive: true });
    const ids = segmentIds(dir);
    let state: JournalState = { amounts: [], viewers: new Map(), eventIds: [], skipped: 0 };
    for (const id of [...ids].reverse()) {
      const read = readSegment(readFileSync(path.join(dir, `${id}${SUFFIX}`), 'utf8'));
      if (read) {
        state = read;
        break;
      }
    }
    const journal = MeterJournal.startSegment(dir, Math.max(Date.now(), (ids.at(-1) ?? 0) + 1), snapshot(state));
    for (const id of ids) unlinkSync(path.join(dir, `${id}${SUFFIX}`));
    return { journal, state };
  }

  private static startSegment(dir: string, id: number, snapshot: string): MeterJournal {
    const fd = openSync(path.join(dir, `${id}${SUFFIX}`), 'a', 0o644);
    writeAll(fd, `S\n${snapshot}E\n`);
    // The snapshot replaces the older segments, which are deleted next: it must be on disk first.
    fsyncSync(fd);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return new MeterJournal(dir, id, fd);
  }

  /** Appends lines (each ending in a newline) with one write. */
  append(lines: string): void {
    if (lines.length > 0 && !this.closed) writeAll(this.fd, lines);
  }

  /** Starts a new segment holding `snapshot`, then deletes the older ones. */
  rotate(snapshot: string): void {
    if (this.closed) return;
    const old = this.id;
    const next = MeterJournal.startSegment(this.dir, Math.max(Date.now(), old + 1), snapshot);
    closeSync(this.fd);
    this.fd = next.fd;
    this.id = next.id;
    for (const id of segmentIds(this.dir)) if (id < this.id) unlinkSync(path.join(this.dir, `${id}${SUFFIX}`));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

export function amountLine(minute: number, tenant: string, metric: string, amount: number, eventId?: string): string {
  return eventId ? `U ${minute} ${tenant} ${metric} ${amount} ${eventId}\n` : `U ${minute} ${tenant} ${metric} ${amount}\n`;
}

function writeAll(fd: number, text: string): void {
  const buffer = Buffer.from(text, 'utf8');
  let written = 0;
  while (written < buffer.length) written += writeSync(fd, buffer, written);
}

function segmentIds(dir: string): number[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(SUFFIX) && /^\d+$/.test(name.slice(0, -SUFFIX.length)))
    .map((name) => Number(name.slice(0, -SUFFIX.length)))
    .sort((a, b) => a - b);
}

/** A segment's state, or null when its opening snapshot is not whole (a rotation cut short). */
function readSegment(text: string): JournalState | null {
  const lines = text.split('\n');
  // The last element follows the last newline: empty, or a line cut short.
  const torn = lines.pop() ? 1 : 0;
  if (lines[0] !== 'S' || !lines.includes('E')) return null;
  const state: JournalState = { amounts: [], viewers: new Map(), eventIds: [], skipped: torn };
  for (const line of lines) {
    const f = line.split(' ');
    switch (f[0]) {
      case 'U': {
        const minute = Number(f[1]);
        const amount = Number(f[4]);
        if (f.length < 5 || !Number.isSafeInteger(minute) || !Number.isFinite(amount) || !f[2] || !f[3]) {
          state.skipped++;
          break;
        }
        state.amounts.push({ minute, tenant: f[2], metric: f[3], amount });
        if (f[5]) state.eventIds.push(f[5]);
        break;
      }
      case 'J':
        if (f.length === 5 && f[1] && f[2] && Number.isFinite(Number(f[3]))) {
          state.viewers.set(f[2], { tenant: f[1], at: Number(f[3]) });
          if (f[4] !== '-') state.eventIds.push(f[4] ?? '');
        } else state.skipped++;
        break;
      case 'L':
        if (f.length === 3 && f[1]) {
          state.viewers.delete(f[1]);
          state.eventIds.push(f[2] ?? '');
        } else state.skipped++;
        break;
      case 'I':
        if (f[1]) state.eventIds.push(f[1]);
        break;
      case 'S':
      case 'E':
        break;
      default:
        state.skipped++;
    }
  }
  return state;
}
