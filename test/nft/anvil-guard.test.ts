// The local chain never outlives its server: killed with -9, the server leaves anvil's guard an
// end-of-file on its stdin, and the guard stops anvil the way a shutdown does (its state written).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/services.js';

const rpcAnswers = async (url: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );

describe('the local chain', () => {
  it('stops, its state written, when the process that started it is killed with -9', { timeout: 60_000 }, async () => {
    const { dir, remove } = tempDir('veza-anvil-guard-');
    const script = `const { startLocalChain } = await import(${JSON.stringify(path.resolve('src/nft/chain/anvil.ts'))}); const chain = await startLocalChain(${JSON.stringify(dir)}, { stateIntervalS: 3600 }); console.log(chain.rpcUrl);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const rpcUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const line = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
        if (line) resolve(line[0]);
      });
      child.once('exit', (code) => reject(new Error(`exited before the chain answered (${code})`)));
    });
    expect(await rpcAnswers(rpcUrl)).toBe(true);
    expect(existsSync(path.join(dir, 'anvil-state.json'))).toBe(false);
    child.kill('SIGKILL');
    await expect.poll(() => rpcAnswers(rpcUrl), { timeout: 20_000, interval: 200 }).toBe(false);
    await expect.poll(() => existsSync(path.join(dir, 'anvil-state.json')), { timeout: 10_000 }).toBe(true);
    remove();
  });
});
