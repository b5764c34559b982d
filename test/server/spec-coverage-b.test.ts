// Every REST route of digital ownership (drops, the market, vouchers, sample packs, the content
// gateway) and of tenancy (tenants, domains, branding, deletion, usage and invoices, quotas,
// credentials) describes its success replies in the OpenAPI document: none is left as the generic
// "success (not described yet)", so the typed client and the test-mode check both know each body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  // dev: the local chain's faucet is registered too.
  server = await startTestServer({ dev: 'true' });
}, 240_000);
afterAll(() => server?.stop());

interface Operation {
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
}
type Spec = { paths: Record<string, Record<string, Operation>> };

const NFT = [/^\/api\/v1\/nft\//, /^\/api\/v1\/sessions\/\{id\}\/drops$/, /^\/ipfs\//];
const TENANTS = [/^\/api\/v1\/platform\//, /^\/api\/v1\/tenant\//, /^\/api\/v1\/tenants\//, /^\/api\/v1\/domains\//, /^\/api\/v1\/branding$/];

async function operations(patterns: RegExp[]): Promise<[string, Operation][]> {
  const spec = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as Spec;
  return Object.entries(spec.paths)
    .filter(([path]) => patterns.some((p) => p.test(path)))
    .flatMap(([path, item]) => Object.entries(item).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]));
}

/** What is wrong with one operation's success responses; empty when each is described. */
function gaps(op: Operation): string[] {
  const problems: string[] = [];
  if (op.responses['2XX']) problems.push('success not described yet');
  const success = Object.keys(op.responses).filter((status) => /^[23][0-9]{2}$/.test(status));
  if (success.length === 0) problems.push('no success status');
  for (const status of success) {
    const json = op.responses[status]!.content?.['application/json'];
    if (json && Object.keys(json.schema ?? {}).length === 0) problems.push(`${status}: an empty JSON schema`);
  }
  return problems;
}

describe('the OpenAPI document of NFT and tenant routes', () => {
  for (const [name, patterns, known] of [
    ['NFT', NFT, ['POST /api/v1/nft/drops/{id}/mint', 'GET /ipfs/{cid}', 'POST /api/v1/nft/dev/faucet', 'POST /api/v1/nft/vouchers/{id}/redeem']],
    ['tenant', TENANTS, ['DELETE /api/v1/platform/tenants/{id}', 'GET /api/v1/branding', 'GET /api/v1/tenant/invoices/{period}', 'DELETE /api/v1/platform/tenants/{id}/identity-provider']],
  ] as const) {
    it(`describes every success reply of the ${name} routes`, async () => {
      const ops = await operations([...patterns]);
      expect(ops.map(([id]) => id)).toEqual(expect.arrayContaining([...known]));
      const undescribed = ops.map(([id, op]) => [id, gaps(op)] as const).filter(([, problems]) => problems.length > 0);
      expect(undescribed, undescribed.map(([id, problems]) => `${id}: ${problems.join(', ')}`).join('\n')).toEqual([]);
    });
  }

  it('gives a JSON reply its fields, and a file its media type', async () => {
    const ops = Object.fromEntries(await operations([...NFT, ...TENANTS]));
    const mint = ops['POST /api/v1/nft/drops/{id}/mint']!;
    expect(Object.keys(mint.responses)).toEqual(expect.arrayContaining(['200', '201']));
    const created = mint.responses['201']!.content!['application/json']!.schema as { properties: Record<string, unknown> };
    expect(Object.keys(created.properties)).toEqual(expect.arrayContaining(['drop', 'contract', 'tokenId', 'copies']));
    expect(Object.keys(ops['GET /api/v1/platform/tenants/{id}/export']!.responses['200']!.content!)).toEqual(['application/gzip']);
    expect(ops['DELETE /api/v1/platform/tenants/{id}']!.responses['202']).toBeDefined();
    expect(ops['DELETE /api/v1/tenants/{tenant}/domains/{domain}']!.responses['204']).toBeDefined();
  });
});
