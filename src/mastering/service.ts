// The mastering jobs of a node: uploads and references are probed and stored, jobs queue on disk
// (jobs.ts) and run a few at a time on the jobs' thread (thread.ts), off the event loop; listeners
// hear each job's progress (the WebSocket route and tests). Jobs found queued or running on start
// run again from their stored input.
import { EventEmitter } from 'node:events';
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { FORMATS } from './formats.js';
import { JobStore, type Job, type JobOptions } from './jobs.js';
import { probeAudio, type AudioInfo } from './probe.js';
import type { MasteringSettings } from './settings.js';
import { MasteringThread, type MasteringThreadOptions } from './thread.js';

export interface ProgressFrame {
  id: string;
  state: Job['state'];
  progress: number;
  stage: string;
  error: string | null;
}

export const frameOf = (job: Job): ProgressFrame => ({ id: job.id, state: job.state, progress: job.progress, stage: job.stage, error: job.error });

export class MasteringService {
  readonly store: JobStore;
  /** Where the jobs run: one worker thread, started with the first job. */
  readonly thread: MasteringThread;
  private readonly events = new EventEmitter();
  private readonly queue: string[] = [];
  private running = 0;
  private closed = false;
  private readonly active = new Set<Promise<void>>();
  /** Stops the jobs running when the node closes; their records stay `running`, so the next start queues them again. */
  private readonly stopping = new AbortController();

  constructor(
    root: string,
    private readonly settings: MasteringSettings,
    private readonly logger: Logger,
    threadOptions: Omit<MasteringThreadOptions, 'onWarning' | 'onCrash'> = {},
  ) {
    this.store = new JobStore(root);
    this.events.setMaxListeners(0);
    this.thread = new MasteringThread({
      ...threadOptions,
      onWarning: (message, reason) => logger.warn({ reason }, message),
      onCrash: (reason) => logger.error({ reason }, 'the mastering thread ended unexpectedly; the next job starts a fresh one'),
    });
  }

  /** Queues again the jobs a stopped process left queued or running. */
  async recover(): Promise<number> {
    const pending = (await this.store.all()).filter((j) => j.state === 'queued' || j.state === 'running');
    for (const job of pending) {
      job.state = 'queued';
      job.progress = 0;
      job.stage = 'queued again after a restart';
      await this.store.save(job);
      this.enqueue(job.id);
    }
    return pending.length;
  }

  /** Probes `bytes` (an upload) in a scratch file; throws InputError for what the chain refuses. */
  private async probeUpload(dir: string, bytes: Buffer): Promise<{ file: string; info: AudioInfo }> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'input');
    await writeFile(file, bytes);
    try {
      return { file, info: await probeAudio(file, this.settings.maxSeconds) };
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async addReference(tenantId: string, bytes: Buffer): Promise<{ id: string; info: AudioInfo }> {
    const id = this.store.newId();
    const { info } = await this.probeUpload(this.store.referencePath(tenantId, id), bytes);
    return { id, info };
  }

  async hasReference(tenantId: string, id: string): Promise<boolean> {
    return (await stat(this.referenceFile(tenantId, id)).catch(() => null))?.isFile() ?? false;
  }

  referenceFile(tenantId: string, id: string): string {
    return path.join(this.store.referencePath(tenantId, id), 'input');
  }

  async submit(tenantId: string, userId: string, name: string, bytes: Buffer, options: JobOptions): Promise<Job> {
    const id = this.store.newId();
    return this.queueJob(id, tenantId, userId, name, options, await this.probeUpload(this.store.dirOf(id), bytes));
  }

  /** A job from a file already on this node (a session's bounce): copied in, so the job owns its input. */
  async submitFile(tenantId: string, userId: string, name: string, source: string, options: JobOptions): Promise<Job> {
    const id = this.store.newId();
    const dir = this.store.dirOf(id);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'input');
    await copyFile(source, file);
    const info = await probeAudio(file, this.settings.maxSeconds).catch(async (error: unknown) => {
      await rm(dir, { recursive: true, force: true });
      throw error;
    });
    return this.queueJob(id, tenantId, userId, name, options, { file, info });
  }

  private async queueJob(id: string, tenantId: string, userId: string, name: string, options: JobOptions, { file, info }: { file: string; info: AudioInfo }): Promise<Job> {
    const now = new Date().toISOString();
    const job: Job = { id, tenantId, userId, state: 'queued', progress: 0, stage: 'queued', createdAt: now, updatedAt: now, options, input: { name, file, info }, output: null, result: null, error: null };
    await this.store.create(job);
    this.enqueue(id);
    return job;
  }

  async job(tenantId: string, id: string): Promise<Job | null> {
    const job = await this.store.get(id);
    return job && job.tenantId === tenantId ? job : null;
  }

  /** Calls `listener` with every progress frame of job `id` until the returned function is called. */
  subscribe(id: string, listener: (frame: ProgressFrame) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /** Resolves once every queued and running job has finished (tests). */
  async idle(): Promise<void> {
    while (this.running > 0 || this.queue.length > 0) await Promise.race([...this.active, new Promise((r) => setTimeout(r, 50))]);
  }

  private enqueue(id: string): void {
    this.queue.push(id);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.running < this.settings.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.running++;
      const work = this.run(id)
        .catch((error: unknown) => this.logger.error({ err: error, job: id }, 'mastering job failed to record its outcome'))
        .finally(() => {
          this.running--;
          this.active.delete(work);
          this.pump();
        });
      this.active.add(work);
    }
  }

  private async run(id: string): Promise<void> {
    const job = await this.store.get(id);
    if (!job || job.state === 'done' || job.state === 'failed') return;
    const publish = () => this.events.emit(id, frameOf(job));
    job.state = 'running';
    job.stage = 'starting';
    await this.store.save(job);
    publish();
    const output = path.join(this.store.dirOf(id), `master.${FORMATS[job.options.format].extension}`);
    let lastSaved = 0;
    // Saves run one after another, so an older progress record never lands after the outcome.
    let saving = Promise.resolve();
    const save = (snapshot: Job) => (saving = saving.then(() => this.store.save(snapshot)).catch(() => undefined));
    try {
      const reference = job.options.referenceId ? this.referenceFile(job.tenantId, job.options.referenceId) : null;
      const request = { ...job.options, reference, inputRate: job.input.info.sampleRate };
      const onProgress = (fraction: number, stage: string) => {
        job.progress = fraction; // in hundredths already: the jobs' thread rounds it
        job.stage = stage;
        publish();
        // The record on disk follows progress at most every 2 s; the socket hears every step.
        if (Date.now() - lastSaved > 2000) {
          lastSaved = Date.now();
          void save({ ...job });
        }
      };
      job.result = (await this.thread.run(id, job.input.file, output, request, { onProgress, signal: this.stopping.signal })).outcome;
      job.output = output;
      job.state = 'done';
      job.progress = 1;
      job.stage = job.result.converged ? 'done' : 'done, outside the tolerance';
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      job.state = 'failed';
      job.error = error instanceof Error ? error.message : String(error);
      job.stage = 'failed';
      this.logger.warn({ job: id, reason: job.error }, 'mastering job failed');
    }
    await save(job);
    publish();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.stopping.abort(new Error('the node is stopping'));
    await Promise.allSettled([...this.active]);
    await this.thread.close();
    this.events.removeAllListeners();
  }
}
