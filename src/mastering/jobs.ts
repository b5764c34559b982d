// A durable queue of mastering jobs: one directory per job under the data directory, holding the
// job's record (job.json, replaced atomically on every change), its input, its reference and its
// result. A job that was queued or running when the process stopped is queued again on start, so
// jobs survive a restart.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MasterResult } from './chain.js';
import type { ExportFormat } from './formats.js';
import type { AudioInfo } from './probe.js';
import type { Suggestion } from './suggestions.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed';

export interface JobOptions {
  target: number;
  /** A genre id, or `auto`: the classifier's probabilities blend the templates. */
  genre: string;
  format: ExportFormat;
  metadata: Record<string, string>;
  /** Id of an uploaded reference whose spectrum and loudness the master matches. */
  referenceId: string | null;
  /** Whether `target` was asked for (else a reference's loudness wins). */
  targetGiven: boolean;
}

export interface JobOutcome {
  template: { id: string; label: string };
  genreProbabilities: Record<string, number> | null;
  before: Summary;
  after: Summary;
  passes: MasterResult['passes'];
  settings: MasterResult['settings'];
  converged: boolean;
  referenceDeviationDb: number | null;
  referenceDeviationBeforeDb: number | null;
  suggestions: { before: Suggestion[]; after: Suggestion[] };
}

/** What the client plots and shows: loudness, peaks, spectra and the sample statistics. */
export interface Summary {
  integrated: number;
  range: number;
  truePeak: number;
  samplePeak: number;
  crestFactorDb: number;
  stereoWidth: number;
  correlation: number;
  clippedRuns: number;
  dcOffsetDb: number[];
  durationSeconds: number;
  bands: { mid: Record<string, number>; side: Record<string, number> };
  thirdOctaves: number[];
  /** Short-term loudness every 100 ms, thinned to at most 600 points. */
  shortTerm: number[];
}

export interface Job {
  id: string;
  tenantId: string;
  userId: string;
  state: JobState;
  progress: number;
  stage: string;
  createdAt: string;
  updatedAt: string;
  options: JobOptions;
  input: { name: string; file: string; info: AudioInfo };
  output: string | null;
  result: JobOutcome | null;
  error: string | null;
}

const ID = /^[0-9a-f-]{36}$/;

export class JobStore {
  constructor(readonly root: string) {}

  dirOf(id: string): string {
    return path.join(this.root, 'jobs', id);
  }

  referencePath(tenantId: string, id: string): string {
    return path.join(this.root, 'references', encodeURIComponent(tenantId), id);
  }

  newId(): string {
    return randomUUID();
  }

  async create(job: Job): Promise<void> {
    await mkdir(this.dirOf(job.id), { recursive: true });
    await this.save(job);
  }

  /** Replaces the record atomically: a crash leaves the old one or the new one, never half. */
  async save(job: Job): Promise<void> {
    job.updatedAt = new Date().toISOString();
    const file = path.join(this.dirOf(job.id), 'job.json');
    const scratch = `${file}.${randomUUID()}.tmp`;
    await writeFile(scratch, JSON.stringify(job));
    await rename(scratch, file);
  }

  async get(id: string): Promise<Job | null> {
    if (!ID.test(id)) return null;
    try {
      return JSON.parse(await readFile(path.join(this.dirOf(id), 'job.json'), 'utf8')) as Job;
    } catch {
      return null;
    }
  }

  /** Every job on disk, oldest first. */
  async all(): Promise<Job[]> {
    const ids = await readdir(path.join(this.root, 'jobs')).catch(() => [] as string[]);
    const jobs = (await Promise.all(ids.map((id) => this.get(id)))).filter((j): j is Job => j !== null);
    return jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async remove(id: string): Promise<void> {
    if (ID.test(id)) await rm(this.dirOf(id), { recursive: true, force: true });
  }
}
