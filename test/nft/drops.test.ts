import { getAddress } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bounceModule } from '../../src/bounce/module.js';
import { locateBounceTools } from '../../src/bounce/tools.js';
import { collabModule } from '../../src/collab/module.js';
import { historyModule } from '../../src/history/module.js';
import { DropError, DropService, dropRequestSchema, type Drop } from '../../src/nft/drops.js';
import { computeSplit } from '../../src/nft/split.js';
import { StudioDoc } from '../../src/studio/model.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { playScript, STEPS } from '../history/script.js';

/**
 * The authorship split (exact basis points for the three scripted users a, b and c at the end of the
 * script and at its first moment), and a drop's acceptance: everyone must accept before it may be
 * minted, anyone may decline, and the refusals say why.
 */
const share = (count: number) => ({ count, share: 0 });
const user = (userId: string, notes: number, tracks: number, edits: number) => ({ userId, notes: share(notes), tracks: share(tracks), edits: share(edits) });

describe('the split rule', () => {
  it('weighs notes 50 %, tracks 30 %, edits 20 %, rounds down and gives the remainder to the largest share', () => {
    // a: 2/4 notes, 1/3 tracks, 8/21 edits → 4261.9; b: 1/4, 1/3, 8/21 → 3011.9; c: 1/4, 1/3, 5/21 → 2726.2; 2 bp left go to a.
    const split = computeSplit([user('a', 2, 1, 8), user('b', 1, 1, 8), user('c', 1, 1, 5)]);
    expect(split.shares.map((s) => [s.userId, s.bps])).toEqual([
      ['a', 4263],
      ['b', 3011],
      ['c', 2726],
    ]);
    expect(split.dropped).toEqual([]);
  });

  it('leaves out a part nobody has (no notes: tracks 60 %, edits 40 %) and the platform author', () => {
    const split = computeSplit([user('a', 0, 1, 1), user('b', 0, 0, 3), user('veza', 0, 0, 5)], ['veza']);
    // a: 0.6 × 1 + 0.4 × 1/4 = 7000; b: 0.4 × 3/4 = 3000.
    expect(split.shares.map((s) => [s.userId, s.bps])).toEqual([
      ['a', 7000],
      ['b', 3000],
    ]);
  });

  it('drops a collaborator under 1 bp and says so; the rest still sum to 10000', () => {
    const split = computeSplit([user('big', 10, 1, 99_999), user('tiny', 0, 0, 1)]);
    expect(split.shares).toEqual([{ userId: 'big', bps: 10_000, notes: 10, tracks: 1, edits: 99_999 }]);
    expect(split.dropped).toEqual([{ userId: 'tiny', reason: 'less than 1 basis point of the split' }]);
    expect(computeSplit([]).shares).toEqual([]);
  });

  it('always sums to exactly 10000 basis points', () => {
    for (let n = 1; n <= 40; n++) {
      const users = Array.from({ length: n }, (_, i) => user(`u${String(i).padStart(2, '0')}`, (i * 7) % 5, i % 3, 1 + ((i * 13) % 11)));
      const split = computeSplit(users);
      expect(split.shares.reduce((s, x) => s + x.bps, 0)).toBe(10_000);
    }
  });
});

const tools = locateBounceTools();
if (!tools.available) {
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`bounce tools missing: ${tools.reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${tools.reason}: ${tools.fix}`);
}

describe.skipIf(!tools.available)('drops of the scripted session', () => {
  let node: TestNode;
  let drops: DropService;
  const S = 'script';
  const ADDR = { a: '0x00000000000000000000000000000000000000a1', b: '0x00000000000000000000000000000000000000B2', c: '0x00000000000000000000000000000000000000c3' };
  const request = (extra: Record<string, unknown> = {}) => dropRequestSchema.parse({ title: 'Script', maxSupply: 10, priceWei: '1000000000000000', royaltyBps: 1000, ...extra });
  const refusal = async (work: Promise<unknown>): Promise<[number, string]> => {
    try {
      await work;
    } catch (e) {
      if (e instanceof DropError) return [e.status, e.message];
      throw e;
    }
    throw new Error('expected a refusal');
  };
  let firstMoment = '';

  beforeAll(async () => {
    node = await startModules(() => [collabModule, studioModule, historyModule, bounceModule], { 'collab-flush-ms': '5' });
    const collab = node.node.modules.api(collabModule);
    const { replay } = node.node.modules.api(studioModule);
    const { versions, history } = node.node.modules.api(historyModule);
    const rows = await playScript(collab, replay, S, STEPS.slice(0, 9));
    firstMoment = (await versions.create('default', S, { label: 'M1', author: 'a', kind: 'named', at: rows.at(-1)!.at })).id;
    for (const [who, change] of STEPS.slice(9)) {
      await collab.edit('default', S, who, (doc) => change(new StudioDoc(doc)));
      await collab.persisted('default', S);
    }
    drops = new DropService({ storage: node.node.storage, versions, history, bounces: node.node.modules.api(bounceModule).bounces, walletOf: () => Promise.reject(new Error('no chain in this test')), persisted: (t, d) => collab.persisted(t, d) });
  }, 120_000);
  afterAll(() => node?.stop());

  let drop: Drop;
  it('proposes a drop of the session now: a mint version, a bounce of it, and the split at that moment', async () => {
    drop = await drops.create('default', S, 'a', request());
    expect(drop.state).toBe('proposed');
    expect(drop.split.collaborators.map((c) => [c.userId, c.bps, c.answer])).toEqual([
      ['a', 4263, 'pending'],
      ['b', 3011, 'pending'],
      ['c', 2726, 'pending'],
    ]);
    expect(drop.waitingFor).toEqual(['a', 'b', 'c']);
    const { versions } = node.node.modules.api(historyModule);
    const version = await versions.get('default', S, drop.versionId!);
    expect(version?.reason).toBe('mint');
    const bounce = await node.node.modules.api(bounceModule).bounces!.get('default', drop.bounceId!);
    expect(bounce).toMatchObject({ state: 'done', uptoId: version!.uptoId });
  }, 60_000);

  it('takes the split at an earlier version', async () => {
    const early = await drops.create('default', S, 'b', request({ versionId: firstMoment }));
    expect(early.split.collaborators.map((c) => [c.userId, c.bps])).toEqual([
      ['a', 4890],
      ['b', 3416],
      ['c', 1694],
    ]);
  }, 60_000);

  it('refuses a mint until all accepted, naming who it waits for', async () => {
    expect(() => drops.ensureMintable(drop)).toThrow('the split is not accepted by all: waiting for a, b, c');
    drop = await drops.accept('default', drop.id, 'a', ADDR.a);
    drop = await drops.accept('default', drop.id, 'c', ADDR.c);
    expect(() => drops.ensureMintable(drop)).toThrow('the split is not accepted by all: waiting for b');
    drop = await drops.accept('default', drop.id, 'b', ADDR.b);
    expect(drop.waitingFor).toEqual([]);
    expect(drop.split.collaborators.find((c) => c.userId === 'b')).toMatchObject({ answer: 'accepted', payoutAddress: getAddress(ADDR.b.toLowerCase()) });
    expect(() => drops.ensureMintable(drop)).not.toThrow();
  });

  it('refuses strangers, bad addresses, a missing wallet, a royalty above the cap and unknown drops', async () => {
    expect(await refusal(drops.accept('default', drop.id, 'zed', ADDR.a))).toEqual([403, `zed is not in the split of drop ${drop.id}`]);
    expect((await refusal(drops.accept('default', drop.id, 'a', '0x1234')))[0]).toBe(400);
    expect(await refusal(drops.accept('default', drop.id, 'a'))).toEqual([503, 'the chain is off: give a payoutAddress']);
    expect(await refusal(drops.create('default', S, 'a', request({ royaltyBps: 5001 })))).toEqual([400, 'a royalty of 5001 bps is above the cap of 5000 bps (50 %)']);
    expect((await refusal(drops.create('default', 'nothing-here', 'a', request())))[0]).toBe(404);
    expect((await refusal(drops.create('default', S, 'a', request({ versionId: '999999' }))))[0]).toBe(404);
    expect((await refusal(drops.create('default', S, 'a', request({ bounceId: `bnc_${'0'.repeat(32)}` }))))[0]).toBe(404);
    expect(await refusal(drops.accept('default', 'drp_nope', 'a', ADDR.a))).toEqual([404, 'no drop drp_nope']);
    expect(await drops.get('other', drop.id)).toBeNull();
    expect(() => dropRequestSchema.parse({ title: 'x', maxSupply: 1, priceWei: '1', royaltyBps: 0, licence: 8 })).toThrow('an exclusive licence must also be commercial');
    expect(() => dropRequestSchema.parse({ title: 'x', maxSupply: 1, priceWei: '-1', royaltyBps: 0 })).toThrow('an amount in wei');
  });

  it('stops a drop for good when one collaborator declines', async () => {
    const other = await drops.create('default', S, 'c', request());
    await drops.accept('default', other.id, 'a', ADDR.a);
    const declined = await drops.decline('default', other.id, 'b');
    expect(declined).toMatchObject({ state: 'declined', declinedBy: ['b'] });
    expect(() => drops.ensureMintable(declined)).toThrow('the split was declined by b: this drop cannot be minted');
    expect((await refusal(drops.accept('default', other.id, 'c', ADDR.c)))[0]).toBe(409);
    expect((await drops.list('default', { sessionId: S })).length).toBe(3);
    expect((await drops.list('default', { creator: 'zed' })).length).toBe(0);
  }, 60_000);
});
