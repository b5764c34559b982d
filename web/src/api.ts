// The server's HTTP API as the page uses it: the development sign-in, authorised requests, and the
// WebSocket URLs and sign-in of the collaboration, replay and media routes.
import { call } from './api-client.js';

export interface Session {
  token: string;
  userId: string;
}

/** Kept in localStorage: a sign-in holds in every tab of this browser until signing out. */
const KEY = 'veza.session';

export function currentSession(): Session | null {
  const raw = localStorage.getItem(KEY);
  return raw ? (JSON.parse(raw) as Session) : null;
}

/** Development sign-in: the server must run with VEZA_DEV=true (404 otherwise). */
export async function signIn(userId: string, role: 'owner' | 'editor' | 'viewer' = 'owner'): Promise<Session> {
  const reply = await call(null, 'POST /api/v1/dev/token', { body: { userId, role } });
  // 404: the route exists only in development mode; anything else is the server's reason.
  if (reply.status === 404) throw new Error('sign-in is not available: this server does not run in development mode (VEZA_DEV=true)');
  if (!reply.ok) throw new Error(`sign-in refused: ${reply.detail}`);
  const { token } = reply.data;
  const session = { token, userId };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function signOut(): void {
  localStorage.removeItem(KEY);
}

/** The `detail` of a problem+json answer, or `fallback`. */
export async function problem(response: Response, fallback: string): Promise<string> {
  try {
    const body = (await response.json()) as { detail?: string };
    return body.detail ? `${fallback}: ${body.detail}` : `${fallback} (HTTP ${response.status})`;
  } catch {
    return `${fallback} (HTTP ${response.status})`;
  }
}

export async function api(session: Session, method: string, path: string, body?: BodyInit, type?: string, extra: Record<string, string> = {}): Promise<Response> {
  const headers: Record<string, string> = { ...extra, authorization: `Bearer ${session.token}` };
  if (type) headers['content-type'] = type;
  return fetch(path, { method, headers, ...(body === undefined ? {} : { body }) });
}

export function wsUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

/**
 * The subprotocols that carry the sign-in on a WebSocket: the token travels in the handshake's
 * Sec-WebSocket-Protocol header, not in the URL, which the browser prints in the console whenever a
 * connection fails. The server answers with `veza`.
 */
export function socketProtocols(session: Session): string[] {
  return ['veza', `bearer.${session.token}`];
}

/** A WebSocket class that signs in as `session`, for libraries that create their own sockets. */
export function signedInSocket(session: Session): typeof WebSocket {
  const protocols = socketProtocols(session);
  return class extends WebSocket {
    constructor(url: string | URL) {
      super(url, protocols);
    }
  };
}

/** Saves a response body as a file the browser downloads. */
export async function download(response: Response, name: string): Promise<void> {
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A small element builder: `h('button', { class: 'x', onclick }, 'Play')`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value as EventListener);
    else if (key === 'class') element.className = String(value);
    else if (key === 'style' && typeof value === 'object') Object.assign(element.style, value);
    else if (key in element && typeof value !== 'string') (element as unknown as Record<string, unknown>)[key] = value;
    else element.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) element.append(child);
  return element;
}
