// Every route says what it answers: the generated OpenAPI document has a described success response
// for each operation (never the generic "success (not described yet)"), a JSON success reply has a
// schema with its fields, a file its media type. With the test-mode check of every reply against
// its route's schema (VEZA_CHECK_RESPONSES), every test that calls a route also checks the spec.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Operation {
  responses: Record<string, { description?: string; $ref?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
}
type Spec = { paths: Record<string, Record<string, Operation>> };

let server: TestServer;
let ops: Record<string, Operation>;

beforeAll(async () => {
  // dev: the routes registered only in development (the local chain's faucet) are in the document too.
  server = await startTestServer({ dev: 'true' });
  const spec = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as Spec;
  ops = Object.fromEntries(Object.entries(spec.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op])));
}, 240_000);
afterAll(() => server?.stop());

/** What is wrong with one operation's success responses; empty when each is described. */
function gaps(id: string, op: Operation): string[] {
  const problems: string[] = [];
  if (op.responses['2XX']) problems.push('success not described yet');
  const success = Object.keys(op.responses).filter((status) => /^[23][0-9]{2}$/.test(status));
  if (success.length === 0) problems.push('no success status');
  for (const status of success) {
    const json = op.responses[status]!.content?.['application/json'];
    // The spec itself and a session bundle are documents of their own formats: any JSON.
    if (json && Object.keys(json.schema ?? {}).length === 0 && !id.endsWith('/openapi.json') && !id.endsWith('/bundle')) problems.push(`${status}: an empty JSON schema`);
  }
  return problems;
}

describe('the OpenAPI document', () => {
  it('describes the success replies of every operation of every module', () => {
    const ids = Object.keys(ops);
    // Spot checks that each module's routes are in the document at all.
    expect(ids).toEqual(
      expect.arrayContaining([
        'GET /api/v1/sessions',
        'POST /api/v1/mastering',
        'GET /api/v1/recommendations',
        'GET /api/v1/gamification/me',
        'POST /api/v1/webhooks/endpoints',
        'POST /graphql',
        'POST /api/v1/nft/drops/{id}/mint',
        'GET /ipfs/{cid}',
        'POST /api/v1/nft/dev/faucet',
        'DELETE /api/v1/platform/tenants/{id}',
        'GET /api/v1/branding',
      ]),
    );
    expect(ids.length).toBeGreaterThan(130);
    const undescribed = Object.entries(ops)
      .map(([id, op]) => [id, gaps(id, op)] as const)
      .filter(([, problems]) => problems.length > 0);
    expect(undescribed.map(([id, problems]) => `${id}: ${problems.join(', ')}`)).toEqual([]);
  });

  it('gives a JSON reply its fields, every success status its entry, and a file its media type', () => {
    const mint = ops['POST /api/v1/nft/drops/{id}/mint']!;
    expect(Object.keys(mint.responses)).toEqual(expect.arrayContaining(['200', '201']));
    const created = mint.responses['201']!.content!['application/json']!.schema as { properties: Record<string, unknown> };
    expect(Object.keys(created.properties)).toEqual(expect.arrayContaining(['drop', 'contract', 'tokenId', 'copies']));
    expect(Object.keys(ops['GET /api/v1/platform/tenants/{id}/export']!.responses['200']!.content!)).toEqual(['application/gzip']);
    expect(ops['DELETE /api/v1/platform/tenants/{id}']!.responses['202']).toBeDefined();
    expect(ops['DELETE /api/v1/tenants/{tenant}/domains/{domain}']!.responses['204']).toBeDefined();
    const batch = ops['POST /graphql']!.responses['200']!.content!['application/json']!.schema as { anyOf?: unknown[] };
    expect(batch.anyOf).toHaveLength(2);
  });
});
