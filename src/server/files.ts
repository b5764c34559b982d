import { stat } from 'node:fs/promises';
import { HttpError, notFound } from './errors.js';
import type { HttpContext, HttpReply } from './http.js';

/**
 * A file as an HTTP reply: the whole file (200) or the one byte range asked for (206), as players
 * and download managers expect; several ranges in one request are answered with the whole file,
 * which RFC 9110 allows. 416 for a range past the end.
 */
export async function fileReply(ctx: HttpContext, filePath: string, headers: Record<string, string>): Promise<HttpReply> {
  const info = await stat(filePath).catch(() => null);
  if (!info?.isFile()) throw notFound('file not found');
  const size = info.size;
  const common = { ...headers, 'accept-ranges': 'bytes', 'last-modified': info.mtime.toUTCString() };
  const range = parseRange(ctx.headers.range, size);
  if (range === 'unsatisfiable') {
    throw new HttpError(416, 'range-not-satisfiable', `the file has ${size} bytes`, { headers: { 'content-range': `bytes */${size}` } });
  }
  if (!range) return { status: 200, headers: common, file: { path: filePath, start: 0, end: size - 1 } };
  return { status: 206, headers: { ...common, 'content-range': `bytes ${range.start}-${range.end}/${size}` }, file: { path: filePath, ...range } };
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; null to send the whole file. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
