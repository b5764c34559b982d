import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidOf, ContentStore, isOurCid } from '../../src/nft/content.js';
import { nftModule } from '../../src/nft/module.js';
import { bounceModule } from '../../src/bounce/module.js';
import { collabModule } from '../../src/collab/module.js';
import { historyModule } from '../../src/history/module.js';
import { studioModule } from '../../src/studio/module.js';
import { anvilBinary } from '../../src/nft/chain/anvil.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Content ids computed here (CIDv1, raw, sha2-256, base32), the bytes and their row, pinning to a
 * Pinning Service API endpoint (a failure retried, the bearer token sent, the state kept), and the
 * module off (VEZA_NFT_ENABLED=false): its routes answer 503 problem JSON with the reason.
 */
describe('content ids', () => {
  it('are CIDv1 raw sha2-256 in base32', () => {
    // The CID of "hello" as `ipfs add --cid-version 1 --raw-leaves` gives it.
    expect(cidOf(Buffer.from('hello'))).toBe('bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq');
    expect(isOurCid('bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq')).toBe(true);
    // A dag-pb CIDv1 and a CIDv0 are not what this store makes.
    expect(isOurCid('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi')).toBe(false);
    expect(isOurCid('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')).toBe(false);
    expect(isOurCid('../etc/passwd')).toBe(false);
  });
});

describe('the content store and pinning', () => {
  let node: TestNode;
  const requests: { auth: string | undefined; body: unknown }[] = [];
  let failFirst = 1;
  const pinning = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ auth: req.headers.authorization, body: req.url === '/v1/pins' ? JSON.parse(body) : req.url });
      if (failFirst-- > 0) {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"requestid":"r1","status":"queued"}');
    });
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => pinning.listen(0, '127.0.0.1', resolve));
    node = await startModules(() => []);
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    pinning.close();
  });

  it('stores bytes once under their cid, with a row per tenant, and pins each new cid with a retry', async () => {
    const url = `http://127.0.0.1:${(pinning.address() as AddressInfo).port}/v1`;
    const store = new ContentStore(node.node.storage, node.config.storage.dataDir, pino({ level: 'silent' }), { url, token: 'pin-secret' });
    const entry = await store.put('default', Buffer.from('{"name":"x"}'), 'application/json', 'x.json');
    expect(entry).toEqual({ cid: cidOf(Buffer.from('{"name":"x"}')), contentType: 'application/json', size: 12, name: 'x.json', pin: 'pending' });
    expect(readFileSync(store.pathOf(entry.cid), 'utf8')).toBe('{"name":"x"}');
    // The first try fails (500); the retry a second later succeeds.
    await waitFor(async () => (await store.get('default', entry.cid))?.pin === 'pinned', 'the pin', 10_000);
    expect(requests).toEqual([
      { auth: 'Bearer pin-secret', body: { cid: entry.cid, name: 'x.json' } },
      { auth: 'Bearer pin-secret', body: { cid: entry.cid, name: 'x.json' } },
    ]);
    // The same bytes again: the same cid, no second pin.
    expect((await store.put('default', Buffer.from('{"name":"x"}'), 'application/json', 'x.json')).cid).toBe(entry.cid);
    expect(await store.get('other', entry.cid)).toBeNull();
    expect(await store.get('default', 'nope')).toBeNull();
    expect(requests).toHaveLength(2);
    store.close();
    expect(existsSync(store.pathOf(entry.cid))).toBe(true);
  });
});

describe('the nft module turned off', () => {
  it('says so in the report and /healthz; its routes answer 503 problem JSON with the reason', async () => {
    const node = await startModules(() => [collabModule, studioModule, historyModule, bounceModule, nftModule], { 'nft-enabled': 'false' });
    try {
      expect(node.node.report.modules.find((m) => m.name === 'nft')?.state).toEqual({ on: false, reason: 'turned off (VEZA_NFT_ENABLED=false)', fix: 'VEZA_NFT_ENABLED=true' });
      const health = (await (await fetch(`${node.url}/healthz`)).json()) as { nft: unknown };
      expect(health.nft).toMatchObject({ on: false, reason: 'turned off (VEZA_NFT_ENABLED=false)' });
      const token = await node.node.auth.sign({ sub: 'ana', docs: { '*': 'owner' } });
      for (const [method, url] of [['GET', '/api/v1/nft/wallet'], ['POST', '/api/v1/nft/payouts'], ['GET', '/api/v1/nft/statements/ana']] as const) {
        const res = await fetch(`${node.url}${url}`, { method, headers: { authorization: `Bearer ${token}` } });
        expect(res.status, url).toBe(503);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(((await res.json()) as { detail: string }).detail).toBe('digital ownership is off: turned off (VEZA_NFT_ENABLED=false); VEZA_NFT_ENABLED=true');
      }
      // The faucet exists only in development mode.
      expect((await fetch(`${node.url}/api/v1/nft/dev/faucet`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    } finally {
      await node.stop();
    }
  }, 60_000);
});

describe('the nft module on the wrong chain', () => {
  it('is off with "wrong chain" and answers 503 with it', async () => {
    const port = await freePort();
    // A real chain, serving chain id 5 where the settings expect 31337.
    const anvil = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', String(port), '--chain-id', '5', '--silent'], { stdio: 'ignore' });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' }).catch(() => null))?.ok, 'anvil to answer', 20_000);
      const node = await startModules(() => [collabModule, studioModule, historyModule, bounceModule, nftModule], {
        'nft-rpc-url': `http://127.0.0.1:${port}`,
        'nft-chain-id': '31337',
        'nft-operator-key': `0x${'11'.repeat(32)}`,
        'nft-wallet-seed': `0x${'22'.repeat(32)}`,
      });
      try {
        const state = node.node.report.modules.find((m) => m.name === 'nft')?.state;
        expect(state).toMatchObject({ on: false, reason: `wrong chain: http://127.0.0.1:${port} serves chain id 5, VEZA_NFT_CHAIN_ID is 31337` });
        const token = await node.node.auth.sign({ sub: 'ana', docs: {} });
        const res = await fetch(`${node.url}/api/v1/nft/wallet`, { headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(503);
        const text = await res.text();
        expect(text).toContain('wrong chain');
        expect(text).not.toContain('11'.repeat(32));
      } finally {
        await node.stop();
      }
    } finally {
      anvil.kill('SIGTERM');
    }
  }, 60_000);
});
