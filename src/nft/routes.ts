// HTTP API of drops (propose, read with the split and everyone's answer, accept, decline, mint) and
// the content gateway `GET /ipfs/<cid>`. Every refusal is problem JSON; drops are read through the
// caller's tenant, so another tenant's drop is unknown (404).
import { z } from 'zod';
import { canWrite, roleFor } from '../server/auth.js';
import { forbidden, HttpError, notFound } from '../server/errors.js';
import { fileReply } from '../server/files.js';
import type { HttpContext, HttpRouter } from '../server/http.js';
import { DEFAULT_TENANT } from '../storage/schema.js';
import { sessionOf } from '../studio/routes.js';
import type { ContentStore } from './content.js';
import { dropRequestSchema, type DropService } from './drops.js';
import { idempotencyKey } from './idempotency.js';
import type { Minter } from './mint.js';
import { refusing } from './refusals.js';
import { dropListReply, dropReply, mintReply } from './reply-schemas.js';

const acceptSchema = z.object({ payoutAddress: z.string().max(100).optional() }).strict();
const mintSchema = z.object({}).strict();

export interface NftRouteDeps {
  drops: DropService;
  content: ContentStore;
  /** The minter, the chain opened for it; rejects with a 503 problem while the chain is off. */
  minter: () => Promise<Minter>;
}

export function unavailable(off: { reason: string; fix?: string } | null): HttpError {
  return new HttpError(503, 'nft-unavailable', `digital ownership is off: ${off?.reason ?? 'starting'}${off?.fix ? `; ${off.fix}` : ''}`, { headers: { 'retry-after': '30' } });
}

const optionalJson = async <S extends z.ZodType>(ctx: HttpContext, schema: S): Promise<z.output<S>> => {
  const empty = ctx.headers['content-length'] === '0' || ctx.headers['content-length'] === undefined;
  return empty ? schema.parse({}) : ctx.json(schema);
};

export function registerNftRoutes(http: HttpRouter, deps: NftRouteDeps): void {
  const { drops } = deps;
  const tag = 'nft';
  const dropOf = async (ctx: HttpContext) => {
    const principal = ctx.principal!;
    const drop = await drops.get(principal.tenantId, ctx.params.id ?? '');
    // A drop is visible to those with a role on its session; a sample pack to its proposer and creators.
    const visible = drop && (drop.sessionId !== null ? roleFor(principal, drop.sessionId) !== null : drop.proposedBy === principal.userId || drop.split.collaborators.some((c) => c.userId === principal.userId));
    if (!drop || !visible) throw notFound(`no drop ${ctx.params.id}`);
    return drop;
  };

  http.route(
    'POST',
    '/api/v1/sessions/:id/drops',
    async (ctx) => {
      const { id, role, principal } = sessionOf(ctx);
      if (!canWrite(role)) throw forbidden(`role ${role} cannot propose a drop of session ${id}: editors and owners can`);
      const request = await ctx.json(dropRequestSchema);
      const drop = await refusing(() => drops.create(principal.tenantId, id, principal.userId, request));
      return { status: 201, headers: { location: `/api/v1/nft/drops/${drop.id}` }, json: drop };
    },
    { auth: 'required', tag, summary: 'Propose a drop of the session: its split, edition and licence', maxBodyBytes: 8192, body: dropRequestSchema, responses: { 201: dropReply } },
  );
  http.route(
    'GET',
    '/api/v1/sessions/:id/drops',
    async (ctx) => {
      const { id, principal } = sessionOf(ctx);
      return { json: { drops: await drops.list(principal.tenantId, { sessionId: id }) } };
    },
    { auth: 'required', tag, summary: 'The session\'s drops, newest first', responses: { 200: dropListReply } },
  );
  http.route('GET', '/api/v1/nft/drops/:id', async (ctx) => ({ json: await dropOf(ctx) }), { auth: 'required', tag, summary: 'A drop with its split and everyone\'s answer', responses: { 200: dropReply } });
  http.route(
    'POST',
    '/api/v1/nft/drops/:id/accept',
    async (ctx) => {
      const drop = await dropOf(ctx);
      const { payoutAddress } = await optionalJson(ctx, acceptSchema);
      const principal = ctx.principal!;
      return { json: await refusing(() => drops.accept(principal.tenantId, drop.id, principal.userId, payoutAddress)) };
    },
    { auth: 'required', tag, summary: 'Accept the split, naming where one\'s share is paid', maxBodyBytes: 1024, responses: { 200: dropReply } },
  );
  http.route(
    'POST',
    '/api/v1/nft/drops/:id/decline',
    async (ctx) => {
      const drop = await dropOf(ctx);
      const principal = ctx.principal!;
      return { json: await refusing(() => drops.decline(principal.tenantId, drop.id, principal.userId)) };
    },
    { auth: 'required', tag, summary: 'Decline the split: the drop stops for good', responses: { 200: dropReply } },
  );
  http.route(
    'POST',
    '/api/v1/nft/drops/:id/mint',
    async (ctx) => {
      const key = idempotencyKey(ctx.headers, 'mint');
      const drop = await dropOf(ctx);
      const body = await optionalJson(ctx, mintSchema);
      // Who the split still waits for is said before the chain is reached (the local one starts at its first use).
      await refusing(async () => drops.ensureMintable(drop));
      const minter = await deps.minter();
      const principal = ctx.principal!;
      const { result, replayed } = await refusing(() => minter.mint(principal.tenantId, principal.userId, drop.id, key, body));
      return { status: replayed ? 200 : 201, headers: replayed ? { 'idempotent-replayed': 'true' } : {}, json: result };
    },
    {
      auth: 'required',
      tag,
      summary: 'Mint a drop everyone accepted (Idempotency-Key required)',
      maxBodyBytes: 1024,
      responses: { 201: mintReply, 200: { schema: mintReply, description: 'a retry with the same Idempotency-Key: the first result again (header idempotent-replayed)' } },
    },
  );

  // What editions point at (audio, metadata), as an IPFS gateway serves it: the content id is the
  // hash of the bytes, so the answer never changes. Read in the tenant of the token, of the host
  // (a tenant's domain) or the default tenant.
  http.route(
    'GET',
    '/ipfs/:cid',
    async (ctx) => {
      const cid = ctx.params.cid ?? '';
      const tenantId = ctx.principal?.tenantId ?? ctx.hostTenant ?? DEFAULT_TENANT;
      const entry = await deps.content.get(tenantId, cid);
      if (!entry) throw notFound(`no content ${cid.slice(0, 120)}`);
      return fileReply(ctx, deps.content.pathOf(entry.cid), {
        'content-type': entry.contentType,
        'cache-control': 'public, max-age=31536000, immutable',
        etag: `"${entry.cid}"`,
        'x-ipfs-path': `/ipfs/${entry.cid}`,
      });
    },
    {
      tag,
      summary: 'Stored content by its content id, as an IPFS gateway serves it',
      responses: {
        200: { type: 'application/octet-stream', description: 'the bytes, with the content type they were stored with (audio, JSON metadata)' },
        206: { type: 'application/octet-stream', description: 'the byte range asked for (Range)' },
      },
    },
  );
}
