import path from 'node:path';
import { canWrite, roleFor, type DocumentRole, type Principal } from '../server/auth.js';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import { fileReply } from '../server/files.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { OutputError, type MediaOutputs, type OutputKind } from './outputs.js';
import type { RoomInfo, RoomKind } from './live-room.js';
import { fileResponses, mediaOutput, recordingList, roomKindQuery } from './replies.js';

const HLS_FILE = /^[A-Za-z0-9_-]{1,100}\.(m3u8|m4s|mp4)$/;
const HLS_TYPES: Record<string, string> = { m3u8: 'application/vnd.apple.mpegurl', m4s: 'video/iso.segment', mp4: 'video/mp4' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The room of the path (`?kind=voice` for a studio session's voice room) and the caller's role on it. */
function roomOf(ctx: HttpContext): { info: RoomInfo; role: DocumentRole; principal: Principal } {
  const roomId = ctx.params.room ?? '';
  if (!DOC_ID_PATTERN.test(roomId)) throw badRequest('room id must be 1-200 characters of letters, digits and ._:-');
  const kindParam = ctx.query.get('kind') ?? 'live';
  if (kindParam !== 'live' && kindParam !== 'voice') throw badRequest('kind must be live (a live room, the default) or voice (a studio session\'s voice room)');
  const principal = ctx.principal!;
  const role = roleFor(principal, roomId);
  if (!role) throw forbidden(`no role on room ${roomId}`);
  return { info: { tenantId: principal.tenantId, roomId, kind: kindParam as RoomKind }, role, principal };
}

function outputId(ctx: HttpContext): string {
  const id = ctx.params.id ?? '';
  if (!UUID.test(id)) throw notFound(`no recording ${id}`);
  return id;
}

function asHttp(error: unknown): never {
  if (!(error instanceof OutputError)) throw error;
  const status = { unavailable: 503, 'no-room': 409, 'no-media': 409, busy: 409, 'not-found': 404, failed: 502 }[error.code];
  throw new HttpError(status, error.code, error.message);
}

/**
 * Recording and HLS control of live rooms:
 * - `POST /api/v1/rooms/:room/recordings` starts a recording (owner or editor), 201 with the row;
 *   `POST …/recordings/:id/stop` finishes it; `GET …/recordings` lists the room's recordings;
 *   `GET /api/v1/recordings/:id` and `…/file` (byte ranges) for anyone with a role on the room.
 * - `POST /api/v1/rooms/:room/hls` (owner) starts HLS egress and answers the public playlist URL
 *   `/hls/<id>/master.m3u8`; `DELETE /api/v1/rooms/:room/hls` stops it. The playlist and segments
 *   are served without a token to whoever has the id (an unguessable UUID), as broadcasts are.
 */
export function registerMediaRoutes(http: HttpRouter, outputs: MediaOutputs): void {
  const start = async (ctx: HttpContext, kind: OutputKind, mayStart: (role: DocumentRole) => boolean) => {
    const { info, role, principal } = roomOf(ctx);
    if (!mayStart(role)) throw forbidden(`role ${role} cannot start ${kind === 'hls' ? 'HLS egress' : 'a recording'} in room ${info.roomId}`);
    if (kind === 'recording') http.quotas.admit(info.tenantId, 'recordingMinutes');
    const output = await outputs.start(kind, info, principal.userId).catch(asHttp);
    return { status: 201, json: output };
  };

  const tag = 'media';
  const room = { auth: 'required', tag, query: roomKindQuery } as const;
  http.route('POST', '/api/v1/rooms/:room/recordings', (ctx) => start(ctx, 'recording', canWrite), { ...room, summary: 'Start recording a room (owner or editor)', responses: { 201: mediaOutput } });

  http.route(
    'POST',
    '/api/v1/rooms/:room/recordings/:id/stop',
    async (ctx) => {
      const { info, role } = roomOf(ctx);
      if (!canWrite(role)) throw forbidden(`role ${role} cannot stop recordings in room ${info.roomId}`);
      return { json: await outputs.stop(info.tenantId, info.roomId, outputId(ctx)).catch(asHttp) };
    },
    { ...room, summary: 'Stop a recording (owner or editor)', responses: { 200: mediaOutput } },
  );

  http.route(
    'GET',
    '/api/v1/rooms/:room/recordings',
    async (ctx) => {
      const { info } = roomOf(ctx);
      return { json: { recordings: await outputs.list(info.tenantId, info.roomId, 'recording') } };
    },
    { ...room, summary: 'A room\'s recordings', responses: { 200: recordingList } },
  );

  const recording = async (ctx: HttpContext) => {
    const principal = ctx.principal!;
    const found = await outputs.fileOf(principal.tenantId, outputId(ctx));
    // Not found and not allowed look the same, so ids of other rooms cannot be probed.
    if (!found || !roleFor(principal, found.output.roomId)) throw notFound(`no recording ${ctx.params.id}`);
    return found;
  };

  http.route('GET', '/api/v1/recordings/:id', async (ctx) => ({ json: (await recording(ctx)).output }), { auth: 'required', tag, summary: 'One recording', responses: { 200: mediaOutput } });

  http.route(
    'GET',
    '/api/v1/recordings/:id/file',
    async (ctx) => {
      const { output, file } = await recording(ctx);
      if (output.status === 'running') throw new HttpError(409, 'still-recording', `recording ${output.id} is still running; stop it first`);
      if (output.status === 'failed' && !output.bytes) throw new HttpError(410, 'recording-failed', `recording ${output.id} failed and wrote nothing: ${output.error ?? 'unknown error'}`);
      const type = file.endsWith('.webm') ? 'video/webm' : 'video/x-matroska';
      return fileReply(ctx, file, { 'content-type': type, 'content-disposition': `attachment; filename="${path.basename(file)}"` });
    },
    { auth: 'required', tag, summary: 'A finished recording\'s file (WebM or Matroska; byte ranges)', responses: fileResponses('video/webm') },
  );

  http.route('POST', '/api/v1/rooms/:room/hls', (ctx) => start(ctx, 'hls', (role) => role === 'owner'), {
    ...room,
    summary: 'Start HLS egress of a room (owner); its url is the public playlist',
    responses: { 201: mediaOutput },
  });

  http.route(
    'GET',
    '/api/v1/rooms/:room/hls',
    async (ctx) => {
      const { info } = roomOf(ctx);
      const current = await outputs.currentHls(info);
      if (!current) throw notFound(`room ${info.roomId} has no running HLS egress`);
      return { json: current };
    },
    { ...room, summary: 'The room\'s running HLS egress', responses: { 200: mediaOutput } },
  );

  http.route(
    'DELETE',
    '/api/v1/rooms/:room/hls',
    async (ctx) => {
      const { info, role } = roomOf(ctx);
      if (role !== 'owner') throw forbidden(`role ${role} cannot stop HLS egress in room ${info.roomId}`);
      return { json: await outputs.stopLatest(info.tenantId, info, 'hls').catch(asHttp) };
    },
    { ...room, summary: 'Stop the room\'s HLS egress (owner)', responses: { 200: mediaOutput } },
  );

  http.route(
    'GET',
    '/hls/:id/:file',
    async (ctx) => {
      const dir = UUID.test(ctx.params.id ?? '') ? outputs.hlsDirectory(ctx.params.id!) : null;
      const file = ctx.params.file ?? '';
      if (!dir || !HLS_FILE.test(file)) throw notFound('no such HLS stream or file (streams exist while their egress runs)');
      const extension = file.slice(file.lastIndexOf('.') + 1);
      // Playlists change every segment; segments never change.
      const cache = extension === 'm3u8' ? 'no-cache' : 'public, max-age=60';
      return fileReply(ctx, path.join(dir, file), { 'content-type': HLS_TYPES[extension]!, 'cache-control': cache });
    },
    { auth: 'none', tag, summary: 'An HLS playlist or segment (public to whoever has the id)', responses: fileResponses('application/vnd.apple.mpegurl') },
  );
}
