// HTTP API of sample packs. A creator uploads audio files (each stored by its content id in the
// tenant, the bytes checked to be FLAC, WAV, AIFF, Ogg or MP3), then proposes a pack of them (or of
// bounces): one edition for the whole pack, its metadata listing every sample by content id and
// sha-256, paid to the split the creators give (the uploader alone by default). Each creator in the
// split accepts or declines it and it is minted like a session's drop (/api/v1/nft/drops/:id/…).
import { HttpError } from '../server/errors.js';
import type { HttpRouter } from '../server/http.js';
import type { ContentStore } from './content.js';
import { packRequestSchema, type DropService } from './drops.js';
import { refusing } from './refusals.js';
import { dropReply, packListReply, uploadReply } from './reply-schemas.js';

/** The most one uploaded sample may weigh: 25 MiB. */
export const MAX_SAMPLE_BYTES = 25 * 1024 * 1024;
/** A file name: printable, no path separators. */
const NAME = /^[^/\\\p{Cc}]{1,200}$/u;

/** The audio format of `bytes` by its signature, as a content type; null when it is not one we take. */
export function audioTypeOf(bytes: Buffer): string | null {
  const ascii = (from: number, to: number) => bytes.toString('latin1', from, to);
  if (ascii(0, 4) === 'fLaC') return 'audio/flac';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'audio/wav';
  if (ascii(0, 4) === 'FORM' && (ascii(8, 12) === 'AIFF' || ascii(8, 12) === 'AIFC')) return 'audio/aiff';
  if (ascii(0, 4) === 'OggS') return 'audio/ogg';
  if (ascii(0, 3) === 'ID3' || (bytes.length > 1 && bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0)) return 'audio/mpeg';
  return null;
}

export function registerPackRoutes(http: HttpRouter, deps: { drops: DropService; content: ContentStore }): void {
  http.route(
    'POST',
    '/api/v1/nft/uploads',
    async (ctx) => {
      const name = ctx.headers['x-file-name'] ?? ctx.query.get('name') ?? 'sample';
      if (!NAME.test(name)) throw new HttpError(400, 'bad-request', 'the file name (x-file-name) must be 1-200 characters without slashes or control characters');
      const bytes = await ctx.body();
      if (bytes.length === 0) throw new HttpError(400, 'bad-request', 'the body is empty: send the audio file as the body');
      const contentType = audioTypeOf(bytes);
      if (!contentType) throw new HttpError(415, 'unsupported-media-type', 'the body is not FLAC, WAV, AIFF, Ogg or MP3 audio');
      const entry = await deps.content.put(ctx.principal!.tenantId, bytes, contentType, name);
      return { status: 201, headers: { location: `/ipfs/${entry.cid}` }, json: { cid: entry.cid, uri: `ipfs://${entry.cid}`, name, contentType, size: entry.size } };
    },
    { auth: 'required', tag: 'nft', summary: 'Upload an audio file (FLAC, WAV, AIFF, Ogg, MP3) for a sample pack', bodyType: 'application/octet-stream', maxBodyBytes: MAX_SAMPLE_BYTES, responses: { 201: uploadReply } },
  );
  http.route(
    'POST',
    '/api/v1/nft/packs',
    async (ctx) => {
      const principal = ctx.principal!;
      const request = await ctx.json(packRequestSchema);
      const drop = await refusing(() => deps.drops.createPack(principal.tenantId, principal.userId, request, deps.content));
      return { status: 201, headers: { location: `/api/v1/nft/drops/${drop.id}` }, json: drop };
    },
    { auth: 'required', tag: 'nft', summary: 'Propose a sample pack of uploaded files or bounces', maxBodyBytes: 65_536, body: packRequestSchema, responses: { 201: dropReply } },
  );
  http.route(
    'GET',
    '/api/v1/nft/packs',
    async (ctx) => {
      const principal = ctx.principal!;
      const all = await deps.drops.list(principal.tenantId, { packs: true }, 1000);
      // A pack is seen by its proposer and the creators in its split.
      const mine = all.filter((d) => d.samples && (d.proposedBy === principal.userId || d.split.collaborators.some((c) => c.userId === principal.userId)));
      return { json: { packs: mine } };
    },
    { auth: 'required', tag: 'nft', summary: 'The sample packs the caller proposed or is a creator of', responses: { 200: packListReply } },
  );
}
