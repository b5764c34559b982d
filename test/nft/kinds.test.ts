import { createHash } from 'node:crypto';
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
 * What a drop can be beyond one edition of the mix, through the API on the local development chain:
 * stems (one edition per track, each with its own audio, metadata and licence), a 1/1 record, a lazy
 * drop (a voucher signed without gas, redeemed once by the first buyer; replayed, expired and altered
 * vouchers refused), and a listing priced in an ERC-20 whose royalty reaches each collaborator to the unit.
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
const S = 'quartet';
const PRICE = '1000000000000000';
const ETH = '1000000000000000000';

describe.skipIf(missing !== null)('stems, 1/1 records, lazy drops and ERC-20 prices through the nft API', () => {
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
  /** Proposes a drop, has both collaborators accept it and mints it. */
  const minted = async (request: Json, key: string) => {
    const made = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', request);
    expect(made.status).toBe(201);
    for (const user of ['ana', 'ben']) expect((await call('POST', `/api/v1/nft/drops/${made.body.id}/accept`, user)).status).toBe(200);
    const mint = await call('POST', `/api/v1/nft/drops/${made.body.id}/mint`, 'ana', undefined, { 'idempotency-key': key });
    expect(mint.status, mint.text).toBe(201);
    return mint.body;
  };
  const chain = () => node.node.modules.api(nftModule).chain();
  let stemsDrop: Json = {};

  beforeAll(async () => {
    node = await startModules(() => [collabModule, studioModule, historyModule, bounceModule, nftModule], { 'collab-flush-ms': '5', dev: 'true' });
    for (const user of ['ana', 'ben']) tokens[user] = await node.node.auth.sign({ sub: user, docs: { [S]: 'editor' } });
    tokens.bob = await node.node.auth.sign({ sub: 'bob', docs: {} });
    tokens.cal = await node.node.auth.sign({ sub: 'cal', docs: {} });
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
  }, 180_000);
  afterAll(() => node?.stop());

  it('mints each track as an edition of its own, with its own audio, metadata and licence, and the same split', async () => {
    stemsDrop = await minted({ title: 'Quartet', maxSupply: 10, priceWei: PRICE, royaltyBps: 1000, licence: 3, stems: true }, 'stems-1');
    expect(stemsDrop.stems.map((s: Json) => s.name)).toEqual(['Keys', 'Bass']);
    const ids = new Set([stemsDrop.tokenId, ...stemsDrop.stems.map((s: Json) => s.tokenId)]);
    expect(ids.size).toBe(3);
    const master = await call('GET', `/ipfs/${String(stemsDrop.metadataUri).slice(7)}`, 'bob');
    expect(master.body.properties.kind).toBe('edition');
    for (const stem of stemsDrop.stems as Json[]) {
      const meta = await call('GET', `/ipfs/${String(stem.metadataUri).slice(7)}`, 'bob');
      expect(meta.body).toMatchObject({ name: `Quartet (stem: ${stem.name})`, animation_url: `ipfs://${stem.audioCid}`, properties: { kind: 'stem', stem: { name: stem.name, mixAudioCid: master.body.properties.audioCid }, split: master.body.properties.split, stateHash: master.body.properties.stateHash } });
      expect(stem.audioCid).not.toBe(master.body.properties.audioCid);
      const audio = await fetch(`${node.url}/ipfs/${stem.audioCid}`);
      expect(Buffer.from(await audio.arrayBuffer()).subarray(0, 4).toString('ascii')).toBe('fLaC');
      const licence = await call('GET', `/api/v1/nft/licences/editions/${stem.tokenId}`, 'bob');
      expect(licence.status).toBe(200);
      expect(licence.body).toMatchObject({ stem: { name: stem.name }, terms: 3, names: ['personal', 'sync'], audioHash: meta.body.properties.audioHash, stateHash: meta.body.properties.stateHash });
    }
    // The stems pay the same split: their editions' ERC-2981 receiver is the drop's split.
    const c = await chain();
    for (const stem of stemsDrop.stems as Json[]) {
      const [receiver] = (await c.contracts.editions.getFunction('royaltyInfo').staticCall(BigInt(stem.tokenId), 10_000n)) as [string, bigint];
      expect(receiver).toBe(stemsDrop.splitAddress);
    }
    const again = await call('POST', `/api/v1/nft/drops/${stemsDrop.drop.id}/mint`, 'ana', undefined, { 'idempotency-key': 'stems-1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(stemsDrop);
    const listed = await call('GET', `/api/v1/nft/tokens?session=${S}`, 'bob');
    expect(listed.body.tokens[0].stems).toHaveLength(2);
  }, 300_000);

  it('mints a drop as a 1/1 record to its proposer, and refuses what a record cannot be', async () => {
    const bad = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', { title: 'One', kind: 'record', maxSupply: 2, priceWei: '0', royaltyBps: 500 });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.detail).toContain('a 1/1 record has a supply of exactly 1');
    const lazyRecord = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', { title: 'One', kind: 'record', maxSupply: 1, priceWei: '0', royaltyBps: 500, lazy: true });
    expect(lazyRecord.status).toBe(400);
    expect(lazyRecord.body.detail).toContain('vouchers create editions');

    const record = await minted({ title: 'One of one', kind: 'record', maxSupply: 1, priceWei: '0', royaltyBps: 500, licence: 1 }, 'record-1');
    const c = await chain();
    expect(record.contract).toBe(c.info().contracts.records);
    expect(record.copies).toEqual([]);
    const owner = (await c.contracts.records.getFunction('ownerOf').staticCall(BigInt(record.tokenId))) as string;
    expect(owner).toBe(c.walletOf('default', 'ana'));
    const [receiver, royalty] = (await c.contracts.records.getFunction('royaltyInfo').staticCall(BigInt(record.tokenId), 10_000n)) as [string, bigint];
    expect([receiver, royalty]).toEqual([record.splitAddress, 500n]);
    const licence = await call('GET', `/api/v1/nft/licences/records/${record.tokenId}`, 'ben');
    expect(licence.body).toMatchObject({ contract: c.info().contracts.records, terms: 1 });
    const tokensList = await call('GET', '/api/v1/nft/tokens', 'bob');
    expect(tokensList.body.tokens.find((t: Json) => t.dropId === record.drop.id)).toMatchObject({ kind: 'record', contract: c.info().contracts.records });
    // Sold on the market like any token: listed alone.
    expect((await call('POST', '/api/v1/nft/dev/faucet', 'ana', { wei: ETH })).status).toBe(200);
    expect((await call('POST', '/api/v1/nft/listings', 'ana', { contract: 'records', tokenId: record.tokenId, amount: 2, priceWei: PRICE })).status).toBe(400);
    const listing = await call('POST', '/api/v1/nft/listings', 'ana', { contract: 'records', tokenId: record.tokenId, priceWei: PRICE });
    expect(listing.status).toBe(201);
  }, 300_000);

  it('mints lazily: the creator signs a voucher without gas, the first buyer redeems it once', async () => {
    const c = await chain();
    const benWallet = c.walletOf('default', 'ben');
    const before = await c.balanceOf(benWallet);
    const made = await call('POST', `/api/v1/sessions/${S}/drops`, 'ben', { title: 'Lazy', maxSupply: 5, priceWei: PRICE, royaltyBps: 800 , lazy: true });
    for (const user of ['ana', 'ben']) expect((await call('POST', `/api/v1/nft/drops/${made.body.id}/accept`, user)).status).toBe(200);
    const lazy = await call('POST', `/api/v1/nft/drops/${made.body.id}/mint`, 'ben', undefined, { 'idempotency-key': 'lazy-1' });
    expect(lazy.status).toBe(201);
    expect(lazy.body).toMatchObject({ tokenId: null, copies: [], voucher: { voucher: { creator: benWallet, payoutTo: lazy.body.splitAddress, price: PRICE, maxSupply: '5' }, signature: expect.stringMatching(/^0x[0-9a-f]{130}$/) } });
    // Signing spent nothing: the creator's wallet holds what it held.
    expect(await c.balanceOf(benWallet)).toBe(before);

    const served = await call('GET', `/api/v1/nft/vouchers/${made.body.id}`, 'bob');
    expect(served.status).toBe(200);
    expect(served.body).toMatchObject({ dropId: made.body.id, chainId: 31337, contract: c.info().contracts.editions, tokenId: null, signature: lazy.body.voucher.signature });
    expect((await call('GET', '/api/v1/nft/vouchers', 'cal')).body.vouchers.map((v: Json) => v.dropId)).toContain(made.body.id);

    expect((await call('POST', '/api/v1/nft/dev/faucet', 'bob', { wei: ETH })).status).toBe(200);
    const redeem = (user: string, key: string, body: Json = {}) => call('POST', `/api/v1/nft/vouchers/${made.body.id}/redeem`, user, body, { 'idempotency-key': key });
    // An altered voucher: the contract finds no creator's signature over these terms.
    const tampered = await redeem('bob', 'r-tampered', { voucher: { ...served.body.voucher, price: '1' }, signature: served.body.signature });
    expect(tampered.status).toBe(400);
    expect(tampered.body).toMatchObject({ type: expect.stringContaining('chain-invalid-signature'), detail: expect.stringContaining('altered') });
    expect((await call('POST', `/api/v1/nft/vouchers/${made.body.id}/redeem`, 'bob', { amount: 1 })).status).toBe(400);

    const first = await redeem('bob', 'r-1', { amount: 2 });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ dropId: made.body.id, amount: 2, paidWei: String(2n * BigInt(PRICE)), buyer: c.walletOf('default', 'bob'), tokenId: expect.stringMatching(/^[0-9]+$/), licence: 'set' });
    expect(((await c.contracts.editions.getFunction('balanceOf').staticCall(c.walletOf('default', 'bob'), BigInt(first.body.tokenId))) as bigint)).toBe(2n);
    const replay = await redeem('bob', 'r-1', { amount: 2 });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    // The same voucher again: the contract's VoucherAlreadyUsed.
    expect((await call('POST', '/api/v1/nft/dev/faucet', 'cal', { wei: ETH })).status).toBe(200);
    const replayed = await redeem('cal', 'r-2');
    expect(replayed.status).toBe(409);
    expect(replayed.body.detail).toContain('already redeemed');
    expect((await call('GET', `/api/v1/nft/vouchers/${made.body.id}`, 'cal')).body.tokenId).toBe(first.body.tokenId);
    expect((await call('GET', `/api/v1/nft/licences/editions/${first.body.tokenId}`, 'ana')).body).toMatchObject({ dropId: made.body.id, terms: 1 });
    expect(first.body.tx.gasUsed).toMatch(/^[0-9]+$/);
    console.log(`gas: mintWithVoucher (create + mint 2) ${first.body.tx.gasUsed}`);
  }, 300_000);

  it('lists for an ERC-20, sells with approval, and releases the royalty to each collaborator to the unit', async () => {
    const c = await chain();
    const currencies = await call('GET', '/api/v1/nft/currencies', 'ana');
    const test = currencies.body.currencies.find((x: Json) => x.test);
    expect(test).toMatchObject({ symbol: 'VTT', decimals: 18 });
    expect((await call('POST', '/api/v1/nft/listings', 'ben', { tokenId: stemsDrop.tokenId, priceWei: '100', currency: c.walletOf('default', 'bob') })).body.detail).toContain('is not a currency');
    expect((await call('POST', '/api/v1/nft/dev/faucet', 'ben', { wei: ETH })).status).toBe(200);
    // 12345 units at 10 %: a royalty of 1234 (rounded down), 617 to each half of the split.
    const listing = await call('POST', '/api/v1/nft/listings', 'ben', { tokenId: stemsDrop.tokenId, priceWei: '12345', currency: test.address });
    expect(listing.status, listing.text).toBe(201);
    expect(listing.body.currency).toMatchObject({ address: test.address, symbol: 'VTT' });
    const broke = await call('POST', `/api/v1/nft/listings/${listing.body.listingId}/buy`, 'cal', {});
    expect(broke.status).toBe(402);
    expect(broke.body.detail).toContain('insufficient funds');
    const funded = await call('POST', '/api/v1/nft/dev/faucet', 'cal', { wei: '20000', currency: test.address });
    expect(funded.body).toMatchObject({ currency: test.address, balanceWei: '20000' });
    const bought = await call('POST', `/api/v1/nft/listings/${listing.body.listingId}/buy`, 'cal', {});
    expect(bought.status, bought.text).toBe(200);
    expect(await c.tokenBalance(test.address, c.walletOf('default', 'cal'))).toBe(20000n - 12345n);
    expect(await c.tokenBalance(test.address, c.walletOf('default', 'ben'))).toBe(12345n - 1234n);

    await node.node.modules.api(nftModule).indexer()!.caughtUp();
    const statement = await call('GET', '/api/v1/nft/statements/ana', 'ana');
    const line = statement.body.drops.find((d: Json) => d.dropId === stemsDrop.drop.id);
    expect(line.tokens).toEqual([{ currency: test.address.toLowerCase(), sales: { count: 1, units: '1', paid: '12345' }, royalties: '1234', share: '617', released: '0', releasable: '617' }]);
    for (const user of ['ana', 'ben']) {
      const before = await c.tokenBalance(test.address, c.walletOf('default', user));
      const paid = await call('POST', '/api/v1/nft/payouts', user);
      expect(paid.status).toBe(200);
      expect(paid.body.totals).toEqual({ [test.address.toLowerCase()]: '617' });
      expect(await c.tokenBalance(test.address, c.walletOf('default', user))).toBe(before + 617n);
      expect((await call('POST', '/api/v1/nft/payouts', user)).body.totals).toEqual({});
    }
    await node.node.modules.api(nftModule).indexer()!.caughtUp();
    const after = (await call('GET', '/api/v1/nft/statements/ana', 'ana')).body.drops.find((d: Json) => d.dropId === stemsDrop.drop.id);
    expect(after.tokens[0]).toMatchObject({ released: '617', releasable: '0' });
    console.log(`gas: ERC-20 list ${listing.body.tx.gasUsed}, buy ${bought.body.tx.gasUsed}`);
  }, 300_000);

  it('refuses an expired voucher with the contract\'s error', async () => {
    const c = await chain();
    const now = (await c.provider.getBlock('latest'))!.timestamp;
    const made = await call('POST', `/api/v1/sessions/${S}/drops`, 'ana', { title: 'Soon gone', maxSupply: 3, priceWei: PRICE, royaltyBps: 0, lazy: true, mintEnd: now + 600 });
    for (const user of ['ana', 'ben']) expect((await call('POST', `/api/v1/nft/drops/${made.body.id}/accept`, user)).status).toBe(200);
    const lazy = await call('POST', `/api/v1/nft/drops/${made.body.id}/mint`, 'ana', undefined, { 'idempotency-key': 'lazy-2' });
    expect(lazy.body.voucher.voucher.deadline).toBe(String(now + 600));
    await c.provider.send('evm_increaseTime', [3600]);
    await c.provider.send('evm_mine', []);
    const expired = await call('POST', `/api/v1/nft/vouchers/${made.body.id}/redeem`, 'cal', {}, { 'idempotency-key': 'r-3' });
    expect(expired.status).toBe(409);
    expect(expired.body.detail).toContain('expired');
    expect((await call('POST', `/api/v1/nft/vouchers/drp_nope/redeem`, 'cal', {}, { 'idempotency-key': 'r-4' })).status).toBe(404);
    expect((await call('GET', `/api/v1/nft/vouchers/${stemsDrop.drop.id}`, 'cal')).status).toBe(404);
  }, 300_000);

  it('mints a sample pack of uploaded files and a bounce as one edition, with the split its creators give', async () => {
    const tone = wav(2205);
    const upload = (user: string, bytes: Buffer, name: string) =>
      fetch(`${node.url}/api/v1/nft/uploads`, { method: 'POST', headers: { authorization: `Bearer ${tokens[user]}`, 'content-type': 'application/octet-stream', 'x-file-name': name }, body: bytes });
    const up = await upload('cal', tone, 'tone.wav');
    expect(up.status).toBe(201);
    const sample = (await up.json()) as Json;
    expect(sample).toMatchObject({ cid: expect.stringMatching(/^bafkrei/), contentType: 'audio/wav', size: tone.length, name: 'tone.wav' });
    const notAudio = await upload('cal', Buffer.from('just some text'), 'notes.txt');
    expect(notAudio.status).toBe(415);
    expect(((await notAudio.json()) as Json).detail).toBe('the body is not FLAC, WAV, AIFF, Ogg or MP3 audio');

    const request = { title: 'Kit', maxSupply: 0, priceWei: PRICE, royaltyBps: 1000, samples: [{ cid: sample.cid, name: 'tone.wav' }], bounceIds: [stemsDrop.drop.bounceId] };
    const uneven = await call('POST', '/api/v1/nft/packs', 'cal', { ...request, split: [{ userId: 'ana', bps: 6000 }, { userId: 'ben', bps: 3000 }] });
    expect(uneven.status).toBe(400);
    expect(uneven.body.detail).toBe("the split's basis points must sum to 10,000");
    const json = await call('POST', '/api/v1/nft/packs', 'cal', { ...request, samples: [{ cid: String(stemsDrop.metadataUri).slice(7), name: 'meta' }] });
    expect(json.body.detail).toContain('not audio');
    expect((await call('POST', '/api/v1/nft/packs', 'cal', { ...request, samples: [{ cid: 'bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq', name: 'x' }] })).status).toBe(404);

    const made = await call('POST', '/api/v1/nft/packs', 'cal', { ...request, split: [{ userId: 'ana', bps: 7000 }, { userId: 'ben', bps: 3000 }] });
    expect(made.status, made.text).toBe(201);
    expect(made.body).toMatchObject({ sessionId: null, samples: [{ cid: sample.cid, name: 'tone.wav', contentType: 'audio/wav' }, { name: `${S}.flac`, contentType: 'audio/flac' }], split: { rule: 'given by the creators' }, waitingFor: ['ana', 'ben'] });
    expect((await call('GET', `/api/v1/nft/drops/${made.body.id}`, 'bob')).status).toBe(404);
    expect((await call('POST', `/api/v1/nft/drops/${made.body.id}/mint`, 'cal', undefined, { 'idempotency-key': 'pack-1' })).body.detail).toBe('the split is not accepted by all: waiting for ana, ben');
    for (const user of ['ana', 'ben']) expect((await call('POST', `/api/v1/nft/drops/${made.body.id}/accept`, user)).status).toBe(200);
    const pack = await call('POST', `/api/v1/nft/drops/${made.body.id}/mint`, 'cal', undefined, { 'idempotency-key': 'pack-1' });
    expect(pack.status, pack.text).toBe(201);
    expect(pack.body.copies.map((c: Json) => c.userId)).toEqual(['ana', 'ben']);
    const meta = await call('GET', `/ipfs/${String(pack.body.metadataUri).slice(7)}`, 'bob');
    expect(meta.body.properties).toMatchObject({ kind: 'pack', samples: [{ name: 'tone.wav', uri: `ipfs://${sample.cid}`, sha256: `0x${createHash('sha256').update(tone).digest('hex')}` }, { contentType: 'audio/flac' }], split: { recipients: [{ userId: 'ana', bps: 7000 }, { userId: 'ben', bps: 3000 }] } });
    const licence = await call('GET', `/api/v1/nft/licences/editions/${pack.body.tokenId}`, 'ben');
    expect(licence.body).toMatchObject({ dropId: made.body.id, audioHash: meta.body.properties.packHash });
    expect((await call('GET', '/api/v1/nft/packs', 'ben')).body.packs.map((p: Json) => p.id)).toEqual([made.body.id]);

    // Without a split, the uploader alone.
    const alone = await call('POST', '/api/v1/nft/packs', 'cal', { title: 'Solo kit', maxSupply: 5, priceWei: PRICE, royaltyBps: 0, samples: [{ cid: sample.cid, name: 'tone.wav' }] });
    expect(alone.body.split).toMatchObject({ rule: 'the uploader alone', collaborators: [{ userId: 'cal', bps: 10_000 }] });
  }, 300_000);
});

/** A mono 16-bit WAV of `samples` samples of a 441 Hz tone at 44.1 kHz. */
function wav(samples: number): Buffer {
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 441 * i) / 44_100)), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(44_100, 24);
  header.writeUInt32LE(88_200, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
