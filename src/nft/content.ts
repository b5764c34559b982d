// Content addressing of what editions point at: the bounced audio and the metadata JSON. A CID is
// computed here (CIDv1, raw codec 0x55, sha2-256, base32 "b…"), the bytes are kept under
// <dataDir>/nft/content/<cid> and a row per (tenant, cid) says what they are; `GET /ipfs/<cid>`
// serves them as an IPFS gateway would. When a pinning service is configured (the IPFS Pinning
// Service API), each new CID is pinned in the background, retried with backoff, and its state kept
// on the row: pinning never blocks a bounce or a mint.
import { createHash } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as digestOf } from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/database.js';

/** CIDv1 of `bytes` as raw content, sha2-256, in base32 (`bafkrei…`). */
export function cidOf(bytes: Uint8Array): string {
  const hash = createHash('sha256').update(bytes).digest();
  return CID.create(1, raw.code, digestOf(sha256.code, hash)).toString();
}

/** The sha-256 (hex) of the bytes a CID of ours names: its multihash's digest. */
export function sha256OfCid(cid: string): string {
  return Buffer.from(CID.parse(cid).multihash.digest).toString('hex');
}

/** A CID this store could have made: CIDv1, raw codec, sha2-256. */
export function isOurCid(text: string): boolean {
  if (!/^b[a-z2-7]{20,100}$/.test(text)) return false;
  try {
    const cid = CID.parse(text);
    return cid.version === 1 && cid.code === raw.code && cid.multihash.code === sha256.code;
  } catch {
    return false;
  }
}

export interface ContentEntry {
  cid: string;
  contentType: string;
  size: number;
  name: string;
  pin: 'none' | 'pending' | 'pinned' | 'failed';
}

export interface PinningSettings {
  /** The Pinning Service API endpoint (…/pins is posted to); null: no pinning. */
  url: string | null;
  token: string | null;
}

const RETRY_MS = [1_000, 5_000, 30_000, 120_000, 600_000];

export class ContentStore {
  private readonly dir: string;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly storage: Storage,
    dataDir: string,
    private readonly logger: Logger,
    private pinning: PinningSettings = { url: null, token: null },
    private fetcher: typeof fetch = fetch,
  ) {
    this.dir = path.join(dataDir, 'nft', 'content');
  }

  /** Pins every CID stored from now on with this service (the nft module's settings). */
  pinWith(pinning: PinningSettings, fetcher: typeof fetch = fetch): void {
    this.pinning = pinning;
    this.fetcher = fetcher;
  }

  /** Where the bytes of `cid` are kept. */
  pathOf(cid: string): string {
    if (!isOurCid(cid)) throw new Error(`not a content id: ${cid}`);
    return path.join(this.dir, cid);
  }

  /** Stores `bytes` once (the same bytes give the same CID) and records them for the tenant. */
  async put(tenantId: string, bytes: Uint8Array, contentType: string, name: string): Promise<ContentEntry> {
    const cid = cidOf(bytes);
    const file = this.pathOf(cid);
    if (!(await stat(file).catch(() => null))) {
      await mkdir(this.dir, { recursive: true });
      const partial = `${file}.${process.pid}.${Date.now()}.part`;
      await writeFile(partial, bytes);
      await rename(partial, file);
    }
    const pinning = this.pinning.url !== null;
    const inserted = await this.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('nft_content')
        .values({ tenant_id: tenantId, cid, content_type: contentType, size: bytes.byteLength, name, pin_state: pinning ? 'pending' : 'none', pin_error: null })
        .onConflict((oc) => oc.columns(['tenant_id', 'cid']).doNothing())
        .returning('cid')
        .executeTakeFirst(),
    );
    if (inserted && pinning) this.schedulePin(tenantId, cid, name, 0);
    return (await this.get(tenantId, cid))!;
  }

  async get(tenantId: string, cid: string): Promise<ContentEntry | null> {
    if (!isOurCid(cid)) return null;
    const row = await this.storage.withTenant(tenantId, (trx) => trx.selectFrom('nft_content').select(['cid', 'content_type', 'size', 'name', 'pin_state']).where('cid', '=', cid).executeTakeFirst());
    return row ? { cid: row.cid, contentType: row.content_type, size: Number(row.size), name: row.name, pin: row.pin_state } : null;
  }

  /** Stops the pending pin retries. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private schedulePin(tenantId: string, cid: string, name: string, attempt: number): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.pin(tenantId, cid, name, attempt);
    }, attempt === 0 ? 0 : RETRY_MS[Math.min(attempt - 1, RETRY_MS.length - 1)]);
    timer.unref();
    this.timers.add(timer);
  }

  private async pin(tenantId: string, cid: string, name: string, attempt: number): Promise<void> {
    let error: string | null = null;
    try {
      const res = await this.fetcher(`${this.pinning.url!.replace(/\/+$/, '')}/pins`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.pinning.token ? { authorization: `Bearer ${this.pinning.token}` } : {}) },
        body: JSON.stringify({ cid, name }),
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) error = `the pinning service answered ${res.status}`;
      await res.body?.cancel().catch(() => undefined);
    } catch (e) {
      error = `the pinning service could not be reached (${e instanceof Error ? e.name : 'error'})`;
    }
    const last = attempt + 1 >= RETRY_MS.length + 1;
    const state = error === null ? 'pinned' : last ? 'failed' : 'pending';
    await this.storage
      .withTenant(tenantId, (trx) => trx.updateTable('nft_content').set({ pin_state: state, pin_attempts: attempt + 1, pin_error: error }).where('cid', '=', cid).execute())
      .catch(() => undefined);
    if (error === null) return;
    this.logger.warn({ cid, attempt: attempt + 1, error, giveUp: last }, 'pinning a content id failed');
    if (!last) this.schedulePin(tenantId, cid, name, attempt + 1);
  }
}
