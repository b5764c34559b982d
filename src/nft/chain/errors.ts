// What a refused transaction becomes. A contract revert carries its custom error's selector and
// arguments: they are decoded with the union of the contracts' interfaces (ours and the OpenZeppelin
// errors they inherit), so callers see `SoldOut(tokenId, remaining)` rather than hex. A wallet that
// cannot pay is refused before anything is sent, with what was needed and what it holds.
import { Interface, isError, type ErrorFragment, type InterfaceAbi } from 'ethers';

/** Contract reverts become this: `error` is the custom error's name (e.g. 'SoldOut'), `args` its arguments. */
export class ChainRefusal extends Error {
  constructor(
    readonly error: string,
    readonly args: unknown[],
  ) {
    super(`the chain refused: ${error}(${args.map((a) => (typeof a === 'bigint' ? a.toString() : JSON.stringify(a))).join(', ')})`);
    this.name = 'ChainRefusal';
  }
}

/** One interface holding every error of the given ABIs (the same signature in two contracts once). */
export function errorsInterface(abis: InterfaceAbi[]): Interface {
  const seen = new Map<string, ErrorFragment>();
  for (const abi of abis) {
    for (const fragment of new Interface(abi).fragments) {
      if (fragment.type === 'error') seen.set((fragment as ErrorFragment).format('sighash'), fragment as ErrorFragment);
    }
  }
  return new Interface([...seen.values()]);
}

/** The revert data an ethers error carries, wherever the provider put it. */
function revertData(error: unknown): string | null {
  const queue: unknown[] = [error];
  for (let i = 0; i < queue.length && i < 20; i++) {
    const e = queue[i];
    if (typeof e !== 'object' || e === null) continue;
    const data = (e as { data?: unknown }).data;
    if (typeof data === 'string' && /^0x[0-9a-fA-F]{8,}$/.test(data)) return data;
    if (typeof data === 'object' && data !== null) queue.push(data);
    for (const key of ['error', 'info', 'cause']) queue.push((e as Record<string, unknown>)[key]);
  }
  return null;
}

/**
 * The refusal an error stands for: a decoded custom error, `Error(string)` as 'Error' [message],
 * a panic as 'Panic' [code], ethers' INSUFFICIENT_FUNDS as 'InsufficientFunds'; null for anything
 * else (a network failure stays what it is).
 */
export function refusalOf(error: unknown, errors: Interface): ChainRefusal | null {
  if (error instanceof ChainRefusal) return error;
  const data = revertData(error);
  if (data) {
    try {
      const parsed = errors.parseError(data);
      if (parsed) return new ChainRefusal(parsed.name, [...parsed.args]);
    } catch {
      // Not one of ours: the standard Error(string) and Panic(uint256) below.
    }
    const standard = new Interface(['error Error(string message)', 'error Panic(uint256 code)']);
    try {
      const parsed = standard.parseError(data);
      if (parsed) return new ChainRefusal(parsed.name, [...parsed.args]);
    } catch {
      return new ChainRefusal('UnknownRevert', [data]);
    }
    return new ChainRefusal('UnknownRevert', [data]);
  }
  if (isError(error, 'INSUFFICIENT_FUNDS')) return new ChainRefusal('InsufficientFunds', []);
  if (isError(error, 'CALL_EXCEPTION')) return new ChainRefusal('Reverted', [error.reason ?? null]);
  return null;
}

/**
 * An error that is not a refusal, as it may be shown or logged: ethers' own errors carry the request
 * (and with it the endpoint's URL, which may hold a key) in their message, so only their short
 * message and code are kept.
 */
export function plainError(error: unknown): Error {
  if (error instanceof ChainRefusal) return error;
  const e = error as { shortMessage?: unknown; code?: unknown };
  if (typeof e === 'object' && e !== null && typeof e.shortMessage === 'string') {
    return new Error(`${e.shortMessage}${typeof e.code === 'string' ? ` (${e.code})` : ''}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}
