// Mastering jobs run on their own worker thread, off the event loop that carries the realtime
// sessions: the thread starts with the first job and ends when idle; a job that fails leaves it
// running; a thread that dies fails the job it ran (its ffmpeg runs killed) and the next job gets a
// fresh one; closing the node while a job runs stops it and leaves it for the next start.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { threadId as mainThreadId, type Worker } from 'node:worker_threads';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { processStarts } from '../../src/mastering/ffmpeg.js';
import type { JobOptions } from '../../src/mastering/jobs.js';
import { MasteringService, type ProgressFrame } from '../../src/mastering/service.js';
import { MasteringThread, type ThreadRequest } from '../../src/mastering/thread.js';
import { tempDir } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { ebur128, materialMissing, sample } from './support.js';

const request: ThreadRequest = { target: -16, targetGiven: true, genre: 'percussion', format: 'wav24', metadata: {}, reference: null };
const options: JobOptions = { target: -16, targetGiven: true, genre: 'percussion', format: 'wav24', metadata: {}, referenceId: null };
const settings = { maxSeconds: 900, maxUploadBytes: 300 << 20, concurrency: 1 };

/** Alive and not a zombie: a zombie has ended, it only waits to be reaped. */
function processRuns(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe.skipIf(materialMissing !== null)('the mastering jobs’ thread', () => {
  const files = tempDir('mastering-thread');
  // 40 s of the tabla loop: long enough that a job is surely still running when a test stops it.
  const long = path.join(files.dir, 'long.flac');
  if (materialMissing === null) execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '3', '-i', sample('loop_tabla'), long]);
  afterAll(() => files.remove());

  it('runs a job on a worker thread, not the main one, ends the thread when idle and starts another for the next job', async () => {
    const thread = new MasteringThread({ idleMs: 50 });
    const frames: [number, string][] = [];
    const ffmpegBefore = processStarts.ffmpeg;
    const out = path.join(files.dir, 'first.wav');
    const first = await thread.run('first', sample('loop_tabla'), out, request, { onProgress: (fraction, stage) => frames.push([fraction, stage]) });
    expect(first.threadId).not.toBe(mainThreadId);
    expect(first.outcome.template.id).toBe('percussion');
    expect(first.outcome.converged).toBe(true);
    expect(Math.abs(ebur128(out).integrated + 16)).toBeLessThan(0.5);
    // Progress crossed from the thread, in order; the ffmpeg runs it started are counted here.
    expect(frames.length).toBeGreaterThan(3);
    for (let i = 1; i < frames.length; i++) expect(frames[i]![0]).toBeGreaterThanOrEqual(frames[i - 1]![0]);
    expect(processStarts.ffmpeg).toBeGreaterThan(ffmpegBefore);

    await waitFor(() => thread.threadId === null, 'the idle thread to end');
    const second = await thread.run('second', sample('guit_em9'), path.join(files.dir, 'second.wav'), { ...request, genre: 'acoustic' }, { onProgress: () => {} });
    expect(second.threadId).not.toBe(mainThreadId);
    expect(second.threadId).not.toBe(first.threadId);
    await thread.close();
    expect(thread.threadId).toBeNull();
  }, 120_000);

  it('fails a job whose input is not audio with ffmpeg’s reason, and runs the next job on the same thread', async () => {
    const thread = new MasteringThread();
    const text = path.join(files.dir, 'notes.txt');
    writeFileSync(text, 'not audio at all\n'.repeat(100));
    const ran = thread.run('bad', text, path.join(files.dir, 'bad.wav'), request, { onProgress: () => {} });
    const threadId = thread.threadId;
    await expect(thread.run('bad', text, path.join(files.dir, 'again.wav'), request, { onProgress: () => {} })).rejects.toThrow(/job bad is running already/);
    await expect(ran).rejects.toThrow(/ffmpeg could not decode the audio/);
    const next = await thread.run('good', sample('guit_em9'), path.join(files.dir, 'good.wav'), { ...request, genre: 'acoustic' }, { onProgress: () => {} });
    expect(next.threadId).toBe(threadId);
    await thread.close();
    await expect(thread.run('late', sample('guit_em9'), path.join(files.dir, 'late.wav'), request, { onProgress: () => {} })).rejects.toThrow(/closed/);
  }, 120_000);

  it('fails the running job when its thread dies (its ffmpeg runs end with it), and runs the next job on a fresh thread', async () => {
    const data = tempDir('mastering-thread-crash');
    const logged: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    const workers: Worker[] = [];
    const service = new MasteringService(data.dir, settings, logger, { onWorker: (worker) => workers.push(worker) });
    try {
      // No thread before the first job (nor onnxruntime, which loads on it).
      expect(service.thread.threadId).toBeNull();
      expect(workers).toHaveLength(0);
      const job = await service.submit('default', 'ana', 'long.flac', readFileSync(long), options);
      const frames: ProgressFrame[] = [];
      service.subscribe(job.id, (frame) => frames.push(frame));
      // Once ffmpeg runs for the job, the thread dies under it.
      const ffmpeg = await waitFor(() => (service.thread.ffmpegRunning.length > 0 ? service.thread.ffmpegRunning : undefined), 'an ffmpeg run of the job');
      expect(workers).toHaveLength(1);
      await workers[0]!.terminate();
      await waitFor(async () => (await service.store.get(job.id))?.state === 'failed', 'the job to fail');
      const failed = (await service.store.get(job.id))!;
      expect(failed.error).toMatch(/^the mastering thread stopped \(exit code 1\) while the job ran$/);
      expect(frames.at(-1)).toMatchObject({ state: 'failed', error: failed.error });
      expect(logged.some((line) => line.includes('the mastering thread ended unexpectedly'))).toBe(true);
      expect(service.thread.ffmpegRunning).toEqual([]);
      await waitFor(() => ffmpeg.every((pid) => !processRuns(pid)), 'the dead thread’s ffmpeg to be killed');

      const next = await service.submit('default', 'ana', 'guit.flac', readFileSync(sample('guit_em9')), { ...options, genre: 'acoustic' });
      await service.idle();
      const done = (await service.store.get(next.id))!;
      expect(done.state).toBe('done');
      expect(done.result?.converged).toBe(true);
      expect(workers).toHaveLength(2);
      expect(workers[1]!.threadId).not.toBe(workers[0]!.threadId);
    } finally {
      await service.close();
      data.remove();
    }
  }, 180_000);

  it('stops a running job when the node closes (its ffmpeg killed, the thread ended) and finishes it on the next start', async () => {
    const data = tempDir('mastering-thread-close');
    const logger = pino({ level: 'silent' });
    const workers: Worker[] = [];
    const exits: number[] = [];
    const service = new MasteringService(data.dir, settings, logger, { onWorker: (worker) => workers.push(worker.on('exit', (code) => exits.push(code))) });
    try {
      const job = await service.submit('default', 'ana', 'long.flac', readFileSync(long), options);
      const ffmpeg = await waitFor(() => (service.thread.ffmpegRunning.length > 0 ? service.thread.ffmpegRunning : undefined), 'an ffmpeg run of the job');
      await service.close();
      // The thread was ended, its ffmpeg runs with it; the job stays on disk as running.
      expect(exits).toHaveLength(1);
      expect(service.thread.threadId).toBeNull();
      expect(service.thread.ffmpegRunning).toEqual([]);
      expect(ffmpeg.every((pid) => !processRuns(pid))).toBe(true);
      expect((await service.store.get(job.id))?.state).toBe('running');

      const restarted = new MasteringService(data.dir, settings, logger);
      try {
        expect(await restarted.recover()).toBe(1);
        await restarted.idle();
        const done = (await restarted.store.get(job.id))!;
        expect(done.state).toBe('done');
        expect(done.result?.converged).toBe(true);
      } finally {
        await restarted.close();
      }
    } finally {
      await service.close();
      data.remove();
    }
  }, 240_000);
});
