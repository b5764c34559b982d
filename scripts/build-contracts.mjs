// Compiles the Solidity sources (contracts/src, and the test-only contracts in contracts/test) with the
// solc npm package (0.8.30, the compiler ships inside the package: nothing is downloaded) into one JSON
// per contract in contracts/out/<Name>.json = { contractName, abi, bytecode, sourceHash, compiler }.
// It compiles only when the hash of the sources, the OpenZeppelin version, the compiler version and the
// settings differs from the one recorded in contracts/out/.source-hash, so a call with nothing changed
// costs a directory walk. One build at a time across processes: a lock folder (contracts/out/.lock) is
// taken before compiling, and the hash is checked again once it is held.
//   node scripts/build-contracts.mjs [--force]
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashFiles, sourceFiles } from '../bin/source-hash.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const out = path.join(root, 'contracts', 'out');
const stamp = path.join(out, '.source-hash');
const lock = path.join(out, '.lock');
/** Source folders compiled, relative to the package root; their files become solc source units. */
const folders = ['contracts/src', 'contracts/test'];
const EVM_VERSION = 'cancun';
const settings = {
  evmVersion: EVM_VERSION,
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};
const ozVersion = JSON.parse(readFileSync(require.resolve('@openzeppelin/contracts/package.json'), 'utf8')).version;
const solcVersion = JSON.parse(readFileSync(require.resolve('solc/package.json'), 'utf8')).version;

/** Every .sol file of the compiled folders, as paths relative to the package root, sorted. */
function solidityFiles() {
  return folders
    .filter((folder) => existsSync(path.join(root, folder)))
    .flatMap((folder) => sourceFiles(path.join(root, folder)).map((file) => path.posix.join(folder, file.split(path.sep).join('/'))))
    .filter((file) => file.endsWith('.sol'))
    .sort();
}

function currentHash(files) {
  return `${hashFiles(root, files)}:oz-${ozVersion}:solc-${solcVersion}:${JSON.stringify(settings)}`;
}

function upToDate(digest) {
  return existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes the lock folder; a lock older than five minutes is a crashed build's and is taken over. */
async function acquireLock() {
  mkdirSync(out, { recursive: true });
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 5 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      if (Date.now() - started > 10 * 60_000) throw new Error(`contracts: lock ${path.relative(root, lock)} held for over ten minutes`);
      await sleep(200);
    }
  }
}

/** Resolves the imports solc asks for: OpenZeppelin from node_modules, anything else inside the package. */
function findImport(importPath) {
  try {
    if (importPath.startsWith('@openzeppelin/contracts/')) {
      const file = require.resolve(importPath);
      return { contents: readFileSync(file, 'utf8') };
    }
    const file = path.resolve(root, importPath);
    if (!file.startsWith(root + path.sep)) return { error: `import outside the package: ${importPath}` };
    return { contents: readFileSync(file, 'utf8') };
  } catch {
    return { error: `not found: ${importPath}` };
  }
}

function compile(files, digest) {
  const solc = require('solc');
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(files.map((file) => [file, { content: readFileSync(path.join(root, file), 'utf8') }])),
    settings,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  // Warnings about our own sources are printed; OpenZeppelin's (its transient-storage notice) are not.
  for (const warning of (output.errors ?? []).filter((e) => e.severity !== 'error' && !e.sourceLocation?.file?.startsWith('@openzeppelin/'))) {
    process.stderr.write(`${warning.formattedMessage}\n`);
  }
  if (errors.length > 0) {
    throw new Error(`contracts: compilation failed\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  }
  const compiler = { version: solc.version(), evmVersion: EVM_VERSION };
  const artifacts = [];
  for (const file of files) {
    for (const [contractName, contract] of Object.entries(output.contracts?.[file] ?? {})) {
      const bytecode = contract.evm?.bytecode?.object ?? '';
      // Interfaces and abstract contracts have no bytecode: nothing to deploy, no artifact.
      if (bytecode.length === 0) continue;
      artifacts.push({ contractName, abi: contract.abi, bytecode: `0x${bytecode}`, sourceHash: digest, compiler });
    }
  }
  const names = new Set();
  for (const artifact of artifacts) {
    if (names.has(artifact.contractName)) throw new Error(`contracts: two contracts named ${artifact.contractName}`);
    names.add(artifact.contractName);
  }
  return artifacts;
}

async function main() {
  const force = process.argv.includes('--force');
  let files = solidityFiles();
  let digest = currentHash(files);
  if (!force && upToDate(digest)) {
    process.stderr.write('contracts: compiled output up to date\n');
    return;
  }
  await acquireLock();
  try {
    // Another process may have built the same sources while this one waited for the lock.
    files = solidityFiles();
    digest = currentHash(files);
    if (!force && upToDate(digest)) {
      process.stderr.write('contracts: compiled output up to date (built by another process)\n');
      return;
    }
    const started = Date.now();
    const artifacts = compile(files, digest);
    for (const artifact of artifacts) {
      const target = path.join(out, `${artifact.contractName}.json`);
      const temp = `${target}.tmp-${process.pid}`;
      writeFileSync(temp, `${JSON.stringify(artifact, null, 2)}\n`);
      renameSync(temp, target);
    }
    // A contract that left the sources leaves the output too.
    const written = new Set(artifacts.map((a) => `${a.contractName}.json`));
    for (const file of readdirSync(out)) if (file.endsWith('.json') && !written.has(file)) rmSync(path.join(out, file), { force: true });
    writeFileSync(stamp, `${digest}\n`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(
      `contracts: compiled ${files.length} files with solc ${solcVersion} (evm ${EVM_VERSION}, optimizer 200 runs) in ${seconds} s; wrote ${artifacts.map((a) => a.contractName).join(', ')}\n`,
    );
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
