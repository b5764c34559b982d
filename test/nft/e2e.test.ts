import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { bounceModule } from '../../src/bounce/module.js';
import { locateBounceTools } from '../../src/bounce/tools.js';
import { collabModule } from '../../src/collab/module.js';
import { historyModule } from '../../src/history/module.js';
import { anvilBinary } from '../../src/nft/chain/anvil.js';
import { nftModule } from '../../src/nft/module.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { waitFor } from '../helpers/wait.js';
import { connectClient, type Client } from '../helpers/yjs.js';

/**
 * Digital ownership end to end, through the HTTP API and real y-websocket clients: three users edit
 * a session → it is bounced → a drop with the authorship split → all accept → mint (a retry with the
 * same key gets the same token) → a collaborator lists her copy → a buyer funded by the faucet buys →
 * the royalty reaches the split → each of the three releases and receives exactly their share, to
 * the wei → the licence reads back with the hashes of the audio and of the session's state. Each
 * step's wall time is printed (VEZA_NFT_E2E_TIMES=<file> appends them there as JSON).
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
const S = 'trio';
const PRICE = 10n ** 15n; // 0.001 ETH
const ROYALTY_BPS = 1000n; // 10 %

describe.skipIf(missing !== null)('digital ownership end to end', () => {
  let node: TestNode;
  const tokens: Record<string, string> = {};
  const clients: Client[] = [];
  const times: Record<string, number> = {};
  const call = async (method: string, url: string, user: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${node.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${tokens[user]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null) as Json };
  };
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    times[name] = Math.round(performance.now() - started);
    return result;
  };

  beforeAll(async () => {
    node = await startModules(() => [collabModule, studioModule, historyModule, bounceModule, nftModule], { 'collab-flush-ms': '5', dev: 'true' });
    for (const user of ['ana', 'ben', 'cy']) tokens[user] = await node.node.auth.sign({ sub: user, docs: { [S]: 'editor' } });
    tokens.bob = await node.node.auth.sign({ sub: 'bob', docs: {} });
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await node?.stop();
  });

  it('goes from three editors to three royalty payouts, exact to the wei', async () => {
    const started = performance.now();
    // 1. Three users edit through unmodified y-websocket clients.
    await step('edit (3 y-websocket clients)', async () => {
      for (const user of ['ana', 'ben', 'cy']) clients.push(await connectClient(node.url, S, tokens[user]!));
      const [a, b, c] = clients.map((cl) => new StudioDoc(cl.doc)) as [StudioDoc, StudioDoc, StudioDoc];
      const keys = a.addTrack({ name: 'Keys' });
      const kc = a.addClip(keys, { name: 'Chords', start: 0, length: 3840 });
      a.addNotes(keys, kc, [
        { pitch: 60, start: 0, duration: 960, velocity: 100 },
        { pitch: 64, start: 960, duration: 960, velocity: 100 },
        { pitch: 67, start: 1920, duration: 960, velocity: 100 },
      ]);
      a.setTempo([{ tick: 0, bpm: 120 }]);
      const bass = b.addTrack({ name: 'Bass' });
      const bc = b.addClip(bass, { name: 'Line', start: 0, length: 3840 });
      b.addNotes(bass, bc, [{ pitch: 36, start: 0, duration: 1920, velocity: 110 }]);
      await waitFor(() => c.tracks().length === 2 && c.clips(keys).length === 1, 'cy to see both tracks');
      c.addNotes(keys, kc, [{ pitch: 72, start: 2880, duration: 960, velocity: 90 }]);
      const live = node.node.modules.api(collabModule);
      await waitFor(async () => (await live.state('default', S)).length > 0 && new StudioDoc(docOf(await live.state('default', S))).snapshot().tracks.reduce((n, t) => n + t.clips.reduce((m, cl) => m + cl.notes.length, 0), 0) === 5, 'the server to hold all five notes');
    });

    // 2. Bounce.
    const bounce = await step('bounce', async () => {
      const res = await call('POST', `/api/v1/sessions/${S}/bounces`, 'ana');
      expect(res.status).toBe(202);
      let body: Json = res.body;
      await waitFor(async () => {
        body = (await call('GET', `/api/v1/bounces/${res.body.id}`, 'ana')).body;
        return body.state !== 'running';
      }, 'the bounce', 60_000);
      expect(body).toMatchObject({ state: 'done', progress: 1, durationMs: 4000 });
      return body;
    });

    // 3. The drop, with the authorship split at the bounce's version.
    const drop = await step('drop with the authorship split', async () => {
      const res = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', { title: 'Trio', description: 'three hands', versionId: bounce.versionId, bounceId: bounce.id, maxSupply: 10, priceWei: PRICE.toString(), royaltyBps: Number(ROYALTY_BPS), licence: 1 | 4 });
      expect(res.status).toBe(201);
      return res.body;
    });
    const split = drop.split.collaborators as { userId: string; bps: number; notes: number; tracks: number; edits: number }[];
    expect(split.map((c) => c.userId)).toEqual(['ana', 'ben', 'cy']);
    expect(split.map((c) => [c.notes, c.tracks])).toEqual([
      [3, 1],
      [1, 1],
      [1, 0],
    ]);
    expect(split.reduce((n, c) => n + c.bps, 0)).toBe(10_000);

    // 4. Everyone accepts (their custodial wallets are paid).
    await step('three acceptances', async () => {
      for (const user of ['ana', 'ben', 'cy']) expect((await call('POST', `/api/v1/nft/drops/${drop.id}/accept`, user)).status).toBe(200);
    });

    // 5. Mint, and a retry with the same key.
    const minted = await step('mint (split, metadata, edition, licence, copies)', async () => {
      const res = await call('POST', `/api/v1/nft/drops/${drop.id}/mint`, 'ben', undefined, { 'idempotency-key': 'trio-1' });
      expect(res.status).toBe(201);
      return res.body;
    });
    const retry = await call('POST', `/api/v1/nft/drops/${drop.id}/mint`, 'ben', undefined, { 'idempotency-key': 'trio-1' });
    expect(retry.status).toBe(200);
    expect(retry.body.tokenId).toBe(minted.tokenId);

    // 6. Ana lists her copy; 7. bob, funded by the faucet, buys it.
    const listing = await step('list', async () => {
      expect((await call('POST', '/api/v1/nft/dev/faucet', 'ana')).status).toBe(200);
      const res = await call('POST', '/api/v1/nft/listings', 'ana', { tokenId: minted.tokenId, amount: 1, priceWei: PRICE.toString() });
      expect(res.status).toBe(201);
      return res.body;
    });
    await step('faucet + buy', async () => {
      expect((await call('POST', '/api/v1/nft/dev/faucet', 'bob')).status).toBe(200);
      expect((await call('POST', `/api/v1/nft/listings/${listing.listingId}/buy`, 'bob', { amount: 1 })).status).toBe(200);
    });

    // 8. The royalty is in the split; each releases and receives exactly their share.
    const royalty = (PRICE * ROYALTY_BPS) / 10_000n;
    const chain = await node.node.modules.api(nftModule).chain();
    expect(await chain.balanceOf(minted.splitAddress)).toBe(royalty);
    await step('three payouts', async () => {
      for (const c of split) {
        const wallet = (await call('GET', '/api/v1/nft/wallet', c.userId)).body.address as string;
        const before = await chain.balanceOf(wallet);
        const paid = await call('POST', '/api/v1/nft/payouts', c.userId);
        expect(paid.status).toBe(200);
        const share = (royalty * BigInt(c.bps)) / 10_000n;
        expect(paid.body.totalWei).toBe(share.toString());
        expect((await chain.balanceOf(wallet)) - before).toBe(share);
      }
    });
    // Each one's statement, from the indexed sale and payouts, says the same.
    await node.node.modules.api(nftModule).indexer()!.caughtUp();
    for (const c of split) {
      const line = (await call('GET', `/api/v1/nft/statements/${c.userId}`, c.userId)).body.drops[0];
      const share = ((royalty * BigInt(c.bps)) / 10_000n).toString();
      expect(line).toMatchObject({ royaltiesWei: royalty.toString(), shareWei: share, releasedWei: share, releasableWei: '0' });
    }
    // What rounding left (at most a wei per recipient) stays in the split; nothing more.
    const left = await chain.balanceOf(minted.splitAddress);
    expect(left).toBe(royalty - split.reduce((n, c) => n + (royalty * BigInt(c.bps)) / 10_000n, 0n));

    // 9. The licence, with the audio's and the state's hashes.
    await step('licence read back', async () => {
      const licence = await call('GET', `/api/v1/nft/licences/${minted.contract}/${minted.tokenId}`, 'bob');
      expect(licence.status).toBe(200);
      expect(licence.body.terms).toBe(5);
      const audio = Buffer.from(await (await fetch(`${node.url}/ipfs/${bounce.audioCid}`)).arrayBuffer());
      expect(licence.body.audioHash).toBe(`0x${createHash('sha256').update(audio).digest('hex')}`);
      const state = Buffer.from(await (await fetch(`${node.url}/api/v1/sessions/${S}/versions/${drop.versionId}/state`, { headers: { authorization: `Bearer ${tokens.ana}` } })).arrayBuffer());
      expect(licence.body.stateHash).toBe(`0x${createHash('sha256').update(state).digest('hex')}`);
    });
    times.total = Math.round(performance.now() - started);
    console.log(`digital ownership end to end (ms): ${JSON.stringify(times)}`);
    if (process.env.VEZA_NFT_E2E_TIMES) appendFileSync(process.env.VEZA_NFT_E2E_TIMES, `${JSON.stringify(times)}\n`);
  }, 240_000);
});

function docOf(state: Uint8Array): Y.Doc {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return doc;
}
