// The mastering jobs' thread, seen from the main thread. A job's node work (the pipes, the meter, true
// peak, spectra, the gain model, WAV writing, the classifier) takes about a third of its CPU in
// slices of up to a second, and the main thread's event loop carries the realtime sessions: so jobs
// run on one worker thread (worker-main.ts), started with the first job and ended after a while
// without one, so that a node that masters nothing holds neither the thread nor onnxruntime.
// The main thread keeps what must survive the thread: the queue, the records and the progress
// events (service.ts). A thread that dies fails the jobs it ran with the reason, its ffmpeg runs are
// killed from here, and the next job starts a fresh thread.
import { Worker } from 'node:worker_threads';
import { ffmpegBinary, processStarts } from './ffmpeg.js';
import type { JobOutcome } from './jobs.js';
import type { FromThread, MasteringWorkerData, ThreadRequest, ToThread } from './thread-messages.js';

export type { ThreadRequest } from './thread-messages.js';

/** How long the thread waits for a next job before it ends. */
export const THREAD_IDLE_MS = 30_000;
/** How long a job that was told to stop may take to answer before its thread is ended. */
export const STOP_GRACE_MS = 3_000;

export interface MasteringThreadOptions {
  idleMs?: number;
  /** Said by the thread (a genre model that did not load). */
  onWarning?: (message: string, reason: string) => void;
  /** A thread ended without being asked to: the jobs it ran have failed with `reason`. */
  onCrash?: (reason: string) => void;
  /** Each thread as it starts (tests end one to see what a crash does). */
  onWorker?: (worker: Worker) => void;
}

export interface JobControl {
  onProgress: (fraction: number, stage: string) => void;
  /** Stops the job: the thread kills its ffmpeg runs and the job rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface Running {
  worker: Worker;
  control: JobControl;
  resolve: (value: { outcome: JobOutcome; threadId: number }) => void;
  reject: (error: Error) => void;
  /** Settles (never rejects) when the job has answered or its thread has ended. */
  finished: Promise<void>;
}

/** One started thread: its ffmpeg processes and why it ended, when it did. */
interface ThreadState {
  ffmpeg: Set<number>;
  failure: string | null;
  /** Told to end (idle, a stop not answered, the node closing): its exit is not a crash. */
  retiring: boolean;
  exited: Promise<void>;
}

export class MasteringThread {
  private worker: Worker | null = null;
  private readonly threads = new Map<Worker, ThreadState>();
  private readonly jobs = new Map<string, Running>();
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: MasteringThreadOptions = {}) {}

  /** The running thread's id, or null while none runs. */
  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  /** The ffmpeg processes the jobs' threads have running now. */
  get ffmpegRunning(): number[] {
    return [...this.threads.values()].flatMap((t) => [...t.ffmpeg]);
  }

  /** Runs one job on the thread; resolves with its outcome and the id of the thread that ran it. */
  run(id: string, input: string, output: string, request: ThreadRequest, control: JobControl): Promise<{ outcome: JobOutcome; threadId: number }> {
    if (this.closed) return Promise.reject(new Error('the mastering thread is closed'));
    const { signal } = control;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.jobs.has(id)) return Promise.reject(new Error(`the mastering job ${id} is running already`));
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = (this.worker ??= this.spawn());
    worker.ref();
    let answer!: (value: { outcome: JobOutcome; threadId: number }) => void;
    let refuse!: (error: Error) => void;
    const result = new Promise<{ outcome: JobOutcome; threadId: number }>((resolve, reject) => {
      answer = resolve;
      refuse = reject;
    });
    let grace: NodeJS.Timeout | null = null;
    const stop = () => {
      this.post(worker, { kind: 'stop', id, reason: reasonOf(signal!.reason) });
      // A thread busy in one long synchronous step hears the stop late: past the grace it is ended.
      grace = setTimeout(() => void this.terminate(worker, 'a stopped job did not answer'), STOP_GRACE_MS);
      grace.unref();
    };
    signal?.addEventListener('abort', stop, { once: true });
    const settle = () => {
      signal?.removeEventListener('abort', stop);
      if (grace) clearTimeout(grace);
      this.jobs.delete(id);
      this.rest();
    };
    this.jobs.set(id, {
      worker,
      control,
      resolve: (value) => {
        settle();
        answer(value);
      },
      reject: (error) => {
        settle();
        refuse(signal?.aborted ? (signal.reason as Error) : error);
      },
      finished: result.then(
        () => undefined,
        () => undefined,
      ),
    });
    this.post(worker, { kind: 'run', id, input, output, request });
    return result;
  }

  /** Stops the jobs that run (their ffmpeg runs are killed; they reject), then ends the thread. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const jobs = [...this.jobs];
    for (const [id, job] of jobs) this.post(job.worker, { kind: 'stop', id, reason: 'the node is stopping' });
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      Promise.all(jobs.map(([, job]) => job.finished)).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    await Promise.all([...this.threads.keys()].map((worker) => (waited ? this.end(worker) : this.terminate(worker, 'a stopped job did not answer'))));
  }

  private spawn(): Worker {
    const workerData: MasteringWorkerData = { ffmpeg: ffmpegBinary() };
    const worker = new Worker(new URL('./mastering-worker.mjs', import.meta.url), { workerData });
    let exited!: () => void;
    const state: ThreadState = { ffmpeg: new Set(), failure: null, retiring: false, exited: new Promise((resolve) => (exited = resolve)) };
    this.threads.set(worker, state);
    worker.on('message', (message: FromThread) => this.receive(worker, state, message));
    worker.on('error', (error) => (state.failure ??= error.message));
    worker.once('exit', (code) => {
      this.threads.delete(worker);
      if (this.worker === worker) this.worker = null;
      // What the thread's jobs had running would outlive it: ffmpeg waits on pipes nobody reads.
      for (const pid of state.ffmpeg) killQuietly(pid);
      const reason = state.failure ? `the mastering thread failed: ${state.failure}` : `the mastering thread stopped (exit code ${code})`;
      for (const job of [...this.jobs.values()]) if (job.worker === worker) job.reject(new Error(`${reason} while the job ran`));
      if (!state.retiring) this.options.onCrash?.(reason);
      exited();
    });
    this.options.onWorker?.(worker);
    return worker;
  }

  private receive(worker: Worker, state: ThreadState, message: FromThread): void {
    if (message.kind === 'ffmpeg') {
      if (message.running) {
        state.ffmpeg.add(message.pid);
        processStarts.ffmpeg++;
      } else state.ffmpeg.delete(message.pid);
      return;
    }
    if (message.kind === 'warning') return this.options.onWarning?.(message.message, message.reason);
    const job = this.jobs.get(message.id);
    if (!job || job.worker !== worker) return;
    if (message.kind === 'progress') job.control.onProgress(message.fraction, message.stage);
    else if (message.kind === 'done') job.resolve({ outcome: message.outcome, threadId: worker.threadId });
    else job.reject(new Error(message.message));
  }

  private post(worker: Worker, message: ToThread): void {
    worker.postMessage(message);
  }

  private jobsOn(worker: Worker): number {
    let n = 0;
    for (const job of this.jobs.values()) if (job.worker === worker) n++;
    return n;
  }

  /** With no job left, the thread no longer holds the process open, and ends after the idle time. */
  private rest(): void {
    const worker = this.worker;
    if (!worker || this.closed || this.jobsOn(worker) > 0) return;
    worker.unref();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.worker === worker && this.jobsOn(worker) === 0) void this.end(worker);
    }, this.options.idleMs ?? THREAD_IDLE_MS);
    this.idleTimer.unref();
  }

  /** Ends a thread that runs no job: it releases the classifier and returns, or is terminated past the grace. */
  private async end(worker: Worker): Promise<void> {
    const state = this.threads.get(worker);
    if (!state) return;
    if (this.worker === worker) this.worker = null;
    state.retiring = true;
    this.post(worker, { kind: 'close' });
    const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await state.exited;
    clearTimeout(timer);
  }

  /** Ends a thread now; the jobs it still runs fail with `why`. */
  private async terminate(worker: Worker, why: string): Promise<void> {
    const state = this.threads.get(worker);
    if (!state) return;
    if (this.worker === worker) this.worker = null;
    state.retiring = true;
    state.failure ??= why;
    await worker.terminate();
    await state.exited;
  }
}

const reasonOf = (reason: unknown) => (reason instanceof Error ? reason.message : String(reason));

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
