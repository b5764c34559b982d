// The compiled contracts, read from contracts/out/<Name>.json. The first load in a process runs
// scripts/build-contracts.mjs, which compiles only when the Solidity sources (or the OpenZeppelin or
// compiler version) changed since the output was written and otherwise returns at once; concurrent
// loads share that one run, and the script itself holds a lock so that separate processes never
// compile at the same time. The path is resolved from this file, so the layout holds both for src/
// (run through tsx) and for build/ (the compiled copy sits where src/ does).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JsonFragment } from 'ethers';

const root = path.resolve(import.meta.dirname, '../../..');
const outDir = path.join(root, 'contracts', 'out');
const buildScript = path.join(root, 'scripts', 'build-contracts.mjs');

export interface ContractArtifact {
  contractName: string;
  abi: JsonFragment[];
  /** Creation bytecode, 0x-prefixed. */
  bytecode: string;
  sourceHash: string;
  compiler: { version: string; evmVersion: string };
}

let building: Promise<void> | null = null;

/** Runs the build script once per process (it is a no-op when the output is current). */
export function buildContracts(options: { force?: boolean } = {}): Promise<void> {
  if (options.force) return runBuild(['--force']);
  if (!building) {
    building = runBuild([]).catch((error: unknown) => {
      building = null; // a failed build is retried by the next load
      throw error;
    });
  }
  return building;
}

function runBuild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [buildScript, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`contract build failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

/** A compiled contract by name (e.g. 'VezaEditions'), compiling the sources first if they changed. */
export async function loadArtifact(name: string): Promise<ContractArtifact> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid contract name: ${JSON.stringify(name)}`);
  await buildContracts();
  let text: string;
  try {
    text = await readFile(path.join(outDir, `${name}.json`), 'utf8');
  } catch {
    throw new Error(`no compiled contract named ${name}`);
  }
  const artifact = JSON.parse(text) as ContractArtifact;
  if (!Array.isArray(artifact.abi) || typeof artifact.bytecode !== 'string' || !artifact.bytecode.startsWith('0x')) {
    throw new Error(`compiled contract ${name} is malformed`);
  }
  return artifact;
}
