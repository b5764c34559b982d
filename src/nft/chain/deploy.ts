// Where a chain's contracts are: configured (VEZA_NFT_CONTRACTS), recorded from an earlier
// deployment (table nft_deployments, by chain id), or deployed now with the operator key (always on
// the local chain, elsewhere only with VEZA_NFT_DEPLOY=true). A recorded address is trusted only if
// the chain has code there: a local chain whose state file was removed is deployed to again.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ContractFactory, Interface, NonceManager, type InterfaceAbi, type Provider, type Signer } from 'ethers';
import type { Storage } from '../../storage/database.js';
import type { ContractAddresses } from '../settings.js';
import { CONTRACT_KEYS, type ContractKey, type ContractName } from './abi.js';

export interface DeploymentRecord {
  contracts: ContractAddresses;
  blockNumber: number;
}

/** Keeps the deployment of each chain. */
export interface DeploymentStore {
  get(chainId: number): Promise<DeploymentRecord | null>;
  put(chainId: number, record: DeploymentRecord): Promise<void>;
}

/** The deployments in the database (table nft_deployments). */
export function storageDeployments(storage: Storage): DeploymentStore {
  return {
    async get(chainId) {
      const row = await storage.db.selectFrom('nft_deployments').select(['contracts', 'block_number']).where('chain_id', '=', String(chainId)).executeTakeFirst();
      if (!row) return null;
      const contracts = (typeof row.contracts === 'string' ? JSON.parse(row.contracts) : row.contracts) as ContractAddresses;
      return { contracts, blockNumber: Number(row.block_number) };
    },
    async put(chainId, record) {
      const values = { chain_id: String(chainId), contracts: JSON.stringify(record.contracts), block_number: String(record.blockNumber) };
      await storage.db
        .insertInto('nft_deployments')
        .values(values)
        .onConflict((oc) => oc.column('chain_id').doUpdateSet({ contracts: values.contracts, block_number: values.block_number, deployed_at: new Date() }))
        .execute();
    },
  };
}

/** The deployments in a JSON file, for a chain opened without storage (tools, scripts). */
export function fileDeployments(file: string): DeploymentStore {
  const read = (): Record<string, DeploymentRecord> => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, DeploymentRecord>) : {});
  return {
    get: async (chainId) => read()[String(chainId)] ?? null,
    put: async (chainId, record) => {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ ...read(), [String(chainId)]: record }, null, 2));
    },
  };
}

/** Whether every one of the addresses holds code on the chain; the first one that does not, else null. */
export async function missingCode(provider: Provider, contracts: ContractAddresses): Promise<ContractKey | null> {
  for (const key of Object.keys(CONTRACT_KEYS) as ContractKey[]) {
    if ((await provider.getCode(contracts[key])) === '0x') return key;
  }
  return null;
}

/** Reads a compiled contract: one of ours, or the test ERC-20 the local chain offers as a currency. */
export type ArtifactLoader = (name: ContractName | 'TestToken') => Promise<{ abi: InterfaceAbi; bytecode: string }>;

/**
 * The value of a constructor parameter, by its name: the operator for an admin/owner/minter, the
 * address of an already deployed contract for its key (`editions`, `records`, …).
 */
function constructorValue(name: ContractName, param: string, operator: string, deployed: Partial<ContractAddresses>): unknown {
  const key = param.replace(/^_+/, '').replace(/_+$/, '');
  if (/^(admin|owner|minter|operator|initialOwner|defaultAdmin)$/i.test(key)) return operator;
  const contract = (Object.keys(CONTRACT_KEYS) as ContractKey[]).find((k) => k.toLowerCase() === key.toLowerCase() || `${k}contract`.toLowerCase() === key.toLowerCase());
  if (contract && deployed[contract]) return deployed[contract];
  throw new Error(`cannot deploy ${name}: its constructor parameter ${param} is not known`);
}

/** Deploys the five contracts as `operator`, in an order that lets later ones name earlier ones. */
export async function deployContracts(operator: Signer & { address: string }, load: ArtifactLoader): Promise<DeploymentRecord> {
  const deployed: Partial<ContractAddresses> = {};
  // Counts the nonces itself: the node's pending count may lag one deployment behind.
  const signer = new NonceManager(operator);
  let blockNumber = 0;
  for (const key of ['editions', 'records', 'splitFactory', 'market', 'licences'] as const) {
    const name = CONTRACT_KEYS[key];
    const { abi, bytecode } = await load(name);
    const inputs = new Interface(abi).deploy.inputs;
    const args = inputs.map((p) => constructorValue(name, p.name, operator.address, deployed));
    const contract = await new ContractFactory(abi, bytecode, signer).deploy(...args);
    const receipt = await contract.deploymentTransaction()?.wait();
    if (!receipt) throw new Error(`the deployment of ${name} has no receipt`);
    deployed[key] = await contract.getAddress();
    blockNumber = Math.max(blockNumber, receipt.blockNumber);
  }
  return { contracts: deployed as ContractAddresses, blockNumber };
}
