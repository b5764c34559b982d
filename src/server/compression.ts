// Content coding of HTTP replies and their validators. Brotli or gzip is chosen from the client's
// Accept-Encoding (q-values honoured, identity when nothing acceptable is offered) for JSON and text
// bodies at or above a size threshold. Live replies use the Brotli quality measured in
// bench/compression.ts (a few bytes more than quality 11 for a fraction of the CPU); replies marked
// static (the spec, the web client's files) use quality 11 once and are kept, keyed by their hash.
// Compression runs on libuv's thread pool (zlib's async API), never on the event loop that carries
// the collaboration traffic. A strong ETag is the hash of the identity body; an encoded variant
// carries it with the coding as suffix, and If-None-Match accepts either.
import { createHash } from 'node:crypto';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { promisify } from 'node:util';

export type Coding = 'br' | 'gzip' | 'identity';

const brotliAsync = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

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

export function compress(body: Uint8Array, coding: 'br' | 'gzip', brotliQuality: number): Promise<Buffer> {
  if (coding === 'gzip') return gzipAsync(body, { level: 6 });
  return brotliAsync(body, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: brotliQuality,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    },
  });
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
 * body of at least `minBytes` is encoded as the client prefers, with `Vary: Accept-Encoding`.
 */
export async function encodeReply(
  request: { method: string; headers: Record<string, string | undefined> },
  status: number,
  headers: Record<string, string>,
  body: string | Uint8Array,
  kind: ReplyKind,
  options: EncodingOptions,
): Promise<EncodedReply> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const compressing = compressible(headers['content-type']) && bytes.byteLength >= options.minBytes && !headers['content-encoding'] && status !== 204;
  const coding = compressing ? negotiate(request.headers['accept-encoding']) : 'identity';
  const out: Record<string, string> = compressing ? { ...headers, vary: 'accept-encoding' } : { ...headers };
  let etag: string | undefined;
  if (request.method === 'GET' && status === 200 && !headers.etag && !/no-store/i.test(headers['cache-control'] ?? '')) {
    etag = strongEtag(bytes);
    out.etag = variantEtag(etag, coding);
    if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) {
      delete out['content-type'];
      delete out['content-length'];
      return { status: 304, headers: out, body: '' };
    }
  }
  if (coding === 'identity') return { status, headers: out, body };
  const encoded = kind === 'static' ? await options.statics.get(etag ?? strongEtag(bytes), coding, bytes) : await compress(bytes, coding, options.brotliQuality);
  out['content-encoding'] = coding;
  return { status, headers: out, body: encoded };
}
