// Content coding of HTTP replies and their validators. Brotli or gzip is chosen from the client's
// Accept-Encoding (q-values honoured, identity when nothing acceptable is offered) for JSON and text
// bodies at or above a size threshold. Live replies use the Brotli quality measured in
// bench/compression.ts (a few bytes more than quality 11 for a fraction of the CPU); replies marked
// static (the spec, the web client's files) use quality 11 once and are kept, keyed by their hash.
// Small live Brotli bodies are compressed on the event loop, where that costs less of it than the
// hand-off to libuv's thread pool would; the rest run on the pool (zlib's async API). A strong ETag
// is the hash of the identity body; an encoded variant carries it with the coding as suffix, and
// If-None-Match accepts either. A body kept encoded between requests (`keepBody`: its ETag, length
// and Brotli form, as a live reply would have them) goes to Brotli clients as it was kept; its gzip
// form is made the first time a gzip client asks, and kept too; identity clients get it decoded.
import { createHash } from 'node:crypto';
import { brotliCompress, brotliCompressSync, brotliDecompressSync, constants, gzip, type BrotliOptions } from 'node:zlib';
import { promisify } from 'node:util';

export type Coding = 'br' | 'gzip' | 'identity';

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
/** gzip's level for replies made per request (its default). */
const GZIP_LEVEL = 6;

/** Types worth compressing: JSON (problem+json too), text, JavaScript, SVG, source maps. */
const COMPRESSIBLE = /^(application\/([\w.+-]+\+)?json|text\/|application\/javascript|image\/svg\+xml)/i;

export function compressible(contentType: string | undefined): boolean {
  return contentType !== undefined && COMPRESSIBLE.test(contentType);
}

/**
 * The coding to answer with, from an Accept-Encoding header: the acceptable coding with the highest
 * q-value among br and gzip (br wins a tie), `*` standing for any not named; identity when none is
 * acceptable or the header is absent. (An explicit `identity;q=0` with nothing else acceptable still
 * gets identity: a body the client can read beats a 406.)
 */
export function negotiate(header: string | undefined): Coding {
  if (!header) return 'identity';
  const q: Record<string, number> = {};
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.trim().split(';');
    const name = (rawName ?? '').trim().toLowerCase();
    if (!name) continue;
    let value = 1;
    for (const param of params) {
      const match = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(param);
      if (match) value = Math.min(1, Math.max(0, Number(match[1]) || 0));
    }
    q[name === 'x-gzip' ? 'gzip' : name] = value;
  }
  const of = (coding: 'br' | 'gzip') => q[coding] ?? q['*'] ?? 0;
  const br = of('br');
  const gz = of('gzip');
  if (br <= 0 && gz <= 0) return 'identity';
  return br >= gz ? 'br' : 'gzip';
}

/**
 * Brotli bodies up to this size are compressed on the calling thread, at a live quality up to
 * INLINE_MAX_QUALITY. Handing a body to libuv's pool costs the main thread some 60-200 µs of stream
 * machinery and wake-ups whatever its size, and the process twice the CPU of the work itself; at
 * quality 1 a 16 KB answer compresses in about 50 µs (`bench/compression.ts`, "inline or on the
 * pool"). Larger bodies, higher qualities and gzip go to the pool.
 */
export const INLINE_COMPRESS_MAX_BYTES = 24 * 1024;
const INLINE_MAX_QUALITY = 4;

function brotliOptions(body: Uint8Array, quality: number): BrotliOptions {
  return {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    },
  };
}

/** `body` compressed on libuv's thread pool. */
export function compress(body: Uint8Array, coding: 'br' | 'gzip', brotliQuality: number): Promise<Buffer> {
  if (coding === 'gzip') return gzipAsync(body, { level: GZIP_LEVEL });
  return brotliAsync(body, brotliOptions(body, brotliQuality));
}

/** `body` Brotli-compressed on this thread: for small bodies, where the pool's hand-off costs more than the work. */
function compressBrotliInline(body: Uint8Array, quality: number): Buffer {
  return brotliCompressSync(body, brotliOptions(body, quality));
}

/** A body encoded once to be sent again and again: its identity ETag and length, and its Brotli form. */
export interface KeptBody {
  readonly etag: string;
  readonly length: number;
  readonly br: Buffer;
  /** Its gzip form, made the first time a client that takes gzip but not Brotli asks for it (`encodeReply`). */
  gzip?: Promise<Buffer> | undefined;
}

/**
 * `body` Brotli-compressed as a live reply is: small bodies at a low quality on this thread, the
 * rest on libuv's pool.
 */
function brotliLive(body: Uint8Array, quality: number): Buffer | Promise<Buffer> {
  if (body.byteLength <= INLINE_COMPRESS_MAX_BYTES && quality <= INLINE_MAX_QUALITY) return compressBrotliInline(body, quality);
  return compress(body, 'br', quality);
}

/** `body` hashed and Brotli-compressed once, as a live reply at `quality` would be, to be sent as it is kept. */
export async function keepBody(body: Uint8Array | string, quality: number): Promise<KeptBody> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return { etag: strongEtag(bytes), length: bytes.byteLength, br: ownCopy(await brotliLive(bytes, quality)) };
}

/**
 * `encoded` in memory of its own, to be kept: zlib's result can be a view of its whole 16 KiB output
 * chunk, and a copy from Buffer's shared pool would leave that pool's slack to it.
 */
function ownCopy(encoded: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(encoded.byteLength);
  encoded.copy(copy);
  return copy;
}

/** The kept body's gzip form, made once (on the pool) and kept with it. */
function keptGzip(kept: KeptBody): Promise<Buffer> {
  kept.gzip ??= gzipAsync(keptBytes(kept), { level: GZIP_LEVEL }).then(ownCopy, (error: unknown) => {
    kept.gzip = undefined;
    throw error;
  });
  return kept.gzip;
}

/** The identity bytes of a kept body. */
export function keptBytes(kept: KeptBody): Buffer {
  return brotliDecompressSync(kept.br);
}

function isKept(body: string | Uint8Array | KeptBody): body is KeptBody {
  return typeof body === 'object' && !(body instanceof Uint8Array);
}

/** A strong validator for `body`: 16 bytes of its SHA-256, quoted. */
export function strongEtag(body: Uint8Array | string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

/** The ETag of an encoded variant: the identity ETag with the coding inside the quotes. */
export function variantEtag(etag: string, coding: Coding): string {
  return coding === 'identity' ? etag : `${etag.slice(0, -1)}-${coding}"`;
}

/** True when If-None-Match names `etag` (in any coding's variant) or is `*`. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const base = etag.slice(1, -1);
  for (const raw of header.split(',')) {
    const tag = raw.trim().replace(/^W\//, '');
    if (tag === '*') return true;
    const inner = tag.slice(1, -1).replace(/-(br|gzip)$/, '');
    if (inner === base) return true;
  }
  return false;
}

/**
 * Compressed static bodies, by identity ETag and coding, at quality 11: compressed once, reused by
 * every client. Bounded by total bytes; the oldest entry goes first.
 */
export class StaticCodings {
  private readonly entries = new Map<string, Promise<Buffer>>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  constructor(private readonly maxBytes = 32 << 20) {}

  get(etag: string, coding: 'br' | 'gzip', body: Uint8Array): Promise<Buffer> {
    const key = `${coding}:${etag}`;
    const cached = this.entries.get(key);
    if (cached) return cached;
    const pending = coding === 'gzip' ? gzipAsync(body, { level: 9 }) : compress(body, 'br', 11);
    this.entries.set(key, pending);
    pending.then(
      (done) => {
        this.sizes.set(key, done.byteLength);
        this.bytes += done.byteLength;
        this.evict();
      },
      () => this.entries.delete(key),
    );
    return pending;
  }

  private evict(): void {
    for (const [key, size] of this.sizes) {
      if (this.bytes <= this.maxBytes) return;
      this.entries.delete(key);
      this.sizes.delete(key);
      this.bytes -= size;
    }
  }
}

/** `live`: made for this request (the measured Brotli quality); `static`: the same for everyone for long (quality 11, kept). */
export type ReplyKind = 'live' | 'static';

export interface EncodingOptions {
  /** Bodies smaller than this go as they are. */
  minBytes: number;
  /** Brotli quality of live replies. */
  brotliQuality: number;
  statics: StaticCodings;
}

export interface EncodedReply {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/**
 * The reply as it goes on the wire. A GET answered 200 (unless `cache-control: no-store`) gets a
 * strong ETag, and a request whose If-None-Match names it gets 304 without a body. A compressible
 * body of at least `minBytes` is encoded as the client prefers, with `Vary: Accept-Encoding`: small
 * Brotli bodies on this thread, the rest on libuv's pool. A kept body goes as it was kept (Brotli),
 * or in the gzip form kept with it, or decoded.
 */
export async function encodeReply(
  request: { method: string; headers: Record<string, string | undefined> },
  status: number,
  headers: Record<string, string>,
  body: string | Uint8Array | KeptBody,
  kind: ReplyKind,
  options: EncodingOptions,
): Promise<EncodedReply> {
  const kept = isKept(body) ? body : null;
  let bytes: Uint8Array | null = kept ? null : typeof body === 'string' ? Buffer.from(body) : (body as Uint8Array);
  const identity = (): Uint8Array => (bytes ??= keptBytes(kept!));
  const length = kept ? kept.length : bytes!.byteLength;
  const compressing = compressible(headers['content-type']) && length >= options.minBytes && !headers['content-encoding'] && status !== 204;
  const coding = compressing ? negotiate(request.headers['accept-encoding']) : 'identity';
  const out: Record<string, string> = compressing ? { ...headers, vary: 'accept-encoding' } : { ...headers };
  let etag: string | undefined;
  if (request.method === 'GET' && status === 200 && !headers.etag && !/no-store/i.test(headers['cache-control'] ?? '')) {
    etag = kept ? kept.etag : strongEtag(identity());
    out.etag = variantEtag(etag, coding);
    if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) {
      delete out['content-type'];
      delete out['content-length'];
      return { status: 304, headers: out, body: '' };
    }
  }
  if (coding === 'identity') return { status, headers: out, body: kept ? identity() : (body as string | Uint8Array) };
  let encoded: Buffer;
  if (kept && kind === 'live') encoded = coding === 'br' ? kept.br : await keptGzip(kept);
  else if (kind === 'static') encoded = await options.statics.get(etag ?? strongEtag(identity()), coding, identity());
  else if (coding === 'br') encoded = await brotliLive(identity(), options.brotliQuality);
  else encoded = await compress(identity(), coding, options.brotliQuality);
  out['content-encoding'] = coding;
  return { status, headers: out, body: encoded };
}
