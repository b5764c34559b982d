// The local development chain: anvil (from the `@foundry-rs/anvil` package's Linux binary) on a free
// loopback port, a fixed development mnemonic and chain id 31337, its state in a file of the data
// directory. anvil loads that file at start and writes it back when it stops (SIGTERM) and every few
// seconds meanwhile, so a restarted server finds its tokens, balances and contracts again.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import path from 'node:path';

/** anvil's own default mnemonic: its first account is the operator on the local chain. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';
export const DEV_CHAIN_ID = 31337;

/** Raised when the anvil binary is not installed; the module reports itself off with this message. */
export class AnvilMissing extends Error {
  constructor() {
    super('anvil not installed (the @foundry-rs/anvil-linux-amd64 package is missing)');
    this.name = 'AnvilMissing';
  }
}

/** The anvil binary of the platform package, or AnvilMissing. */
export function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json'));
  } catch {
    throw new AnvilMissing();
  }
  const binary = path.join(dir, 'bin', 'anvil');
  if (!existsSync(binary)) throw new AnvilMissing();
  return binary;
}

export interface LocalChain {
  rpcUrl: string;
  stateFile: string;
  /** Stops anvil (SIGTERM, or SIGINT), letting it write its state; kills it when it has not exited after `graceMs`. */
  stop(graceMs?: number, signal?: 'SIGTERM' | 'SIGINT'): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

async function answers(rpcUrl: string): Promise<boolean> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * anvil runs under a shell guard that prints anvil's pid, then reads its stdin: the server writes the
 * signal to stop anvil with (TERM or INT, which let it write its state) or closes the pipe, and when
 * the server dies however it dies (kill -9 included) the pipe closes too, so the guard stops anvil
 * and no chain outlives its server.
 */
const GUARD = '"$0" "$@" </dev/null >/dev/null & a=$!; echo "$a"; read -r sig; kill -"${sig:-TERM}" "$a" 2>/dev/null; wait "$a"';

/** The first line the guard prints (anvil's pid). */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end).trim());
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts anvil with its state in `<dir>/anvil-state.json`; resolves once it answers JSON-RPC. */
export async function startLocalChain(dir: string, options: { startTimeoutMs?: number; stateIntervalS?: number } = {}): Promise<LocalChain> {
  const binary = anvilBinary();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stateFile = path.join(dir, 'anvil-state.json');
  const port = await freePort();
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(DEV_CHAIN_ID), '--mnemonic', DEV_MNEMONIC, '--state', stateFile, '--state-interval', String(options.stateIntervalS ?? 5), '--silent'];
  const child = spawn('/bin/sh', ['-c', GUARD, binary, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const anvilPid = firstLine(child).then(Number);
  let failed: Error | null = null;
  child.once('error', (error) => (failed = error));
  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  const pid = await Promise.race([anvilPid, exited(child).then(() => 0)]);
  for (;;) {
    if (failed) throw new Error(`the local chain did not start: ${(failed as Error).message}`);
    if (!pid || !alive(pid)) {
      child.stdin?.end();
      throw new Error(`the local chain exited at start: ${stderr.trim() || 'no output'}`);
    }
    if (await answers(rpcUrl)) break;
    if (Date.now() > deadline) {
      kill(pid);
      child.kill('SIGKILL');
      throw new Error(`the local chain did not answer on ${rpcUrl} within ${options.startTimeoutMs ?? 20_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopping: Promise<void> | null = null;
  return {
    rpcUrl,
    stateFile,
    stop: (graceMs = 10_000, signal = 'SIGTERM') =>
      (stopping ??= (async () => {
        const done = exited(child);
        child.stdin?.end(`${signal === 'SIGINT' ? 'INT' : 'TERM'}\n`);
        const timer = setTimeout(() => {
          kill(pid);
          child.kill('SIGKILL');
        }, graceMs);
        await done;
        clearTimeout(timer);
      })()),
  };
}
