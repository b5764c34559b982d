import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse } from './uws.js';

const decoder = new TextDecoder();
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Everything a handler may need from a uWS request, copied out synchronously: uWS requests are
 * only valid until the route callback returns, and handlers here are async.
 */
export interface RequestSnapshot {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  params: Record<string, string>;
  ip: string;
  requestId: string;
  /** Sum of header name and value lengths, for the header size limit. */
  headerBytes: number;
}

export function snapshotRequest(res: HttpResponse, req: HttpRequest, paramNames: readonly string[], trustProxy: boolean): RequestSnapshot {
  const headers: Record<string, string> = {};
  let headerBytes = 0;
  req.forEach((key, value) => {
    headerBytes += key.length + value.length;
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  });
  const params: Record<string, string> = {};
  paramNames.forEach((name, i) => {
    params[name] = safeDecode(req.getParameter(i) ?? '');
  });
  const given = headers['x-request-id'];
  return {
    method: req.getMethod().toUpperCase(),
    path: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers,
    params,
    ip: clientIp(res, headers, trustProxy),
    requestId: given && REQUEST_ID.test(given) ? given : randomUUID(),
    headerBytes: headerBytes + req.getUrl().length + (req.getQuery()?.length ?? 0),
  };
}

function clientIp(res: HttpResponse, headers: Record<string, string>, trustProxy: boolean): string {
  return ipOf(res, headers['x-forwarded-for'], trustProxy);
}

/** The client's address before anything else of the request is read (the cheap refusals at upgrade). */
export function requestIp(res: HttpResponse, req: HttpRequest, trustProxy: boolean): string {
  return ipOf(res, trustProxy ? req.getHeader('x-forwarded-for') : undefined, trustProxy);
}

function ipOf(res: HttpResponse, forwardedFor: string | undefined, trustProxy: boolean): string {
  if (trustProxy && forwardedFor) {
    const hops = forwardedFor.split(',').map((s) => s.trim());
    const last = hops[hops.length - 1];
    if (last) return last;
  }
  return normaliseIp(decoder.decode(res.getRemoteAddressAsText()));
}

/** uWS reports IPv4 clients of a dual-stack socket as IPv4-mapped IPv6. */
export function normaliseIp(ip: string): string {
  const mapped = /^(?:0{0,4}:){5}ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped?.[1] ?? ip;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** `Authorization: Bearer x` for HTTP; `?token=x` where headers cannot be set (browser WebSockets). */
export function bearerToken(snapshot: Pick<RequestSnapshot, 'headers' | 'query'>, allowQuery: boolean): string | null {
  const header = snapshot.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match?.[1] ?? '';
  }
  return allowQuery ? snapshot.query.get('token') : null;
}

/** The subprotocol entry that carries a token: `bearer.<token>` beside the protocol the client speaks. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

/**
 * A WebSocket upgrade's token and the subprotocol to answer with. Browsers cannot set headers on a
 * WebSocket, and a token in the URL ends up in consoles and logs; so a client may offer its token
 * as a subprotocol, `new WebSocket(url, ['veza', 'bearer.<token>'])`, and the server answers with
 * the other entry, never echoing the token. Otherwise `Authorization: Bearer` or `?token=`.
 */
export function socketCredentials(snapshot: Pick<RequestSnapshot, 'headers' | 'query'>): { token: string | null; protocol: string } {
  const offered = (snapshot.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const bearer = offered.find((entry) => entry.startsWith(BEARER_PROTOCOL_PREFIX));
  const protocol = offered.find((entry) => !entry.startsWith(BEARER_PROTOCOL_PREFIX)) ?? '';
  if (bearer === undefined) return { token: bearerToken(snapshot, true), protocol };
  return { token: bearer.slice(BEARER_PROTOCOL_PREFIX.length), protocol };
}

/** Names of the `:param` segments of a uWS route pattern, in order. */
export function paramNames(pattern: string): string[] {
  return pattern
    .split('/')
    .filter((s) => s.startsWith(':'))
    .map((s) => s.slice(1));
}

/** A matcher for a uWS pattern (`:param` segments, trailing `*`), used to tell 405 from 404. */
export function patternMatcher(pattern: string): RegExp {
  const body = pattern
    .split('/')
    .map((s) => (s.startsWith(':') ? '[^/]+' : s === '*' ? '.*' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${body}$`);
}
