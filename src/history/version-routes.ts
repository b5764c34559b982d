// Versions over HTTP: name one, list them, open one read-only (its snapshot, or its state for a Y.Doc),
// rename or delete it, and restore it, as a new branch session (the original untouched) or into the
// session as one change that everyone receives (the session's state before it is kept as a version,
// so restoring that one undoes it).
import * as Y from 'yjs';
import { z } from 'zod';
import type { CollabService } from '../collab/service.js';
import { RoomBusyError } from '../collab/room.js';
import { createEvent, type EventPayload, type VezaEvent } from '../events/catalog.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log.js';
import { canWrite, roleFor } from '../server/auth.js';
import { badRequest, forbidden, HttpError, notFound } from '../server/errors.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import type { QuotaSeam } from '../server/quota.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { MAX_UNIX_MS } from '../shared/time.js';
import { StudioDoc } from '../studio/model.js';
import { sessionOf } from '../studio/routes.js';
import { historyReplies as r, versionView } from './replies.js';
import { reconcile } from './restore.js';
import { VersionError, type Version, type VersionStore } from './versions.js';

export interface VersionRouteDeps {
  versions: VersionStore;
  collab: CollabService;
  bus: EventBus;
  quotas: QuotaSeam;
  logger: Logger;
}

const label = z.string().trim().min(1, 'a label is 1 to 100 characters').max(100, 'a label is 1 to 100 characters');
const description = z.string().max(2000, 'a description is at most 2,000 characters');
const newVersion = z.object({ label, description: description.optional(), at: z.number().finite().nonnegative().max(MAX_UNIX_MS).optional() }).strict();
const patchVersion = z.object({ label: label.optional(), description: description.optional() }).strict();
const restoreInput = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('branch'), sessionId: z.string().regex(DOC_ID_PATTERN, 'a session id is 1-200 characters of letters, digits and ._:-').optional() }).strict(),
  z.object({ mode: z.literal('into') }).strict(),
]);

const required = { auth: 'required', tag: 'sessions' } as const;

export function registerVersionRoutes(http: HttpRouter, deps: VersionRouteDeps): void {
  const { versions, collab } = deps;

  const emit = <T extends 'session.versioned' | 'session.branched'>(tenantId: string, actor: string, type: T, payload: EventPayload<T>) => {
    const event = createEvent(type, { tenantId, actor, payload }) as VezaEvent;
    deps.bus.publish(event).catch((error: unknown) => deps.logger.warn({ err: error, type }, 'could not publish event'));
  };

  /** The version of the path, 404 when the session has none of that id. */
  const versionOf = async (ctx: HttpContext, sessionId: string, tenantId: string): Promise<Version> => {
    const vid = ctx.params.vid ?? '';
    const version = await versions.get(tenantId, sessionId, vid);
    if (!version) throw notFound(`session ${sessionId} has no version ${vid}`);
    return version;
  };

  const writer = (ctx: HttpContext) => {
    const session = sessionOf(ctx);
    if (!canWrite(session.role)) throw forbidden(`role ${session.role} cannot change session ${session.id}`);
    return session;
  };

  http.route(
    'GET',
    '/api/v1/sessions/:id/versions',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const raw = ctx.query.get('limit') ?? '100';
      const limit = Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw badRequest('limit must be an integer from 1 to 500');
      if (!(await versions.exists(principal.tenantId, id))) throw notFound(`session ${id} has no recording`);
      const [list, lineage] = await Promise.all([versions.list(principal.tenantId, id, limit), versions.lineage(principal.tenantId, id)]);
      return { json: { sessionId: id, versions: list, ...lineage } };
    },
    { ...required, summary: 'A session\'s versions, newest first, and its branches', query: z.object({ limit: z.string().optional().describe('1-500 (default 100)') }), responses: { 200: r.versions } },
  );

  http.route(
    'POST',
    '/api/v1/sessions/:id/versions',
    async (ctx) => {
      const { id, principal } = writer(ctx);
      const input = await ctx.json(newVersion);
      const version = await versions.create(principal.tenantId, id, { ...input, author: principal.userId, kind: 'named' }).catch(refusal);
      emit(principal.tenantId, principal.userId, 'session.versioned', { sessionId: id, versionId: version.id, kind: 'named', reason: null, updates: version.updates });
      return { status: 201, json: version };
    },
    { ...required, body: newVersion, summary: 'Name a version of the session (now, or as it was at a time)', responses: { 201: versionView } },
  );

  http.route(
    'GET',
    '/api/v1/sessions/:id/versions/:vid',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const version = await versionOf(ctx, id, principal.tenantId);
      const snapshot = new StudioDoc(await versions.doc(principal.tenantId, version)).snapshot();
      return { json: { ...version, snapshot } };
    },
    { ...required, summary: 'A version, with its snapshot (read-only)', responses: { 200: r.versionWithSnapshot } },
  );

  http.route(
    'GET',
    '/api/v1/sessions/:id/versions/:vid/state',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const version = await versionOf(ctx, id, principal.tenantId);
      const state = Y.encodeStateAsUpdate(await versions.doc(principal.tenantId, version));
      return { headers: { 'content-type': 'application/octet-stream', 'cache-control': 'private, max-age=31536000, immutable' }, body: state };
    },
    { ...required, summary: 'A version\'s state as one Yjs update, to open it as a Y.Doc', responses: { 200: { type: 'application/octet-stream', description: 'Y.encodeStateAsUpdate of the version' } } },
  );

  http.route(
    'PATCH',
    '/api/v1/sessions/:id/versions/:vid',
    async (ctx) => {
      const { id, principal, role } = writer(ctx);
      const version = await versionOf(ctx, id, principal.tenantId);
      if (version.author !== principal.userId && role !== 'owner') throw forbidden(`only ${version.author} or an owner of session ${id} can rename version ${version.id}`);
      const patch = await ctx.json(patchVersion);
      const updated = await versions.update(principal.tenantId, id, version.id, patch);
      if (!updated) throw notFound(`session ${id} has no version ${version.id}`);
      return { json: updated };
    },
    { ...required, body: patchVersion, summary: 'Rename a version or change its description (its author or an owner)', responses: { 200: versionView } },
  );

  http.route(
    'DELETE',
    '/api/v1/sessions/:id/versions/:vid',
    async (ctx) => {
      const { id, principal, role } = writer(ctx);
      const version = await versionOf(ctx, id, principal.tenantId);
      if (version.author !== principal.userId && role !== 'owner') throw forbidden(`only ${version.author} or an owner of session ${id} can delete version ${version.id}`);
      await versions.remove(principal.tenantId, id, version.id);
      return { status: 204 };
    },
    { ...required, summary: 'Delete a version (its author or an owner)', responses: { 204: { description: 'deleted' } } },
  );

  http.route(
    'POST',
    '/api/v1/sessions/:id/versions/:vid/restore',
    async (ctx) => {
      const { id, principal, role } = sessionOf(ctx);
      const version = await versionOf(ctx, id, principal.tenantId);
      const input = await ctx.json(restoreInput);
      const tenantId = principal.tenantId;
      if (input.mode === 'branch') {
        const branchId = input.sessionId ?? (await freeBranchId(versions, tenantId, `${id}.v${version.id}`));
        const branchRole = roleFor(principal, branchId);
        if (!canWrite(branchRole)) throw forbidden(`creating session ${branchId} needs the owner or editor role on it`);
        deps.quotas.admit(tenantId, 'documents');
        const branch = await versions.branch(tenantId, version, branchId, principal.userId).catch(refusal);
        emit(tenantId, principal.userId, 'session.branched', { sessionId: branchId, sourceSessionId: id, versionId: version.id });
        return { status: 201, json: { mode: 'branch', version, branch } };
      }
      if (!canWrite(role)) throw forbidden(`role ${role} cannot change session ${id}`);
      // The state the restore replaces stays reachable: restoring this version undoes the restore.
      const { version: undo, created } = await versions.auto(tenantId, id, 'before-restore');
      if (created && undo) emit(tenantId, principal.userId, 'session.versioned', { sessionId: id, versionId: undo.id, kind: 'auto', reason: 'before-restore', updates: undo.updates });
      const target = await versions.doc(tenantId, version);
      try {
        await collab.edit(tenantId, id, principal.userId, (doc) => reconcile(doc, target));
      } catch (error) {
        if (error instanceof RoomBusyError) throw new HttpError(503, 'unavailable', error.message, { headers: { 'retry-after': '5' } });
        throw error;
      } finally {
        target.destroy();
      }
      await collab.persisted(tenantId, id);
      return { json: { mode: 'into', version, undo } };
    },
    {
      ...required,
      body: restoreInput,
      summary: 'Restore a version: as a new branch session (201), or into the session as one change (200)',
      responses: { 200: r.restored, 201: r.restored },
    },
  );
}

/** `base`, or `base.2`, `base.3`… the first id no session has. */
async function freeBranchId(versions: VersionStore, tenantId: string, base: string): Promise<string> {
  const root = base.slice(0, 190);
  for (let n = 1; n <= 50; n++) {
    const candidate = n === 1 ? root : `${root}.${n}`;
    if (!(await versions.exists(tenantId, candidate))) return candidate;
  }
  throw new HttpError(409, 'conflict', `no free session id for a branch of ${base}; name the branch with sessionId`);
}

function refusal(error: unknown): never {
  if (error instanceof VersionError) throw error.status === 404 ? notFound(error.message) : new HttpError(409, 'conflict', error.message);
  throw error;
}
