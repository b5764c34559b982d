import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bounceModule } from '../../src/bounce/module.js';
import { locateBounceTools } from '../../src/bounce/tools.js';
import { collabModule } from '../../src/collab/module.js';
import { historyModule } from '../../src/history/module.js';
import { anvilBinary } from '../../src/nft/chain/anvil.js';
import { nftModule } from '../../src/nft/module.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';

/**
 * The digital-ownership API on the local development chain: a drop of a two-author session, its
 * split and acceptance, the mint (idempotent by key), tokens, the content gateway, listings, the
 * wallet and the faucet, licences, statements, and the refusals (problem JSON, tenant isolation,
 * no private key in any answer).
 */
const tools = locateBounceTools();
const anvil = (() => {
  try {
    return anvilBinary();
  } catch {
    return null;
  }
})();
const missing = !tools.available ? tools.reason : anvil === null ? 'anvil is not installed' : null;
if (missing) {
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${missing} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${missing}`);
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies, checked by the assertions
type Json = Record<string, any>;
const S = 'duet';
const PRICE = '1000000000000000'; // 0.001 ETH

describe.skipIf(missing !== null)('the nft API', () => {
  let node: TestNode;
  const tokens: Record<string, string> = {};
  const call = async (method: string, url: string, user = 'ana', body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${node.url}${url}`, {
      method,
      headers: { ...(tokens[user] ? { authorization: `Bearer ${tokens[user]}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null) as Json };
  };
  const edit = (user: string, change: (s: StudioDoc) => void) => node.node.modules.api(collabModule).edit('default', S, user, (doc) => change(new StudioDoc(doc)));
  let dropId = '';
  let tokenId = '';
  let all = '';
  /** The module's /healthz entry once the chain has started. */
  let healthAfterStart: { contracts: { editions: string } } = { contracts: { editions: '' } };

  beforeAll(async () => {
    node = await startModules(() => [collabModule, studioModule, historyModule, bounceModule, nftModule], { 'collab-flush-ms': '5', dev: 'true' });
    for (const user of ['ana', 'ben']) tokens[user] = await node.node.auth.sign({ sub: user, docs: { [S]: 'editor' } });
    tokens.vic = await node.node.auth.sign({ sub: 'vic', docs: { [S]: 'viewer' } });
    tokens.bob = await node.node.auth.sign({ sub: 'bob', docs: {} });
    tokens.acme = await node.node.auth.sign({ sub: 'ana', tenant: 'acme', docs: { [S]: 'owner' } });
    await edit('ana', (s) => {
      const t = s.addTrack({ name: 'Keys' });
      const c = s.addClip(t, { name: 'A', start: 0, length: 1920 });
      s.addNotes(t, c, [{ pitch: 60, start: 0, duration: 960, velocity: 100 }]);
    });
    await edit('ben', (s) => {
      const t = s.addTrack({ name: 'Bass' });
      const c = s.addClip(t, { name: 'B', start: 0, length: 1920 });
      s.addNotes(t, c, [{ pitch: 36, start: 0, duration: 960, velocity: 100 }]);
    });
  }, 120_000);
  afterAll(() => node?.stop());

  it('reports the chain in /healthz without any key: the local chain starts at its first use', async () => {
    const before = await call('GET', '/healthz');
    expect(before.body.nft).toEqual({ on: true, chainId: 31337, local: true, chain: 'the local development chain starts at its first use' });
    expect(node.node.report.modules.find((m) => m.name === 'nft')?.state).toEqual({ on: true, detail: 'local development chain (chain id 31337), started at its first use' });
    // The first request that needs the chain starts it and deploys the contracts.
    const wallet = await call('GET', '/api/v1/nft/wallet', 'ana');
    expect(wallet.status).toBe(200);
    expect(wallet.body.chainId).toBe(31337);
    const health = await call('GET', '/healthz');
    all += health.text;
    expect(health.body.nft).toMatchObject({ on: true, chainId: 31337, local: true });
    expect(health.body.nft.contracts.editions).toMatch(/^0x[0-9a-fA-F]{40}$/);
    healthAfterStart = health.body.nft;
  });

  it('proposes a drop with the split, refuses a mint until everyone accepted, then mints once per key', async () => {
    const made = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', { title: 'Duet', description: 'two parts', maxSupply: 10, priceWei: PRICE, royaltyBps: 1000, licence: 1 });
    expect(made.status).toBe(201);
    dropId = made.body.id;
    // Equal notes, tracks and edits: half each.
    expect(made.body.split.collaborators.map((c: { userId: string; bps: number }) => [c.userId, c.bps])).toEqual([
      ['ana', 5000],
      ['ben', 5000],
    ]);
    const early = await call('POST', `/api/v1/nft/drops/${dropId}/mint`, 'ana', undefined, { 'idempotency-key': 'k1' });
    expect(early.status).toBe(409);
    expect(early.headers.get('content-type')).toContain('application/problem+json');
    expect(early.body.detail).toBe('the split is not accepted by all: waiting for ana, ben');

    const accepted = await call('POST', `/api/v1/nft/drops/${dropId}/accept`, 'ana');
    expect(accepted.status).toBe(200);
    const wallet = await call('GET', '/api/v1/nft/wallet', 'ana');
    expect(accepted.body.split.collaborators[0].payoutAddress).toBe(wallet.body.address);
    expect((await call('POST', `/api/v1/nft/drops/${dropId}/accept`, 'ben', { payoutAddress: 'nope' })).status).toBe(400);
    expect((await call('POST', `/api/v1/nft/drops/${dropId}/accept`, 'ben')).status).toBe(200);

    // The earlier refusal was not stored as the key's answer: the same key now mints.
    const minted = await call('POST', `/api/v1/nft/drops/${dropId}/mint`, 'ana', undefined, { 'idempotency-key': 'k1' });
    expect(minted.status).toBe(201);
    tokenId = minted.body.tokenId;
    expect(minted.body).toMatchObject({ contract: healthAfterStart.contracts.editions, splitAddress: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/), metadataUri: expect.stringMatching(/^ipfs:\/\/bafkrei/) });
    const again = await call('POST', `/api/v1/nft/drops/${dropId}/mint`, 'ana', undefined, { 'idempotency-key': 'k1' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(minted.body);
    const reused = await call('POST', `/api/v1/nft/drops/${dropId}/mint`, 'ana', { other: 1 }, { 'idempotency-key': 'k1' });
    expect(reused.status).toBe(400);
    expect((await call('POST', `/api/v1/nft/drops/${dropId}/mint`, 'ana')).status).toBe(400);
    all += minted.text;
  }, 120_000);

  it('serves the metadata and the audio by content id, immutable; unknown ids are 404', async () => {
    const list = await call('GET', `/api/v1/nft/tokens?session=${S}`, 'ben');
    expect(list.body.tokens).toHaveLength(1);
    const cid = String(list.body.tokens[0].metadataUri).slice('ipfs://'.length);
    const meta = await call('GET', `/ipfs/${cid}`, 'bob');
    expect(meta.status).toBe(200);
    expect(meta.headers.get('content-type')).toBe('application/json');
    expect(meta.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(meta.body).toMatchObject({ name: 'Duet', description: 'two parts', animation_url: expect.stringMatching(/^ipfs:\/\/bafkrei/) });
    expect(meta.body.properties).toMatchObject({ sessionId: S, licence: { terms: 1, names: ['personal'] }, audioHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), stateHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    const audio = await fetch(`${node.url}/ipfs/${String(meta.body.animation_url).slice(7)}`);
    expect(audio.headers.get('content-type')).toBe('audio/flac');
    expect(Buffer.from(await audio.arrayBuffer()).subarray(0, 4).toString('ascii')).toBe('fLaC');
    expect((await call('GET', `/ipfs/bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq`)).status).toBe(404);
    expect((await call('GET', '/ipfs/not-a-cid')).status).toBe(404);
    expect((await call('GET', `/api/v1/nft/tokens?creator=zed`, 'ben')).body.tokens).toEqual([]);
  });

  it('lists a copy one holds, refuses a buyer without funds (402), sells to a funded one, and reads the licence', async () => {
    expect((await call('POST', '/api/v1/nft/dev/faucet', 'ana', { wei: '1000000000000000000' })).status).toBe(200);
    const listed = await call('POST', '/api/v1/nft/listings', 'ana', { tokenId, amount: 1, priceWei: PRICE });
    expect(listed.status).toBe(201);
    const listingId = listed.body.listingId;
    const broke = await call('POST', `/api/v1/nft/listings/${listingId}/buy`, 'bob', {});
    expect(broke.status).toBe(402);
    expect((await call('POST', `/api/v1/nft/listings/${listingId}/cancel`, 'bob')).status).toBe(403);
    expect((await call('POST', '/api/v1/nft/dev/faucet', 'bob', { wei: '101000000000000000000' })).status).toBe(400);
    expect((await call('POST', '/api/v1/nft/dev/faucet', 'bob')).status).toBe(200);
    const bought = await call('POST', `/api/v1/nft/listings/${listingId}/buy`, 'bob', { amount: 1 });
    expect(bought.status).toBe(200);
    const gone = await call('POST', `/api/v1/nft/listings/${listingId}/buy`, 'bob', { amount: 1 });
    expect(gone.status).toBe(409);
    // Ana sold her one copy: listing copies she does not hold is refused (the market's NotOwner).
    const more = await call('POST', '/api/v1/nft/listings', 'ana', { tokenId, amount: 2, priceWei: PRICE });
    expect(more.status).toBe(403);
    expect(more.headers.get('content-type')).toContain('application/problem+json');
    const licence = await call('GET', `/api/v1/nft/licences/editions/${tokenId}`, 'bob');
    expect(licence.status).toBe(200);
    expect(licence.body).toMatchObject({ tokenId, terms: 1, names: ['personal'], audioHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    all += listed.text + bought.text + licence.text;
  }, 120_000);

  it('states and pays out each creator their share of the royalty', async () => {
    const indexer = node.node.modules.api(nftModule).indexer()!;
    await indexer.caughtUp();
    const statement = await call('GET', '/api/v1/nft/statements/ben', 'ben');
    expect(statement.status).toBe(200);
    // One sale of 0.001 ETH, 10 % royalty, half of it ben's.
    expect(statement.body.drops[0]).toMatchObject({ tokenId, bps: 5000, sales: { count: 1, units: '1', paidWei: PRICE }, royaltiesWei: '100000000000000', shareWei: '50000000000000', releasedWei: '0', releasableWei: '50000000000000' });
    expect((await call('GET', '/api/v1/nft/statements/ben', 'ana')).status).toBe(403);
    const paid = await call('POST', '/api/v1/nft/payouts', 'ben');
    expect(paid.body.totalWei).toBe('50000000000000');
    expect((await call('POST', '/api/v1/nft/payouts', 'ben')).body.totalWei).toBe('0');
    await indexer.caughtUp();
    expect((await call('GET', '/api/v1/nft/statements/ben', 'ben')).body.drops[0]).toMatchObject({ releasedWei: '50000000000000', releasableWei: '0' });
    await expect.poll(async () => (await call('GET', '/healthz')).body.nft.indexer?.blockNumber ?? 0).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a royalty above the cap, viewers, strangers, other tenants and unknown ids', async () => {
    const high = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', { title: 'x', maxSupply: 1, priceWei: '1', royaltyBps: 5001 });
    expect(high.status).toBe(400);
    expect(high.body.detail).toContain('above the cap');
    expect((await call('POST', `/api/v1/sessions/${S}/drops`, 'vic', { title: 'x', maxSupply: 1, priceWei: '1', royaltyBps: 0 })).status).toBe(403);
    expect((await call('GET', `/api/v1/nft/drops/${dropId}`, 'acme')).status).toBe(404);
    expect((await call('GET', `/api/v1/nft/drops/${dropId}`, 'bob')).status).toBe(404);
    expect((await call('GET', `/api/v1/nft/licences/editions/${tokenId}`, 'acme')).status).toBe(404);
    expect((await call('POST', '/api/v1/nft/listings', 'acme', { tokenId, priceWei: '1' })).status).toBe(404);
    expect((await call('POST', '/api/v1/nft/listings/1/buy', 'acme')).status).toBe(404);
    expect((await call('GET', '/api/v1/nft/drops/drp_nope', 'ana')).status).toBe(404);
    expect((await call('POST', `/api/v1/nft/drops/${dropId}/decline`, 'bob')).status).toBe(404);
    expect((await call('GET', '/api/v1/nft/wallet', 'nobody')).status).toBe(401);
  });

  it('never shows a private key or the wallet seed', async () => {
    const { readFileSync } = await import('node:fs');
    const seed = readFileSync(`${node.config.storage.dataDir}/nft/wallet-seed`, 'utf8').trim();
    expect(all).not.toContain(seed);
    // The development operator key (anvil's first account) never appears either.
    expect(all).not.toContain('ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
  });
});
