import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { EventBus } from '../events/bus.js';
import { createEvent } from '../events/catalog.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';
import type { MediaOutputsTable } from '../storage/schema.js';
import { CAMERA_SWITCH, startHls } from './hls.js';
import type { LiveRoom, RoomInfo } from './live-room.js';
import type { MediaPlane } from './plane.js';
import { Recording, type RecordingResult } from './recording.js';
import type { FfmpegBinary } from '../shared/ffmpeg-binary.js';

/** How long shutdown lets a recording's ffmpeg finish its file when the caller names no deadline. */
const SHUTDOWN_GRACE_MS = 5000;

export type OutputKind = MediaOutputsTable['kind'];
type RoomProducer = ReturnType<LiveRoom['producers']>[number];

/** A recording or HLS run as the API shows it. */
export interface MediaOutput {
  id: string;
  roomId: string;
  kind: OutputKind;
  status: MediaOutputsTable['status'];
  startedBy: string;
  startedAt: string;
  endedAt: string | null;
  tracks: Track[];
  bytes: number | null;
  durationMs: number | null;
  error: string | null;
  /** Recordings: where the file is served once finished. HLS: the public master playlist while it runs. */
  url: string | null;
}

interface Track {
  kind: 'audio' | 'video';
  producerId: string;
  userId: string;
  source: string | null;
}

/** Why an output cannot start or stop; the routes map `code` to an HTTP status. */
export class OutputError extends Error {
  constructor(
    readonly code: 'unavailable' | 'no-room' | 'no-media' | 'busy' | 'not-found' | 'failed',
    message: string,
  ) {
    super(message);
    this.name = 'OutputError';
  }
}

interface Running {
  id: string;
  tenantId: string;
  roomKey: string;
  kind: OutputKind;
  recording: Recording;
  /** Absolute: the recording's file, or the HLS run's directory. */
  location: string;
  unobserve?: () => void;
  onUnexpectedExit?: (result: RecordingResult) => void;
  /** HLS: the video producers the running ffmpeg carries, in its camera switch's order. */
  videos?: string[];
  restartTimer?: NodeJS.Timeout | null;
  swap?: Promise<void> | null;
  /** Set once the output is being finished, so that a stop and an ffmpeg crash finish it once. */
  finishing: Promise<MediaOutput> | null;
}

export interface MediaOutputsDeps {
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  dataDir: string;
  /** The plane, or null while media is unavailable. */
  plane: () => MediaPlane | null;
  /** ffmpeg as found at start: recordings and HLS are refused with its reason when it was not. */
  ffmpeg: FfmpegBinary;
}

/**
 * Recordings and HLS egress of live rooms. A row is stored before ffmpeg starts; it ends as
 * `finished` (with size and duration) or `failed` (with ffmpeg's last words), and either way a
 * `recording.ended` event says so. A room that closes stops its outputs; so does shutdown.
 *
 * What is recorded: every producer as its own track, copied as it arrives (WebM when all video is
 * VP8, Matroska otherwise). HLS carries the audio mixed into one and the live camera, following the
 * switch; when a producer it carries stops, pauses or appears, its ffmpeg is restarted on what
 * flows now (a mix or a switch waits for every input, so a stopped one would stall it), appending
 * to the same playlists after an EXT-X-DISCONTINUITY.
 */
export class MediaOutputs {
  private readonly running = new Map<string, Running>();
  private readonly starting = new Set<string>();

  constructor(private readonly deps: MediaOutputsDeps) {}

  /** Single node: rows left `running` by a previous process that died are marked failed. */
  async markAbandoned(): Promise<number> {
    const tenants = await this.deps.storage.db.selectFrom('tenants').select('id').execute();
    let count = 0;
    for (const { id } of tenants) {
      const result = await this.deps.storage.withTenant(id, (trx) =>
        trx
          .updateTable('media_outputs')
          .set({ status: 'failed', ended_at: new Date(), error: 'the server stopped while this output was running; a recording file holds what was written before' })
          .where('status', '=', 'running')
          .executeTakeFirst(),
      );
      count += Number(result.numUpdatedRows);
    }
    return count;
  }

  async start(kind: OutputKind, info: RoomInfo, userId: string): Promise<MediaOutput> {
    const plane = this.deps.plane();
    if (!plane) throw new OutputError('unavailable', 'media is unavailable on this server (see /healthz)');
    const { ffmpeg } = this.deps;
    if (!ffmpeg.available) throw new OutputError('unavailable', `recording and HLS are unavailable on this server: ${ffmpeg.reason}; to turn them on: ${ffmpeg.fix}`);
    const room = plane.existing(info);
    if (!room) throw new OutputError('no-room', `room ${info.roomId} is not live: nobody is connected to it`);
    const roomKey = room.key;
    const slot = `${roomKey}#${kind}`;
    if (this.starting.has(slot) || [...this.running.values()].some((r) => r.roomKey === roomKey && r.kind === kind)) {
      throw new OutputError('busy', `room ${info.roomId} already has a running ${kind === 'hls' ? 'HLS egress' : 'recording'}; stop it first`);
    }
    // Held until the output runs or has failed, so that two requests at once cannot both start one.
    this.starting.add(slot);
    try {
      return await this.launch(kind, info, userId, room);
    } finally {
      this.starting.delete(slot);
    }
  }

  private async launch(kind: OutputKind, info: RoomInfo, userId: string, room: LiveRoom): Promise<MediaOutput> {
    const roomKey = room.key;
    const producers = this.select(room);
    if (!producers.some(({ producer }) => producer.kind === 'audio')) throw new OutputError('no-media', `room ${info.roomId} has no audio to ${kind === 'hls' ? 'stream' : 'record'}`);
    const id = randomUUID();
    const video = producers.filter(({ producer }) => producer.kind === 'video');
    const extension = video.every(({ producer }) => producer.rtpParameters.codecs[0]?.mimeType.toLowerCase() === 'video/vp8') ? 'webm' : 'mkv';
    const relative = kind === 'hls' ? path.join('hls', id) : path.join('media', info.tenantId, info.kind, info.roomId, `${id}.${extension}`);
    const location = path.join(this.deps.dataDir, relative);
    const tracks: Track[] = producers.map(({ peer, producer }) => ({ kind: producer.kind, producerId: producer.id, userId: peer.userId, source: typeof producer.appData.source === 'string' ? producer.appData.source : null }));
    const startedAt = new Date();
    await this.deps.storage.withTenant(info.tenantId, (trx) =>
      trx
        .insertInto('media_outputs')
        .values({ id, tenant_id: info.tenantId, room_id: info.roomId, kind, status: 'running', started_by: userId, started_at: startedAt, path: relative, tracks: JSON.stringify(tracks) })
        .execute(),
    );
    const running: Partial<Running> = { id, tenantId: info.tenantId, roomKey, kind, location, finishing: null };
    const onUnexpectedExit = (result: RecordingResult) => {
      if (result.status === 'finished') this.deps.logger.info({ output: id, room: roomKey, note: result.note }, `${kind} ended by itself`);
      else this.deps.logger.error({ output: id, room: roomKey, error: result.error }, `${kind} stopped on its own`);
      running.finishing ??= this.complete(running as Running, result);
      running.finishing.catch(() => undefined);
    };
    running.onUnexpectedExit = onUnexpectedExit;
    let recording: Recording;
    try {
      recording =
        kind === 'hls'
          ? await this.launchHls(running as Running, room, producers, false)
          : await Recording.start(room, producers.map(({ producer }) => producer), { file: location, outputArgs: recordingArgs(location), validate: true, onUnexpectedExit });
    } catch (error) {
      const message = `${kind} could not start: ${(error as Error).message}`;
      await this.update(info.tenantId, id, { status: 'failed', ended_at: new Date(), error: message, bytes: 0, duration_ms: 0 });
      this.announce(info.tenantId, userId, { roomId: info.roomId, outputId: id, kind, status: 'failed', durationMs: 0, bytes: 0, error: message });
      throw new OutputError('failed', `${message} (output ${id})`);
    }
    if (running.finishing) {
      // ffmpeg died while starting; the row already says why.
      const failed = await running.finishing;
      throw new OutputError('failed', `${kind} could not start: ${failed.error ?? 'ffmpeg exited'} (output ${id})`);
    }
    running.recording = recording;
    running.unobserve = room.observe({
      closed: () => void this.stopRunning(running as Running).catch(() => undefined),
      ...(kind === 'hls'
        ? {
            liveCamera: (producerId: string | null) => this.switchCamera(running as Running, producerId),
            producerAdded: () => this.restartSoon(running as Running, room),
          }
        : {}),
    });
    this.running.set(id, running as Running);
    this.deps.logger.info({ output: id, room: roomKey, kind, tracks: tracks.length }, `${kind} started`);
    return toOutput({ id, room_id: info.roomId, kind, status: 'running', started_by: userId, started_at: startedAt, ended_at: null, path: relative, tracks, bytes: null, duration_ms: null, error: null });
  }

  /** Stops the running output of `kind` in the room (HLS has one per room). */
  async stopLatest(tenantId: string, info: RoomInfo, kind: OutputKind): Promise<MediaOutput> {
    const key = this.deps.plane()?.existing(info)?.key;
    const running = [...this.running.values()].find((r) => r.tenantId === tenantId && r.kind === kind && (key ? r.roomKey === key : r.roomKey.endsWith(`/${info.kind}/${info.roomId}`)));
    if (!running) throw new OutputError('not-found', `room ${info.roomId} has no running ${kind === 'hls' ? 'HLS egress' : 'recording'}`);
    return this.stopRunning(running);
  }

  async stop(tenantId: string, roomId: string, id: string): Promise<MediaOutput> {
    const running = this.running.get(id);
    if (running && running.tenantId === tenantId) return this.stopRunning(running);
    const row = await this.get(tenantId, id);
    if (!row || row.roomId !== roomId) throw new OutputError('not-found', `no output ${id} in room ${roomId}`);
    return row; // already over: stopping again is harmless
  }

  async get(tenantId: string, id: string): Promise<MediaOutput | null> {
    const row = await this.deps.storage.withTenant(tenantId, (trx) => trx.selectFrom('media_outputs').selectAll().where('id', '=', id).executeTakeFirst());
    return row ? toOutput(row) : null;
  }

  async list(tenantId: string, roomId: string, kind?: OutputKind): Promise<MediaOutput[]> {
    const rows = await this.deps.storage.withTenant(tenantId, (trx) => {
      let query = trx.selectFrom('media_outputs').selectAll().where('room_id', '=', roomId);
      if (kind) query = query.where('kind', '=', kind);
      return query.orderBy('started_at', 'desc').limit(200).execute();
    });
    return rows.map(toOutput);
  }

  /** The absolute path of a finished recording's file (tenant-checked), or null. */
  async fileOf(tenantId: string, id: string): Promise<{ output: MediaOutput; file: string } | null> {
    const row = await this.deps.storage.withTenant(tenantId, (trx) => trx.selectFrom('media_outputs').selectAll().where('id', '=', id).executeTakeFirst());
    if (!row || row.kind !== 'recording') return null;
    return { output: toOutput(row), file: path.join(this.deps.dataDir, row.path) };
  }

  /** The room's running HLS egress on this node, or null. */
  async currentHls(info: RoomInfo): Promise<MediaOutput | null> {
    const running = [...this.running.values()].find((r) => r.tenantId === info.tenantId && r.kind === 'hls' && r.roomKey.endsWith(`/${info.kind}/${info.roomId}`));
    return running ? this.get(info.tenantId, running.id) : null;
  }

  /** The directory of a running HLS egress (public by its unguessable id), or null. */
  hlsDirectory(id: string): string | null {
    const running = this.running.get(id);
    return running?.kind === 'hls' ? running.location : null;
  }

  /**
   * Stops everything (shutdown): files are finished and rows updated. A recording's ffmpeg gets
   * `graceMs` to finish its file (a room that went quiet would otherwise hold it until its input
   * times out) and is killed after; HLS, whose directory goes with it, gets at most a second.
   */
  async close(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((running) => this.stopRunning(running, running.kind === 'hls' ? Math.min(graceMs, 1000) : graceMs)));
  }

  /** Every audio producer, then every video producer (the cameras), in the room's order. */
  private select(room: LiveRoom): RoomProducer[] {
    const all = room.producers().filter(({ producer }) => !producer.closed);
    return [...all.filter(({ producer }) => producer.kind === 'audio'), ...all.filter(({ producer }) => producer.kind === 'video')];
  }

  /** Starts (or restarts, appending to its playlists) a running HLS egress on what the room sends now. */
  private async launchHls(running: Running, room: LiveRoom, producers: RoomProducer[], append: boolean): Promise<Recording> {
    const videos = producers.filter(({ producer }) => producer.kind === 'video').map(({ producer }) => producer.id);
    running.videos = videos;
    return startHls(
      room,
      producers.map(({ producer }) => producer),
      running.location,
      {
        ...(running.onUnexpectedExit ? { onUnexpectedExit: running.onUnexpectedExit } : {}),
        onSourceChange: () => this.restartSoon(running, room),
        live: Math.max(0, videos.indexOf(room.liveCamera ?? '')),
        append,
      },
    );
  }

  /** HLS shows the live camera: ffmpeg's camera switch follows the room's, at once. */
  private switchCamera(running: Running, producerId: string | null): void {
    const index = producerId ? (running.videos ?? []).indexOf(producerId) : -1;
    // A camera HLS does not carry yet arrives with the restart its producer triggered.
    if (index >= 0) running.recording.command(CAMERA_SWITCH, 'map', String(index));
  }

  /**
   * A producer HLS carries stopped, paused or resumed, or one appeared: ffmpeg's mix and camera
   * switch wait for every input, so the egress restarts on what flows now (after 300 ms, so that a
   * burst of changes restarts it once).
   */
  private restartSoon(running: Running, room: LiveRoom): void {
    if (running.finishing || running.restartTimer) return;
    running.restartTimer = setTimeout(() => {
      running.restartTimer = null;
      running.swap = this.restart(running, room).finally(() => (running.swap = null));
    }, 300);
  }

  private async restart(running: Running, room: LiveRoom): Promise<void> {
    if (running.finishing || room.closed) return;
    const previous = await running.recording.stop();
    if (previous.status === 'failed') this.deps.logger.warn({ output: running.id, error: previous.error }, 'HLS egress ended badly before its restart');
    if (running.finishing) return;
    // What flows now: producers the DJ paused send nothing and would stall the mix.
    const producers = this.select(room).filter(({ producer }) => !producer.paused);
    if (!producers.some(({ producer }) => producer.kind === 'audio')) {
      running.finishing = this.complete(running, { ...previous, status: 'finished', error: null, note: 'no audio left in the room' });
      return;
    }
    try {
      running.recording = await this.launchHls(running, room, producers, true);
      this.deps.logger.info({ output: running.id, tracks: producers.length }, 'HLS egress restarted on the producers the room has now');
    } catch (error) {
      running.finishing = this.complete(running, { ...previous, status: 'failed', error: `HLS egress could not restart: ${(error as Error).message}` });
    }
  }

  private stopRunning(running: Running, killAfterMs?: number): Promise<MediaOutput> {
    if (running.restartTimer) clearTimeout(running.restartTimer);
    running.restartTimer = null;
    const deadline = killAfterMs === undefined ? {} : { killAfterMs };
    // A restart may be waiting for the ffmpeg it replaces to stop: that one is hurried too.
    if (killAfterMs !== undefined) running.recording.stop(deadline).catch(() => undefined);
    running.finishing ??= (async () => {
      // A restart in progress sees `finishing` and launches nothing; then what runs is stopped.
      await running.swap;
      return this.complete(running, await running.recording.stop(deadline));
    })();
    return running.finishing;
  }

  /** Stores how the output ended and says so; called once per output (see `finishing`). */
  private async complete(running: Running, result: RecordingResult): Promise<MediaOutput> {
    this.running.delete(running.id);
    running.unobserve?.();
    const ended = new Date();
    const bytes = running.kind === 'hls' ? 0 : result.bytes;
    if (running.kind === 'hls') await rm(running.location, { recursive: true, force: true });
    const row = await this.update(running.tenantId, running.id, { status: result.status, ended_at: ended, error: result.error, bytes, duration_ms: result.durationMs });
    this.announce(running.tenantId, row?.started_by, {
      roomId: row?.room_id ?? running.roomKey.split('/').at(-1) ?? running.roomKey,
      outputId: running.id,
      kind: running.kind,
      status: result.status,
      durationMs: result.durationMs,
      bytes,
      ...(result.error ? { error: result.error.slice(0, 2000) } : {}),
    });
    if (result.status === 'failed') this.deps.logger.error({ output: running.id, room: running.roomKey, error: result.error }, `${running.kind} failed`);
    if (!row) throw new OutputError('failed', `output ${running.id} could not be stored as ${result.status}; see the server log`);
    return toOutput(row);
  }

  private async update(tenantId: string, id: string, values: { status: 'finished' | 'failed'; ended_at: Date; error: string | null; bytes: number; duration_ms: number }) {
    try {
      return await this.deps.storage.withTenant(tenantId, (trx) => trx.updateTable('media_outputs').set(values).where('id', '=', id).returningAll().executeTakeFirst());
    } catch (error) {
      this.deps.logger.error({ err: error, output: id, ...values }, 'media output row could not be updated');
      return undefined;
    }
  }

  private announce(tenantId: string, actor: string | undefined, payload: Parameters<typeof createEvent<'recording.ended'>>[1]['payload']): void {
    try {
      const event = createEvent('recording.ended', { tenantId, ...(actor ? { actor } : {}), payload });
      this.deps.bus.publish(event).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'recording.ended could not be published'));
    } catch (error) {
      this.deps.logger.error({ err: error }, 'recording.ended could not be built');
    }
  }
}

/**
 * ffmpeg output arguments of a recording: every stream copied as its own track, without
 * re-encoding. No mixing on purpose: a filter waits for all its inputs, so a guest who leaves
 * would stall a mix, while the muxer carries on without a stream that stopped.
 */
export function recordingArgs(file: string): string[] {
  return ['-map', '0', '-c', 'copy', '-y', file];
}

function toOutput(row: Omit<MediaOutputsTable, 'tenant_id' | 'tracks' | 'bytes'> & { tenant_id?: string; tracks: unknown; bytes: string | number | null }): MediaOutput {
  const tracks = (typeof row.tracks === 'string' ? JSON.parse(row.tracks) : row.tracks) as Track[];
  return {
    id: row.id,
    roomId: row.room_id,
    kind: row.kind,
    status: row.status,
    startedBy: row.started_by,
    startedAt: new Date(row.started_at).toISOString(),
    endedAt: row.ended_at ? new Date(row.ended_at).toISOString() : null,
    tracks,
    bytes: row.bytes === null ? null : Number(row.bytes),
    durationMs: row.duration_ms,
    error: row.error,
    url: row.kind === 'hls' ? (row.status === 'running' ? `/hls/${row.id}/master.m3u8` : null) : row.status === 'finished' ? `/api/v1/recordings/${row.id}/file` : null,
  };
}
