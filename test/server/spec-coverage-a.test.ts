// Every REST route of the core and side modules (all but NFT and tenancy) says what it answers:
// the generated spec has a described success response for each, never the "not described yet" one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ dev: 'true' });
}, 240_000);
afterAll(() => server?.stop());

type Operation = { responses: Record<string, { description?: string; content?: Record<string, unknown> }> };
interface Spec {
  paths: Record<string, Record<string, Operation>>;
}

/** The paths of the modules covered here, by prefix. */
const PREFIXES = [
  '/api/v1/gamification',
  '/api/v1/live/',
  '/api/v1/tips',
  '/api/v1/webhooks',
  '/api/v1/insights',
  '/api/v1/recommendations',
  '/api/v1/interactions',
  '/api/v1/experiments',
  '/api/v1/rooms/',
  '/api/v1/recordings/',
  '/hls/',
  '/api/v1/mastering',
  '/api/v1/bounces/',
  '/api/v1/sessions',
  '/api/v1/me',
  '/api/v1/events',
  '/api/v1/openapi.json',
  '/api/v1/docs',
  '/graphql',
  '/healthz',
  '/readyz',
  '/metrics',
];
/** Routes under those prefixes that belong to the NFT module (described with it). */
const ELSEWHERE = new Set(['/api/v1/sessions/{id}/drops']);

describe('the OpenAPI document of the core and side modules', () => {
  it('describes a success response for every operation', async () => {
    const spec = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as Spec;
    const covered = Object.entries(spec.paths).filter(([path]) => !ELSEWHERE.has(path) && PREFIXES.some((prefix) => path.startsWith(prefix)));
    for (const prefix of PREFIXES) expect(covered.some(([path]) => path.startsWith(prefix)), `no path under ${prefix}`).toBe(true);
    const undescribed: string[] = [];
    for (const [path, item] of covered) {
      for (const [method, op] of Object.entries(item)) {
        const successes = Object.keys(op.responses).filter((status) => /^2\d\d$/.test(status));
        if ('2XX' in op.responses || successes.length === 0) undescribed.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(undescribed).toEqual([]);
    expect(covered.reduce((n, [, item]) => n + Object.keys(item).length, 0)).toBeGreaterThan(70);
  });

  it('gives every JSON success response a schema with properties', async () => {
    const spec = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as Spec;
    for (const [path, item] of Object.entries(spec.paths)) {
      if (ELSEWHERE.has(path) || !PREFIXES.some((prefix) => path.startsWith(prefix)) || path === '/api/v1/openapi.json') continue;
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          const json = response.content?.['application/json'] as { schema?: Record<string, unknown> } | undefined;
          if (!/^2\d\d$/.test(status) || !json || path.endsWith('/bundle')) continue;
          const schema = json.schema ?? {};
          expect(Object.keys(schema).length, `${method.toUpperCase()} ${path} ${status}`).toBeGreaterThan(0);
        }
      }
    }
  });
});
