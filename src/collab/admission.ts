// Which document opens a node takes: a user's open documents are capped, loads from storage are
// paced, and the loaded documents' estimated memory stays under a budget. The checks at upgrade are
// synchronous and cost a map lookup; the budget is measured where a load happens.
import type * as Y from 'yjs';
import type { Principal } from '../server/auth.js';
import { HttpError } from '../server/errors.js';
import { RateLimiter } from '../server/rate-limit.js';

export interface AdmissionSettings {
  maxDocumentsPerUser: number;
  maxLoadsPerSecond: number;
  maxLoadsPerUserPerSecond: number;
  memoryBudgetBytes: number;
}

/**
 * What a loaded Y.Doc costs, estimated from what it holds: 440 bytes per struct plus twice the
 * encoded size matches a studio session (tracks, clips and notes as nested maps: 59 MB of heap for
 * 120,000 structs and 3.1 MB encoded) and over-counts texts (twice their size for one long text,
 * eight times for one typed in many places), so the budget errs on the side of memory
 * (bench/document-memory.ts; bench/RESULTS.md, "Memory of a loaded document").
 */
export const BYTES_PER_STRUCT = 440;
export const BYTES_PER_ENCODED_BYTE = 2;

/** The structs a loaded Y.Doc holds (one array per client: the count costs a few additions). */
export function structCount(doc: Y.Doc): number {
  let structs = 0;
  for (const list of doc.store.clients.values()) structs += list.length;
  return structs;
}

export function estimateDocumentBytes(encodedBytes: number, structs: number): number {
  return BYTES_PER_ENCODED_BYTE * encodedBytes + BYTES_PER_STRUCT * structs;
}

export type RefusalReason = 'documents-per-user' | 'user-load-pace' | 'load-pace' | 'memory-budget';

/** A document open refused at upgrade, with the reason the metrics count it under. */
export class AdmissionRefused extends HttpError {
  constructor(
    readonly reason: RefusalReason,
    status: 429 | 503,
    message: string,
    retryAfterSeconds: number,
  ) {
    super(status, status === 429 ? 'rate-limited' : 'unavailable', message, { headers: { 'retry-after': String(retryAfterSeconds) } });
    this.name = 'AdmissionRefused';
  }
}

/** Refused because of the memory budget: 503 at upgrade, close 1013 once the socket is open. */
export class MemoryBudgetReached extends AdmissionRefused {
  constructor(budget: number) {
    super('memory-budget', 503, `the server's memory budget for documents (${budget} bytes) is reached; retry later`, 5);
    this.name = 'MemoryBudgetReached';
  }

  get closeReason(): string {
    return 'the server\'s memory budget for documents is reached; retry later';
  }
}

export class DocumentAdmission {
  /** `tenant/user` → its open documents (`tenant/doc`) and how many sockets each. */
  private readonly open = new Map<string, Map<string, number>>();
  private loadTokens: number;
  private loadsAt = Date.now();
  private readonly userLoads: RateLimiter;

  constructor(private readonly settings: AdmissionSettings) {
    this.loadTokens = settings.maxLoadsPerSecond;
    this.userLoads = new RateLimiter(settings.maxLoadsPerUserPerSecond * 60, Math.max(1, 2 * settings.maxLoadsPerUserPerSecond));
  }

  /**
   * At upgrade: refuses a user past its open documents (429), a load past the pace (503 with
   * Retry-After), and a load while the budget is spent with nothing idle to unload (503).
   */
  admit(principal: Principal, docKey: string, loaded: boolean, memory: { used(): number; reclaimable(): boolean }): void {
    const { maxDocumentsPerUser, maxLoadsPerSecond, memoryBudgetBytes } = this.settings;
    const docs = this.open.get(userKey(principal));
    if (maxDocumentsPerUser > 0 && !docs?.has(docKey) && (docs?.size ?? 0) >= maxDocumentsPerUser) {
      throw new AdmissionRefused('documents-per-user', 429, `at most ${maxDocumentsPerUser} open documents per user`, 5);
    }
    if (loaded) return;
    if (memoryBudgetBytes > 0 && memory.used() >= memoryBudgetBytes && !memory.reclaimable()) throw new MemoryBudgetReached(memoryBudgetBytes);
    // The user's own pace first: a user refused there takes nothing of the node's pace.
    const userWait = this.userLoads.take(userKey(principal));
    if (userWait > 0) {
      throw new AdmissionRefused('user-load-pace', 429, `documents loaded for one user: at most ${this.settings.maxLoadsPerUserPerSecond} a second; retry in ${userWait} s`, userWait);
    }
    if (maxLoadsPerSecond > 0 && !this.takeLoad()) {
      throw new AdmissionRefused('load-pace', 503, `documents are loading at this server's pace of ${maxLoadsPerSecond} a second; retry in a second`, 1);
    }
  }

  opened(principal: Principal, docKey: string): void {
    const user = userKey(principal);
    let docs = this.open.get(user);
    if (!docs) this.open.set(user, (docs = new Map()));
    docs.set(docKey, (docs.get(docKey) ?? 0) + 1);
  }

  closed(principal: Principal, docKey: string): void {
    const user = userKey(principal);
    const docs = this.open.get(user);
    if (!docs) return;
    const left = (docs.get(docKey) ?? 1) - 1;
    if (left > 0) docs.set(docKey, left);
    else docs.delete(docKey);
    if (docs.size === 0) this.open.delete(user);
  }

  private takeLoad(): boolean {
    const now = Date.now();
    const perSecond = this.settings.maxLoadsPerSecond;
    this.loadTokens = Math.min(perSecond, this.loadTokens + ((now - this.loadsAt) * perSecond) / 1000);
    this.loadsAt = now;
    if (this.loadTokens < 1) return false;
    this.loadTokens -= 1;
    return true;
  }
}

function userKey(principal: Principal): string {
  return `${principal.tenantId}/${principal.userId}`;
}

