import type { CollabService } from '../collab/service.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { isUnixMs, MAX_UNIX_MS } from '../shared/time.js';
import { RoomBusyError } from '../collab/room.js';
import { canWrite, roleFor, type DocumentRole, type Principal } from '../server/auth.js';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { exportMidi } from './midi-export.js';
import { importMidi } from './midi-import.js';
import { MidiError } from './midi-read.js';
import { StudioDoc } from './model.js';
import { midiExportQuery, midiImportReply, sessionHistoryReply, sessionListQuery, sessionListReply } from './schemas.js';
import { docFromParts, type ReplayStore } from './replay-store.js';

export interface StudioRouteDeps {
  collab: CollabService;
  replay: ReplayStore;
}

/** The session id of the path, and the caller's role on it (403 without one). */
export function sessionOf(ctx: HttpContext): { id: string; role: DocumentRole; principal: Principal } {
  const id = ctx.params.id ?? '';
  if (!DOC_ID_PATTERN.test(id)) throw badRequest('session id must be 1-200 characters of letters, digits and ._:-');
  const principal = ctx.principal!;
  const role = roleFor(principal, id);
  if (!role) throw forbidden(`no role on session ${id}`);
  return { id, role, principal };
}

/** The query parameter `name` as a Unix time in milliseconds (400 for anything else); undefined when absent. */
export function timeParam(ctx: HttpContext, name: string): number | undefined {
  const raw = ctx.query.get(name);
  if (raw === null) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !isUnixMs(value)) throw badRequest(`${name} must be a time in Unix milliseconds, from 0 to ${MAX_UNIX_MS}`);
  return value;
}

/**
 * Studio session HTTP API: the recording's timeline, MIDI in (through the live document, so
 * everyone connected sees it and the log records it) and MIDI out (now, or as it was at a time).
 */
export function registerStudioRoutes(http: HttpRouter, deps: StudioRouteDeps): void {
  http.route(
    'GET',
    '/api/v1/sessions',
    async (ctx) => {
      const principal = ctx.principal!;
      const raw = ctx.query.get('limit') ?? '50';
      const limit = Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw badRequest('limit must be an integer from 1 to 200');
      const sessions = await deps.replay.sessions(principal.tenantId, limit);
      // Only those the caller has a role on.
      return { json: { sessions: sessions.filter((s) => roleFor(principal, s.id) !== null) } };
    },
    { auth: 'required', tag: 'sessions', summary: 'The tenant\'s sessions the caller has a role on, newest first', query: sessionListQuery, responses: { 200: sessionListReply } },
  );

  http.route(
    'GET',
    '/api/v1/sessions/:id/history',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const history = await deps.replay.history(principal.tenantId, id);
      if (!history) throw notFound(`session ${id} has no recording`);
      return { json: history };
    },
    { auth: 'required', tag: 'sessions', summary: 'A session\'s recording: span, authors, checkpoints', responses: { 200: sessionHistoryReply } },
  );

  http.route(
    'POST',
    '/api/v1/sessions/:id/midi',
    async (ctx) => {
      const { id, role, principal } = sessionOf(ctx);
      if (!canWrite(role)) throw forbidden(`role ${role} cannot change session ${id}`);
      const body = await ctx.body();
      if (body.byteLength === 0) throw badRequest('the body must be a Standard MIDI File');
      try {
        const result = await deps.collab.edit(principal.tenantId, id, principal.userId, (doc) => importMidi(new StudioDoc(doc), new Uint8Array(body)));
        return { status: 201, json: result };
      } catch (error) {
        if (error instanceof MidiError) throw badRequest(error.message);
        if (error instanceof RoomBusyError) throw new HttpError(503, 'unavailable', error.message, { headers: { 'retry-after': '5' } });
        throw error;
      }
    },
    { auth: 'required', tag: 'sessions', summary: 'Add a Standard MIDI File\'s tracks to the live session', bodyType: 'audio/midi', responses: { 201: midiImportReply } },
  );

  http.route(
    'GET',
    '/api/v1/sessions/:id/export.mid',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const at = timeParam(ctx, 'at');
      const trackId = ctx.query.get('track') ?? undefined;
      const doc = docFromParts(at === undefined ? [await deps.collab.state(principal.tenantId, id)] : (await deps.replay.stateAt(principal.tenantId, id, at)).parts);
      const snapshot = new StudioDoc(doc).snapshot();
      if (trackId !== undefined && !snapshot.tracks.some((t) => t.id === trackId)) throw notFound(`track ${trackId} not found in session ${id}`);
      const file = exportMidi(snapshot, trackId === undefined ? {} : { trackId });
      const name = `${id}${trackId ? `-${trackId}` : ''}${at === undefined ? '' : `-at-${Math.round(at)}`}.mid`.replace(/[^A-Za-z0-9._-]/g, '_');
      return { headers: { 'content-type': 'audio/midi', 'content-disposition': `attachment; filename="${name}"` }, body: file };
    },
    { auth: 'required', tag: 'sessions', summary: 'The session (or one track, or as it was at a time) as a Standard MIDI File', query: midiExportQuery, responses: { 200: { type: 'audio/midi' } } },
  );
}
