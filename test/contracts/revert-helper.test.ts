import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHAIN_SETUP_TIMEOUT, expectRevert, start, type AnvilChain } from '../helpers/anvil.js';

let chain: AnvilChain;
beforeAll(async () => {
  chain = await start();
}, CHAIN_SETUP_TIMEOUT);
afterAll(async () => {
  await chain?.stop();
});

it('expectRevert decodes the custom error and fails on another error, other arguments or a success', async () => {
  const records = await chain.deploy<'tokenURI' | 'recordCount'>('VezaRecords');
  await expectRevert(records.tokenURI(5), records, 'UnknownToken', [5n]);
  await expect(expectRevert(records.tokenURI(5), records, 'RoyaltyTooHigh', [5n])).rejects.toThrow('expected a revert with RoyaltyTooHigh, got UnknownToken(uint256)');
  await expect(expectRevert(records.tokenURI(5), records, 'UnknownToken', [6n])).rejects.toThrow('arguments of UnknownToken');
  await expect(expectRevert(records.recordCount(), records, 'UnknownToken')).rejects.toThrow('but it succeeded');
});

it('stops anvil: the chain no longer answers', async () => {
  const other = await start();
  expect(await other.provider.getBlockNumber()).toBe(0);
  await other.stop();
  const response = await fetch(other.url, { method: 'POST', body: '{}' }).catch((error: Error) => error);
  expect(response).toBeInstanceOf(Error);
});
