// What making a journal append durable costs: a write followed by fdatasync (two trips through
// libuv's thread pool) against one write to a file opened with O_DSYNC, as the update journal does.
// CPU of this process and wall time per append, each way twice, in a temporary directory.
//
//   node --import tsx bench/journal-append.ts [--appends 300] [--bytes 4000]
import { constants, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { appends: { type: 'string', default: '300' }, bytes: { type: 'string', default: '4000' } } });
const appends = Number(values.appends);
const frame = Buffer.alloc(Number(values.bytes), 7);
const dir = mkdtempSync(join(tmpdir(), 'veza-journal-append-'));

async function perAppend(synchronised: boolean): Promise<{ cpuUs: number; wallMs: number }> {
  const path = join(dir, synchronised ? 'dsync' : 'fdatasync');
  const file = synchronised ? await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC, 0o644) : await open(path, 'a');
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < appends; i++) {
      await file.write(frame);
      if (!synchronised) await file.datasync();
    }
    const used = process.cpuUsage(cpu);
    return { cpuUs: (used.user + used.system) / appends, wallMs: (performance.now() - started) / appends };
  } finally {
    await file.close();
  }
}

try {
  console.log(`${appends} appends of ${frame.byteLength} bytes: µs of CPU and ms of wall time per append`);
  for (const synchronised of [false, true, false, true]) {
    const { cpuUs, wallMs } = await perAppend(synchronised);
    console.log(`${(synchronised ? 'write to an O_DSYNC file' : 'write + fdatasync').padEnd(26)} ${cpuUs.toFixed(1).padStart(7)} µs ${wallMs.toFixed(3).padStart(7)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
