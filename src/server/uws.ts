import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

/**
 * uWebSockets.js comes from a republish that ships native binaries for Node 16/18/20 and silently
 * falls back to a `ws`-based implementation elsewhere, which lacks what the server calls on every
 * request (`req.forEach`, custom upgrades): `veza serve` refuses to start on it, naming the Node
 * versions that work. docs/node-version.md says what blocks a newer Node.
 */
const require = createRequire(import.meta.url);
export const uws = require('uWebSockets.js') as typeof UWS;

export type UwsImplementation = 'native' | 'fallback';
export const uwsImplementation: UwsImplementation = Object.keys(require.cache).some((p) => /uws_[^/]+\.node$/.test(p))
  ? 'native'
  : 'fallback';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';

/** Why the server cannot run on this Node, or null when uWS's native binary loaded. */
export function uwsUnusableReason(): string | null {
  if (uwsImplementation === 'native') return null;
  return `uWebSockets.js has no native binary for Node ${process.versions.node} (module ABI ${process.versions.modules}); its fallback cannot serve veza. Run Node 20 (see docs/node-version.md)`;
}
