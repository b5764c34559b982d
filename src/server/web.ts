import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Authenticator } from './auth.js';
import { documentRoles } from './auth.js';
import { HttpError, notFound } from './errors.js';
import { fileReply } from './files.js';
import type { HttpRouter } from './http.js';
import { z } from 'zod';

const ASSET = /^[A-Za-z0-9_.-]{1,200}\.(js|css|svg|png|woff2|map)$/;
const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  woff2: 'font/woff2',
  map: 'application/json',
  html: 'text/html; charset=utf-8',
};

/**
 * The page's own policy instead of the API's deny-all: scripts and styles from this origin,
 * WebSockets back to it, media from blob: URLs (hls.js feeds MediaSource) and its workers, images
 * from https: too (a tenant's logo).
 */
const PAGE_CSP = [
  "default-src 'self'",
  "connect-src 'self' ws: wss:",
  "media-src 'self' blob:",
  "img-src 'self' data: blob: https:",
  "style-src 'self' 'unsafe-inline'",
  "worker-src 'self' blob:",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The web client built by Vite into `dir` (`npm run build:web`): `index.html` at `/` (routes are
 * in the hash, so no fallback is needed) and the hashed files under `/assets/`. Without a build, `/`
 * says how to make one.
 */
export function registerWebClient(http: HttpRouter, dir: string): void {
  http.route(
    'GET',
    '/',
    (ctx) => {
      const index = path.join(dir, 'index.html');
      if (!existsSync(index)) throw new HttpError(404, 'web-client-not-built', `the web client is not built in ${path.basename(dir)}; run npm run build:web`);
      return fileReply(ctx, index, { 'content-type': TYPES.html!, 'cache-control': 'no-cache', 'content-security-policy': PAGE_CSP });
    },
    { auth: 'none', tag: 'web client', summary: 'The web client\'s page', responses: { 200: { type: 'text/html' }, 206: { type: 'text/html' } } },
  );
  // The icon: the page links /favicon.svg; browsers that ask for /favicon.ico get the same picture.
  for (const route of ['/favicon.svg', '/favicon.ico']) {
    http.route(
      'GET',
      route,
      (ctx) => fileReply(ctx, path.join(dir, 'favicon.svg'), { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' }),
      { auth: 'none', tag: 'web client', summary: 'The icon', responses: { 200: { type: 'image/svg+xml' }, 206: { type: 'image/svg+xml' } } },
    );
  }
  http.route(
    'GET',
    '/assets/:file',
    (ctx) => {
      const file = ctx.params.file ?? '';
      if (!ASSET.test(file)) throw notFound(`no asset ${file}`);
      const type = TYPES[file.slice(file.lastIndexOf('.') + 1)]!;
      // Vite names assets by content hash: they never change.
      return fileReply(ctx, path.join(dir, 'assets', file), { 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable' });
    },
    { auth: 'none', tag: 'web client', summary: 'The web client\'s hashed files (scripts, styles, images)', responses: { 200: { type: 'application/octet-stream' }, 206: { type: 'application/octet-stream' } } },
  );
}

export const devSignIn = z.object({
  userId: z.string().min(1).max(100).regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits and ._@- only'),
  role: z.enum(documentRoles).default('owner'),
}).strict();

export const devToken = z.object({ token: z.string(), userId: z.string(), role: z.enum(documentRoles), tenantId: z.string(), development: z.literal(true) });

/**
 * Development only (`VEZA_DEV=true`): `POST /api/v1/dev/token {userId, role?}` answers a token for
 * the default tenant with `role` on every document, so the web client can sign in without an
 * identity provider. The route does not exist otherwise (404).
 */
export function registerDevSignIn(http: HttpRouter, auth: Authenticator): void {
  http.route(
    'POST',
    '/api/v1/dev/token',
    async (ctx) => {
      const { userId, role } = await ctx.json(devSignIn);
      const token = await auth.sign({ sub: userId, docs: { '*': role }, ttlSeconds: 12 * 3600 });
      return { status: 201, json: { token, userId, role, tenantId: 'default', development: true } };
    },
    { auth: 'none', tag: 'identity', summary: 'Development sign-in (only with VEZA_DEV=true)', body: devSignIn, responses: { 201: devToken } },
  );
}
