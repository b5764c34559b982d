import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

/**
 * uWebSockets.js comes from a republish that ships native binaries for Node 16/18/20 and silently
 * falls back to a slow `ws`-based implementation elsewhere. Which one loaded is worth knowing, so it
 * is logged at start and shown on /healthz.
 */
const require = createRequire(import.meta.url);
export const uws = require('uWebSockets.js') as typeof UWS;

export type UwsImplementation = 'native' | 'fallback';
export const uwsImplementation: UwsImplementation = Object.keys(require.cache).some((p) => /uws_[^/]+\.node$/.test(p))
  ? 'native'
  : 'fallback';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
