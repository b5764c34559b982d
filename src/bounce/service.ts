// Bounce jobs: a session rendered to audio at a moment (now, a saved version, or a time). A bounce of
// "now" first takes an automatic version (reason 'bounce') so the audio names a point of the log
// that stays; a bounce at a version or a time reads the state there as a replay does. The job
// exports the state as MIDI, renders it (render.ts), stores the FLAC content-addressed and records
// its CID, the audio's sha-256 and the sha-256 of the Yjs state it came from. One render runs at a
// time on a node (it takes a core); its progress (0..1) is kept in memory while it runs, stored
// when it ends, and published as `bounce.progress` events.
import { createHash, randomUUID } from 'node:crypto';
import * as Y from 'yjs';
import type { Selectable } from 'kysely';
import type { EventBus } from '../events/bus.js';
import { createEvent, type VezaEvent } from '../events/catalog.js';
import type { VersionStore } from '../history/versions.js';
import type { Logger } from '../log.js';
import type { ContentStore } from '../nft/content.js';
import type { Storage } from '../storage/database.js';
import type { BouncesTable } from '../storage/schema-nft-drops.js';
import { exportMidi } from '../studio/midi-export.js';
import { StudioDoc } from '../studio/model.js';
import { docFromParts, type ReplayStore } from '../studio/replay-store.js';
import { sessionDurationMs } from './duration.js';
import { renderMidi, type RenderTools } from './render.js';
import { renderStems, type RenderedStem } from './stems.js';

export interface Bounce {
  id: string;
  sessionId: string;
  versionId: string | null;
  uptoId: string | null;
  /** Unix ms of update `uptoId` (null: the empty session). */
  at: number | null;
  state: 'running' | 'done' | 'failed';
  progress: number;
  error: string | null;
  audioCid: string | null;
  /** sha-256 of the FLAC file, hex. */
  audioHash: string | null;
  /** sha-256 of Y.encodeStateAsUpdate of the session at the moment, hex. */
  stateHash: string | null;
  durationMs: number | null;
  createdBy: string;
  createdAt: string;
}

/** What to bounce: the session now, a saved version, or as it was at a time (Unix ms). */
export type BounceMoment = { versionId: string } | { at: number } | Record<string, never>;

export class BounceError extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'BounceError';
  }
}

export interface BounceDeps {
  storage: Storage;
  versions: VersionStore;
  replay: ReplayStore;
  content: ContentStore;
  tools: RenderTools;
  logger: Logger;
  /** Brings the session's accepted updates into the log before its state is read. */
  persisted: (tenantId: string, sessionId: string) => Promise<void>;
  /** Where `bounce.progress` events go (none: no events). */
  bus?: EventBus;
}

/** A row of `bounces` as read. */
type Row = Omit<Selectable<BouncesTable>, 'tenant_id' | 'finished_at'>;

const COLUMNS = ['id', 'session_id', 'version_id', 'upto_id', 'at', 'state', 'progress', 'error', 'audio_cid', 'audio_sha256', 'state_sha256', 'duration_ms', 'created_by', 'created_at'] as const;

export class BounceService {
  /** Progress of the jobs running on this node. */
  private readonly running = new Map<string, { progress: number; done: Promise<void> }>();
  /** The render running now (or the last one): renders queue behind it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: BounceDeps) {}

  /** Starts a bounce; the job runs in the background (see `get` and `finished`). */
  async start(tenantId: string, sessionId: string, by: string, moment: BounceMoment): Promise<Bounce> {
    const { versions, replay } = this.deps;
    await this.deps.persisted(tenantId, sessionId);
    if (!(await versions.exists(tenantId, sessionId))) throw new BounceError(404, `session ${sessionId} has no recording`);
    let point: { versionId: string | null; uptoId: string | null; at: number | null; parts: () => Promise<Uint8Array[]> };
    if ('versionId' in moment) {
      const version = await versions.get(tenantId, sessionId, moment.versionId);
      if (!version) throw new BounceError(404, `version ${moment.versionId} of session ${sessionId} not found`);
      point = { versionId: version.id, uptoId: version.uptoId, at: version.at, parts: async () => (version.uptoId === null ? [] : (await replay.stateUpTo(tenantId, sessionId, version.uptoId, version.at ?? 0)).parts) };
    } else if ('at' in moment) {
      const last = await replay.lastUpdateAt(tenantId, sessionId, moment.at);
      point = { versionId: null, uptoId: last?.id ?? null, at: last?.at ?? null, parts: async () => (last ? (await replay.stateUpTo(tenantId, sessionId, last.id, last.at)).parts : []) };
    } else {
      const { version } = await versions.auto(tenantId, sessionId, 'bounce');
      if (!version) throw new BounceError(409, `session ${sessionId} is empty: nothing to bounce`);
      point = { versionId: version.id, uptoId: version.uptoId, at: version.at, parts: async () => (version.uptoId === null ? [] : (await replay.stateUpTo(tenantId, sessionId, version.uptoId, version.at ?? 0)).parts) };
    }
    if (point.uptoId === null) throw new BounceError(409, `session ${sessionId} was empty then: nothing to bounce`);
    const id = `bnc_${randomUUID().replaceAll('-', '')}`;
    const row = await this.deps.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('bounces')
        .values({ id, tenant_id: tenantId, session_id: sessionId, version_id: point.versionId, upto_id: point.uptoId, at: point.at === null ? null : new Date(point.at), state: 'running', error: null, audio_cid: null, audio_sha256: null, state_sha256: null, duration_ms: null, created_by: by, finished_at: null })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow(),
    );
    const job = { progress: 0, done: Promise.resolve() };
    this.running.set(id, job);
    const run = this.queue.catch(() => undefined).then(() => this.run(tenantId, sessionId, id, by, point.parts, job));
    this.queue = run;
    job.done = run.finally(() => this.running.delete(id));
    return this.view(row);
  }

  async get(tenantId: string, id: string): Promise<Bounce | null> {
    if (!/^bnc_[0-9a-f]{32}$/.test(id)) return null;
    const row = await this.deps.storage.withTenant(tenantId, (trx) => trx.selectFrom('bounces').select(COLUMNS).where('id', '=', id).executeTakeFirst());
    return row ? this.view(row) : null;
  }

  /**
   * Renders each track of a finished bounce's moment alone (its stems), queued with the other renders
   * of the node; each FLAC is stored by its content id.
   */
  async stems(tenantId: string, bounceId: string): Promise<RenderedStem[]> {
    const bounce = await this.get(tenantId, bounceId);
    if (!bounce || bounce.state !== 'done' || bounce.uptoId === null) throw new BounceError(409, `bounce ${bounceId} has no audio to split into stems`);
    const { replay, content, tools } = this.deps;
    const run = this.queue.catch(() => undefined).then(() => renderStems({ replay, content, tools }, tenantId, bounce.sessionId, bounce.uptoId!, bounce.at ?? 0));
    this.queue = run;
    return run;
  }

  /** Resolves when the job has ended on this node (at once when it is not running here). */
  async finished(id: string): Promise<void> {
    await this.running.get(id)?.done.catch(() => undefined);
  }

  /** Waits for the jobs running here (shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.running.values()].map((j) => j.done.catch(() => undefined)));
  }

  /** Publishes the job's progress; a bus that refuses it does not stop the bounce. */
  private tell(tenantId: string, sessionId: string, bounceId: string, progress: number, state: Bounce['state'], actor: string, audioCid?: string): void {
    const bus = this.deps.bus;
    if (!bus) return;
    const payload = { sessionId, bounceId, progress, state, ...(audioCid ? { audioCid } : {}) };
    void bus.publish(createEvent('bounce.progress', { tenantId, actor, payload }) as VezaEvent).catch((error: unknown) => this.deps.logger.warn({ bounceId, err: String(error) }, 'bounce progress not published'));
  }

  private async run(tenantId: string, sessionId: string, id: string, by: string, parts: () => Promise<Uint8Array[]>, job: { progress: number }): Promise<void> {
    const step = (fraction: number) => {
      job.progress = fraction;
      this.tell(tenantId, sessionId, id, fraction, 'running', by);
    };
    try {
      const doc = docFromParts(await parts());
      const stateHash = createHash('sha256').update(Y.encodeStateAsUpdate(doc)).digest('hex');
      const snapshot = new StudioDoc(doc).snapshot();
      const lengthMs = sessionDurationMs(snapshot);
      if (lengthMs <= 0) throw new Error('the session has no notes or clips to render');
      const midi = exportMidi(snapshot);
      step(0.1);
      const rendered = await renderMidi(midi, this.deps.tools, lengthMs, step);
      const audioHash = createHash('sha256').update(rendered.flac).digest('hex');
      const entry = await this.deps.content.put(tenantId, rendered.flac, 'audio/flac', `${sessionId}.flac`);
      await this.deps.storage.withTenant(tenantId, (trx) =>
        trx
          .updateTable('bounces')
          .set({ state: 'done', progress: 1, audio_cid: entry.cid, audio_sha256: audioHash, state_sha256: stateHash, duration_ms: rendered.durationMs, finished_at: new Date() })
          .where('id', '=', id)
          .execute(),
      );
      this.tell(tenantId, sessionId, id, 1, 'done', by, entry.cid);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.deps.logger.warn({ bounceId: id, sessionId, err: message }, 'bounce failed');
      await this.deps.storage
        .withTenant(tenantId, (trx) => trx.updateTable('bounces').set({ state: 'failed', progress: job.progress, error: message.slice(0, 500), finished_at: new Date() }).where('id', '=', id).execute())
        .catch(() => undefined);
      this.tell(tenantId, sessionId, id, job.progress, 'failed', by);
    }
  }

  private view(row: Row): Bounce {
    const live = this.running.get(row.id);
    return {
      id: row.id,
      sessionId: row.session_id,
      versionId: row.version_id === null ? null : String(row.version_id),
      uptoId: row.upto_id === null ? null : String(row.upto_id),
      at: row.at === null ? null : new Date(row.at).getTime(),
      state: row.state,
      progress: row.state === 'running' && live ? live.progress : Number(row.progress),
      error: row.error,
      audioCid: row.audio_cid,
      audioHash: row.audio_sha256,
      stateHash: row.state_sha256,
      durationMs: row.duration_ms,
      createdBy: row.created_by,
      createdAt: new Date(row.created_at).toISOString(),
    };
  }
}
