// What an API key may reach: its scopes name API areas, each for reading or for writing. The area
// is read from the path (`/api/v1/<area>/...`, or the first segment: `/collab/...` is `collab`), so
// every route is covered without routes declaring anything. Reading is GET (and a viewer's socket);
// writing is every other method (and an editor's socket), and includes reading.
import type { DocumentRole, Principal } from './auth.js';
import { HttpError } from './errors.js';

export type Access = 'read' | 'write';

export const SCOPE_PATTERN = /^(\*|[a-z][a-z0-9-]{0,39}):(read|write)$/;

/** Areas no API key reaches, whatever its scopes: the operator's API. */
const CLOSED_AREAS = new Set(['platform']);

/** The area of a path: `/api/v1/sessions/x` → `sessions`, `/collab/song` → `collab`. */
export function areaOf(path: string): string {
  const segments = path.split('/');
  if (segments[1] === 'api' && segments[2] === 'v1') return segments[3] ?? '';
  return segments[1] ?? '';
}

/** The most a key's scopes grant on an area: `write`, `read`, or null. */
export function scopeAccess(scopes: readonly string[], area: string): Access | null {
  if (CLOSED_AREAS.has(area)) return null;
  let access: Access | null = null;
  for (const scope of scopes) {
    const colon = scope.lastIndexOf(':');
    const name = scope.slice(0, colon);
    if (name !== area && name !== '*') continue;
    if (scope.slice(colon + 1) === 'write') return 'write';
    access = 'read';
  }
  return access;
}

/** Refuses (403) an HTTP request outside the key's scopes; tokens (no scopes) pass. */
export function checkRequestScope(principal: Principal, method: string, path: string): void {
  if (!principal.scopes) return;
  const area = areaOf(path);
  // Who the key is: any key may ask.
  if (area === 'me' && method === 'GET') return;
  const needed: Access = method === 'GET' || method === 'HEAD' ? 'read' : 'write';
  const granted = scopeAccess(principal.scopes, area);
  if (granted === null) throw new HttpError(403, 'forbidden', `this API key's scopes do not include ${area || '/'}`);
  if (needed === 'write' && granted === 'read') throw new HttpError(403, 'forbidden', `this API key may only read ${area}`);
}

/**
 * The principal a WebSocket opens with: outside the key's scopes, refused (403); with read access
 * only, every document role becomes viewer, so the socket can follow but not change anything.
 */
export function scopedSocketPrincipal(principal: Principal, path: string): Principal {
  if (!principal.scopes) return principal;
  const area = areaOf(path);
  const granted = scopeAccess(principal.scopes, area);
  if (granted === null) throw new HttpError(403, 'forbidden', `this API key's scopes do not include ${area || '/'}`);
  if (granted === 'write') return principal;
  const docs: Record<string, DocumentRole> = Object.fromEntries(Object.keys(principal.docs).map((doc) => [doc, 'viewer']));
  return Object.freeze({ ...principal, docs: Object.freeze(docs) });
}
