// Opening the chain: the local development chain (anvil beside the server) or a configured one,
// the operator and the custodial wallets, the contracts (configured, recorded or deployed now), and
// the chain API over them. Keys and the wallet seed never reach a log line or an error message;
// the RPC URL is shown without its credentials.
import path from 'node:path';
import { FetchRequest, HDNodeWallet, Interface, JsonRpcProvider, Network, Wallet, WebSocketProvider, type InterfaceAbi } from 'ethers';
import type { Logger } from '../../log.js';
import type { Storage } from '../../storage/database.js';
import type { ContractAddresses, NftSettings } from '../settings.js';
import { CONTRACT_KEYS, type ContractName } from './abi.js';
import { DEV_CHAIN_ID, DEV_MNEMONIC, startLocalChain, type LocalChain } from './anvil.js';
import { loadArtifact } from './artifacts.js';
import { EthersChain } from './chain.js';
import { deployContracts, fileDeployments, missingCode, storageDeployments, type ArtifactLoader } from './deploy.js';
import { errorsInterface, plainError } from './errors.js';
import { Sender } from './sender.js';
import type { OpenedChain } from './types.js';
import { CustodialWallets, devSeed, seedOf } from './wallets.js';

export { AnvilMissing, DEV_CHAIN_ID } from './anvil.js';
export { ChainRefusal } from './errors.js';
export type { ChainInfo, Currency, NftChain, OpenedChain, SignedVoucher, TokenContract, TxResult, Voucher, WalletOwner } from './types.js';

/** Where the node runs: its data directory, development mode, and the storage deployments are recorded in. */
export interface ChainDeployment {
  dataDir: string;
  dev: boolean;
  /** Where the contracts' addresses are recorded (table nft_deployments); without it, a file of the data directory. */
  storage?: Storage;
  /** How the compiled contracts are read (default: the build's output). */
  artifacts?: ArtifactLoader;
}

/** Path segments this long and made of key characters are API keys in the URL of most providers. */
const KEY_SEGMENT = /^[A-Za-z0-9_-]{20,}$/;

/** The RPC URL as it may be shown: no user info, query or fragment, key-like path segments masked. */
export function publicRpcUrl(url: string): string {
  if (!URL.canParse(url)) return '(invalid URL)';
  const parsed = new URL(url);
  const pathname = parsed.pathname
    .split('/')
    .map((segment) => (KEY_SEGMENT.test(segment) ? '***' : segment))
    .join('/');
  return `${parsed.protocol}//${parsed.host}${pathname === '/' ? '' : pathname}`;
}

/** The HTTP request to the endpoint: user info in the URL becomes basic authentication (fetch refuses it in URLs). */
function rpcRequest(url: string): FetchRequest {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  const request = new FetchRequest(parsed.toString());
  if (user || password) {
    request.setCredentials(user, password);
    request.allowInsecureAuthentication = parsed.protocol === 'http:';
  }
  return request;
}

/** Opens the chain the settings name (or the local one); rejects with a clear message, never a key. */
export async function openChain(settings: NftSettings, deployment: ChainDeployment, logger: Logger): Promise<OpenedChain> {
  const local = !settings.rpcUrl;
  if (local && !deployment.dev) throw new Error('VEZA_NFT_RPC_URL is not set: outside development mode the chain must be configured');
  if (!local && settings.chainId === undefined) throw new Error('VEZA_NFT_CHAIN_ID is required with VEZA_NFT_RPC_URL');
  const nftDir = path.join(deployment.dataDir, 'nft');
  let anvil: LocalChain | null = null;
  if (local) anvil = await startLocalChain(nftDir);
  const rpcUrl = anvil?.rpcUrl ?? settings.rpcUrl!;
  const shownUrl = publicRpcUrl(rpcUrl);
  const expected = settings.chainId ?? DEV_CHAIN_ID;
  const network = Network.from(expected);
  // No cache of answers (ethers keeps them 250 ms by default): a nonce or balance read just after a
  // transaction must see it.
  const provider = /^wss?:/.test(rpcUrl)
    ? new WebSocketProvider(rpcUrl, network, { staticNetwork: true, cacheTimeout: -1 })
    : new JsonRpcProvider(rpcRequest(rpcUrl), network, { staticNetwork: true, cacheTimeout: -1, pollingInterval: local ? 200 : 4000 });
  const fail = async (error: unknown): Promise<never> => {
    provider.destroy();
    await anvil?.stop();
    throw error;
  };
  try {
    let served: number;
    try {
      served = Number(await provider.send('eth_chainId', []));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new Error(`the chain at ${shownUrl} does not answer${typeof code === 'string' ? ` (${code})` : ''}`);
    }
    if (served !== expected) throw new Error(`wrong chain: ${shownUrl} serves chain id ${served}, ${local ? 'the local chain is' : 'VEZA_NFT_CHAIN_ID is'} ${expected}`);
    const operator = local ? HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0/0").connect(provider) : operatorWallet(settings, provider);
    const seed = settings.walletSeed ? seedOf(settings.walletSeed) : local ? devSeed(nftDir) : null;
    if (!seed) throw new Error('VEZA_NFT_WALLET_SEED is required outside the local development chain');
    const load: ArtifactLoader = deployment.artifacts ?? (loadArtifact as ArtifactLoader);
    const abis = Object.fromEntries(await Promise.all((['VezaEditions', 'VezaRecords', 'SplitFactory', 'VezaMarket', 'LicenceRegistry', 'VezaSplit'] as ContractName[]).map(async (name) => [name, (await load(name)).abi] as const))) as Record<ContractName, InterfaceAbi>;
    const { contracts, blockNumber } = await resolveContracts(settings, deployment, { local, chainId: served, provider, operator, load, nftDir });
    const interfaces = {
      editions: new Interface(abis[CONTRACT_KEYS.editions]),
      records: new Interface(abis[CONTRACT_KEYS.records]),
      splitFactory: new Interface(abis[CONTRACT_KEYS.splitFactory]),
      market: new Interface(abis[CONTRACT_KEYS.market]),
      licences: new Interface(abis[CONTRACT_KEYS.licences]),
      split: new Interface(abis.VezaSplit),
    };
    const info = { chainId: served, rpcUrl: shownUrl, local, contracts };
    logger.info({ chainId: served, rpcUrl: shownUrl, local, contracts }, 'nft chain open');
    return new EthersChain({
      info,
      provider,
      operator,
      wallets: new CustodialWallets(seed, provider),
      sender: new Sender(provider, errorsInterface(Object.values(abis))),
      interfaces,
      confirmations: settings.confirmations ?? (local ? 0 : 2),
      pollMs: settings.pollMs,
      deployedAt: blockNumber,
      logger,
      stop: async () => {
        await anvil?.stop();
      },
      load,
      nftDir,
    });
  } catch (error) {
    return fail(plainError(error));
  }
}

function operatorWallet(settings: NftSettings, provider: JsonRpcProvider | WebSocketProvider): Wallet {
  if (!settings.operatorKey) throw new Error('VEZA_NFT_OPERATOR_KEY is required outside the local development chain');
  try {
    return new Wallet(settings.operatorKey, provider);
  } catch {
    throw new Error('VEZA_NFT_OPERATOR_KEY is not a valid private key');
  }
}

interface ResolveContext {
  local: boolean;
  chainId: number;
  provider: JsonRpcProvider | WebSocketProvider;
  operator: Wallet | HDNodeWallet;
  load: ArtifactLoader;
  nftDir: string;
}

/** The contracts of the chain: configured, recorded (and still there), or deployed now. */
async function resolveContracts(settings: NftSettings, deployment: ChainDeployment, ctx: ResolveContext): Promise<{ contracts: ContractAddresses; blockNumber: number }> {
  if (settings.contracts) {
    const missing = await missingCode(ctx.provider, settings.contracts);
    if (missing) throw new Error(`VEZA_NFT_CONTRACTS: chain ${ctx.chainId} has no contract at ${settings.contracts[missing]} (${missing})`);
    const recorded = deployment.storage ? await storageDeployments(deployment.storage).get(ctx.chainId) : null;
    return { contracts: settings.contracts, blockNumber: recorded?.blockNumber ?? 0 };
  }
  const store = deployment.storage ? storageDeployments(deployment.storage) : fileDeployments(path.join(ctx.nftDir, 'deployments.json'));
  const recorded = await store.get(ctx.chainId);
  if (recorded && !(await missingCode(ctx.provider, recorded.contracts))) return recorded;
  if (!ctx.local && !settings.deploy) {
    throw new Error(`chain ${ctx.chainId} has no contracts recorded: set VEZA_NFT_CONTRACTS, or VEZA_NFT_DEPLOY=true to deploy them with the operator key`);
  }
  const deployed = await deployContracts(ctx.operator, ctx.load);
  await store.put(ctx.chainId, deployed);
  return deployed;
}
