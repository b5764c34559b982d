// What the main thread and the mastering jobs' thread say to each other (thread.ts on the main side,
// worker-main.ts on the other). Plain data only: the outcome is structured-cloned as it is.
import type { FfmpegBinary } from '../shared/ffmpeg-binary.js';
import type { AssistantRequest } from './assistant.js';
import type { JobOutcome } from './jobs.js';

/** A job's request as it crosses to the thread: progress comes back as messages, stopping goes as one. */
export type ThreadRequest = Omit<AssistantRequest, 'onProgress' | 'signal'>;

export interface MasteringWorkerData {
  /** The ffmpeg the main thread resolved, so the thread does not look it up again. */
  ffmpeg: FfmpegBinary;
}

/** Main thread → jobs' thread. */
export type ToThread =
  | { kind: 'run'; id: string; input: string; output: string; request: ThreadRequest }
  /** Stops job `id`: its ffmpeg runs are killed and it answers `failed`. */
  | { kind: 'stop'; id: string; reason: string }
  /** No job runs: release the classifier and end the thread. */
  | { kind: 'close' };

/** Jobs' thread → main thread. */
export type FromThread =
  | { kind: 'progress'; id: string; fraction: number; stage: string }
  | { kind: 'done'; id: string; outcome: JobOutcome }
  | { kind: 'failed'; id: string; message: string }
  /** An ffmpeg the thread started or saw end: the main thread counts it and kills what is left should the thread die. */
  | { kind: 'ffmpeg'; pid: number; running: boolean }
  | { kind: 'warning'; message: string; reason: string };
