// Session bundles over HTTP: a session's bundle for whoever has a role on it, and an import for whoever
// may own the new session's id.
import { z } from 'zod';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { roleFor } from '../server/auth.js';
import { badRequest, forbidden, HttpError } from '../server/errors.js';
import type { HttpRouter } from '../server/http.js';
import { sessionOf } from '../studio/routes.js';
import { BundleError, decodeBundle, encodeBundle } from './bundle.js';
import { SessionTransferError, type SessionBundles } from './store.js';

const imported = z.object({ id: z.string().describe('the new session\'s id'), updates: z.number().int().describe('updates imported'), title: z.string() });

export interface SessionBundleRouteDeps {
  bundles: SessionBundles;
  /** Largest bundle accepted (bytes of JSON). */
  maxBundleBytes: number;
}

const PROBLEM = { 400: 'bad-request', 403: 'forbidden', 404: 'not-found', 409: 'conflict' } as const;

function transferError(error: unknown): never {
  if (error instanceof BundleError) throw badRequest(error.message);
  if (error instanceof SessionTransferError) throw new HttpError(error.status, PROBLEM[error.status], error.message);
  throw error;
}

export function registerSessionBundleRoutes(http: HttpRouter, deps: SessionBundleRouteDeps): void {
  http.route(
    'GET',
    '/api/v1/sessions/:id/bundle',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      const bundle = await deps.bundles.export(principal.tenantId, id).catch(transferError);
      const name = `${id}.veza.json`.replace(/[^A-Za-z0-9._-]/g, '_');
      return { headers: { 'content-type': 'application/json', 'content-disposition': `attachment; filename="${name}"` }, body: Buffer.from(encodeBundle(bundle)) };
    },
    { auth: 'required', tag: 'sessions', summary: 'The session as a bundle file: its updates, authors and times', responses: { 200: { type: 'application/json', description: 'a veza.session bundle (a download)' } } },
  );

  http.route(
    'POST',
    '/api/v1/sessions/import',
    async (ctx) => {
      const principal = ctx.principal!;
      const as = ctx.query.get('as') ?? undefined;
      if (as !== undefined && !DOC_ID_PATTERN.test(as)) throw badRequest('as must be 1-200 characters of letters, digits and ._:-');
      const body = await ctx.body();
      let bundle;
      try {
        bundle = decodeBundle(body.toString('utf8'));
      } catch (error) {
        transferError(error);
      }
      const id = as ?? bundle.id;
      if (roleFor(principal, id) !== 'owner') throw forbidden(`importing a session needs the owner role on ${id}`);
      const result = await deps.bundles.import(principal.tenantId, bundle, as === undefined ? {} : { as }).catch(transferError);
      return { status: 201, json: { ...result, title: bundle.title } };
    },
    {
      auth: 'required',
      maxBodyBytes: deps.maxBundleBytes,
      tag: 'sessions',
      summary: 'Import a bundle as a new session (owner of its id)',
      bodyType: 'application/json',
      query: z.object({ as: z.string().optional().describe('the new session\'s id; the bundle\'s by default') }),
      responses: { 201: imported },
    },
  );
}
