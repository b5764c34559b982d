// Drops: a proposal to mint a session. A drop names a version of the session (an automatic one with
// reason 'mint' when none is given), a finished bounce of that same moment, the master edition's
// settings and the authorship split at that moment (split.ts). Every collaborator in the split sees
// it and answers: accepting names the address their share is paid to (their custodial wallet by
// default), declining stops the drop for good. Minting (mint.ts) is refused until everyone accepted.
import { randomUUID } from 'node:crypto';
import { getAddress, isAddress } from 'ethers';
import type { Insertable } from 'kysely';
import { z } from 'zod';
import type { Bounce, BounceService } from '../bounce/service.js';
import type { HistoryService } from '../history/service.js';
import { SYSTEM_AUTHOR, type VersionStore } from '../history/versions.js';
import type { Storage } from '../storage/database.js';
import type { NftDropsTable } from '../storage/schema-nft-drops.js';
import { sha256OfCid } from './content.js';
import { computeSplit, type Split } from './split.js';

/** The royalty cap of the contracts (MAX_ROYALTY_BPS): 50 %. */
export const MAX_ROYALTY_BPS = 5000;
/** Licence terms: a bit set, as the LicenceRegistry reads it. */
export const LICENCE = { personal: 1, sync: 2, commercial: 4, exclusive: 8 } as const;

const wei = z.string().regex(/^(0|[1-9][0-9]{0,40})$/, 'an amount in wei as a decimal string');
const unix = z.number().int().min(0).max(2 ** 53 - 1);

export const dropRequestSchema = z
  .object({
    versionId: z.string().regex(/^[0-9]{1,18}$/, 'a version id').optional(),
    bounceId: z.string().regex(/^bnc_[0-9a-f]{32}$/, 'a bounce id').optional(),
    title: z.string().trim().min(1).max(200),
    description: z.string().max(2000).default(''),
    /** 0: an open edition. */
    maxSupply: z.number().int().min(0).max(1_000_000),
    mintStart: unix.optional(),
    mintEnd: unix.optional(),
    priceWei: wei,
    royaltyBps: z.number().int().min(0),
    licence: z
      .number()
      .int()
      .min(1)
      .max(15)
      .refine((t) => (t & LICENCE.exclusive) === 0 || (t & LICENCE.commercial) !== 0, 'an exclusive licence must also be commercial')
      .default(LICENCE.personal),
    /** What the master is minted as: an edition (ERC-1155) or a 1/1 record (ERC-721, to the proposer's wallet). */
    kind: z.enum(['edition', 'record']).default('edition'),
    /** Each track rendered alone becomes an edition of its own, with the same split. */
    stems: z.boolean().default(false),
    /** Lazy minting: the proposer's wallet signs a voucher, the first buyer creates the edition on chain. */
    lazy: z.boolean().default(false),
  })
  .strict();
export type DropRequest = z.output<typeof dropRequestSchema>;

export type Answer = 'pending' | 'accepted' | 'declined';

export interface Collaborator {
  userId: string;
  bps: number;
  notes: number;
  tracks: number;
  edits: number;
  answer: Answer;
  payoutAddress: string | null;
  answeredAt: string | null;
}

export interface Drop {
  id: string;
  /** null for a sample pack, as are versionId and bounceId. */
  sessionId: string | null;
  versionId: string | null;
  bounceId: string | null;
  proposedBy: string;
  title: string;
  description: string;
  maxSupply: number;
  mintStart: number | null;
  mintEnd: number | null;
  priceWei: string;
  royaltyBps: number;
  licence: number;
  state: 'proposed' | 'declined' | 'minted';
  split: { rule: string; collaborators: Collaborator[]; dropped: Split['dropped'] };
  /** Who has not accepted yet (empty: the drop may be minted). */
  waitingFor: string[];
  declinedBy: string[];
  contract: string | null;
  tokenId: string | null;
  splitAddress: string | null;
  metadataCid: string | null;
  createdAt: string;
  kind: 'edition' | 'record';
  lazy: boolean;
  /** Whether the drop's tracks become editions of their own; `stems` lists them once rendered. */
  withStems: boolean;
  stems: Stem[];
  /** A lazy drop's signed voucher (once the mint signed it); its token id is set at redemption. */
  voucher: StoredVoucher | null;
  /** A sample pack's audio files, in order; null for a drop of a session. */
  samples: Sample[] | null;
}

/** An audio file of a sample pack, addressed by its content id. */
export interface Sample {
  cid: string;
  name: string;
  contentType: string;
  size: number;
  /** sha-256 of the file, hex. */
  sha256: string;
}

/** What a sample pack is proposed with: its samples (uploaded files or bounces), the edition's settings and the split. */
export const packRequestSchema = z
  .object({
    title: z.string().trim().min(1).max(200),
    description: z.string().max(2000).default(''),
    samples: z.array(z.object({ cid: z.string().regex(/^b[a-z2-7]{20,100}$/, 'a content id'), name: z.string().trim().min(1).max(200) }).strict()).max(200).default([]),
    /** Bounces of the tenant's sessions, as samples named after their session. */
    bounceIds: z.array(z.string().regex(/^bnc_[0-9a-f]{32}$/, 'a bounce id')).max(200).default([]),
    /** Who is paid: basis points summing to 10,000; absent, the uploader alone. */
    split: z.array(z.object({ userId: z.string().regex(/^[^\s]{1,200}$/), bps: z.number().int().min(1).max(10_000) }).strict()).min(1).max(50).optional(),
    maxSupply: z.number().int().min(0).max(1_000_000),
    mintStart: unix.optional(),
    mintEnd: unix.optional(),
    priceWei: wei,
    royaltyBps: z.number().int().min(0),
    licence: z.number().int().min(1).max(15).refine((t) => (t & LICENCE.exclusive) === 0 || (t & LICENCE.commercial) !== 0, 'an exclusive licence must also be commercial').default(LICENCE.personal),
  })
  .strict();
export type PackRequest = z.output<typeof packRequestSchema>;
/** What a session's drop and a pack share: the title and the edition's terms. */
type DropTerms = Pick<DropRequest & PackRequest, 'title' | 'description' | 'maxSupply' | 'mintStart' | 'mintEnd' | 'priceWei' | 'royaltyBps' | 'licence'>;

/** A track of a drop rendered alone, minted as an edition of its own. */
export interface Stem {
  trackId: string;
  position: number;
  name: string;
  audioCid: string;
  audioHash: string;
  durationMs: number;
  metadataCid: string | null;
  tokenId: string | null;
  licensed: boolean;
}

/** A voucher as stored and served: its values as decimal strings. */
export interface StoredVoucher {
  voucher: Record<'creator' | 'payoutTo' | 'maxSupply' | 'mintStart' | 'mintEnd' | 'price' | 'royaltyBps' | 'uri' | 'nonce' | 'deadline', string>;
  signature: string;
  digest: string;
}

/** A refusal the routes answer with its status. */
export class DropError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'DropError';
  }
}

export interface DropDeps {
  storage: Storage;
  versions: VersionStore;
  history: HistoryService;
  bounces: BounceService | null;
  /** A user's custodial wallet address; rejects while the chain is off. */
  walletOf: (tenantId: string, userId: string) => Promise<string>;
  /** Brings the session's accepted updates into the log before it is read. */
  persisted: (tenantId: string, sessionId: string) => Promise<void>;
}

type Trx = Parameters<Parameters<Storage['withTenant']>[1]>[0];
const DROP_ID = /^drp_[0-9a-f]{32}$/;

export class DropService {
  constructor(private readonly deps: DropDeps) {}

  /** Proposes a drop of the session; `by` must be one of its editors (the route checks). */
  async create(tenantId: string, sessionId: string, by: string, request: DropRequest): Promise<Drop> {
    const { versions, history } = this.deps;
    if (request.royaltyBps > MAX_ROYALTY_BPS) throw new DropError(400, `a royalty of ${request.royaltyBps} bps is above the cap of ${MAX_ROYALTY_BPS} bps (50 %)`);
    if (request.mintStart !== undefined && request.mintEnd !== undefined && request.mintEnd <= request.mintStart) throw new DropError(400, 'mintEnd must come after mintStart');
    if (request.kind === 'record' && request.maxSupply !== 1) throw new DropError(400, 'a 1/1 record has a supply of exactly 1: maxSupply 1');
    if (request.kind === 'record' && request.priceWei !== '0') throw new DropError(400, 'a 1/1 record is minted to its proposer and sold with a listing: its priceWei is 0');
    if (request.lazy && request.kind === 'record') throw new DropError(400, 'a 1/1 record is not minted lazily: vouchers create editions');
    if (request.lazy && request.stems) throw new DropError(400, 'stems are minted at once: a lazy drop has none');
    await this.deps.persisted(tenantId, sessionId);
    if (!(await versions.exists(tenantId, sessionId))) throw new DropError(404, `session ${sessionId} has no recording`);
    const version = request.versionId !== undefined ? await versions.get(tenantId, sessionId, request.versionId) : (await versions.auto(tenantId, sessionId, 'mint')).version;
    if (!version) throw new DropError(request.versionId !== undefined ? 404 : 409, request.versionId !== undefined ? `version ${request.versionId} of session ${sessionId} not found` : `session ${sessionId} is empty: nothing to mint`);
    if (version.uptoId === null) throw new DropError(409, `version ${version.id} is of the empty session: nothing to mint`);
    const bounce = await this.bounceOf(tenantId, sessionId, version.id, version.uptoId, by, request.bounceId);
    const report = await history.authorship(tenantId, sessionId, { at: version.at ?? 0, uptoId: version.uptoId });
    const split = computeSplit(report.shares, [SYSTEM_AUTHOR]);
    if (split.shares.length === 0) throw new DropError(409, `nobody is credited with session ${sessionId} at version ${version.id}`);
    return this.insert(tenantId, by, request, split, { session_id: sessionId, version_id: version.id, bounce_id: bounce.id, kind: request.kind, with_stems: request.stems, lazy: request.lazy });
  }

  /**
   * Proposes a sample pack: audio files stored by content id in the tenant (uploaded, or bounces),
   * one edition for the whole pack, the split as the creators give it (the uploader alone by default).
   */
  async createPack(tenantId: string, by: string, request: PackRequest, content: { get(tenantId: string, cid: string): Promise<{ cid: string; contentType: string; size: number } | null> }): Promise<Drop> {
    if (request.royaltyBps > MAX_ROYALTY_BPS) throw new DropError(400, `a royalty of ${request.royaltyBps} bps is above the cap of ${MAX_ROYALTY_BPS} bps (50 %)`);
    if (request.mintStart !== undefined && request.mintEnd !== undefined && request.mintEnd <= request.mintStart) throw new DropError(400, 'mintEnd must come after mintStart');
    const named: { cid: string; name: string }[] = [...request.samples];
    for (const bounceId of request.bounceIds) {
      const bounce = await this.deps.bounces?.get(tenantId, bounceId);
      if (!bounce?.audioCid) throw new DropError(404, `no finished bounce ${bounceId}`);
      named.push({ cid: bounce.audioCid, name: `${bounce.sessionId}.flac` });
    }
    if (named.length === 0) throw new DropError(400, 'a sample pack needs samples: uploaded files (samples) or bounces (bounceIds)');
    if (new Set(named.map((n) => n.cid)).size !== named.length) throw new DropError(400, 'a sample is named twice in the pack');
    const samples: Sample[] = [];
    for (const n of named) {
      const entry = await content.get(tenantId, n.cid);
      if (!entry) throw new DropError(404, `no uploaded file ${n.cid}`);
      if (!entry.contentType.startsWith('audio/')) throw new DropError(400, `${n.cid} is ${entry.contentType}, not audio`);
      samples.push({ cid: entry.cid, name: n.name, contentType: entry.contentType, size: entry.size, sha256: sha256OfCid(entry.cid) });
    }
    const given = request.split ?? [{ userId: by, bps: 10_000 }];
    if (given.reduce((n, s) => n + s.bps, 0) !== 10_000) throw new DropError(400, 'the split\'s basis points must sum to 10,000');
    if (new Set(given.map((s) => s.userId)).size !== given.length) throw new DropError(400, 'a creator is named twice in the split');
    const split: Split = { rule: request.split ? 'given by the creators' : 'the uploader alone', shares: given.map((s) => ({ userId: s.userId, bps: s.bps, notes: 0, tracks: 0, edits: 0 })), dropped: [] };
    return this.insert(tenantId, by, request, split, { session_id: null, version_id: null, bounce_id: null, samples: JSON.stringify(samples) });
  }

  /** Stores a proposed drop: the terms every drop has, and the columns of its kind (`own`). */
  private async insert(tenantId: string, by: string, terms: DropTerms, split: Split, own: Pick<Insertable<NftDropsTable>, 'session_id' | 'version_id' | 'bounce_id' | 'kind' | 'with_stems' | 'lazy' | 'samples'>): Promise<Drop> {
    const id = `drp_${randomUUID().replaceAll('-', '')}`;
    await this.deps.storage.withTenant(tenantId, (trx) =>
      trx
        .insertInto('nft_drops')
        .values({
          id,
          tenant_id: tenantId,
          ...own,
          proposed_by: by,
          title: terms.title,
          description: terms.description,
          max_supply: terms.maxSupply,
          mint_start: terms.mintStart ?? null,
          mint_end: terms.mintEnd ?? null,
          price_wei: terms.priceWei,
          royalty_bps: terms.royaltyBps,
          licence_terms: terms.licence,
          split: JSON.stringify(split),
          state: 'proposed',
          contract: null,
          token_id: null,
          split_address: null,
          metadata_cid: null,
        })
        .execute(),
    );
    return (await this.get(tenantId, id))!;
  }

  async get(tenantId: string, id: string): Promise<Drop | null> {
    if (!DROP_ID.test(id)) return null;
    return this.deps.storage.withTenant(tenantId, (trx) => this.read(trx, id));
  }

  /** The drops of a session (newest first), or those minted, or those crediting a user. */
  async list(tenantId: string, filter: { sessionId?: string; minted?: boolean; creator?: string; packs?: true } = {}, limit = 100): Promise<Drop[]> {
    const ids = await this.deps.storage.withTenant(tenantId, (trx) => {
      let query = trx.selectFrom('nft_drops').select('id');
      if (filter.sessionId !== undefined) query = query.where('session_id', '=', filter.sessionId);
      if (filter.packs) query = query.where('samples', 'is not', null);
      if (filter.minted) query = query.where('state', '=', 'minted');
      return query.orderBy('created_at', 'desc').limit(1000).execute();
    });
    const drops = (await Promise.all(ids.map((r) => this.get(tenantId, r.id)))).filter((d): d is Drop => d !== null);
    const { creator } = filter;
    return (creator === undefined ? drops : drops.filter((d) => d.split.collaborators.some((c) => c.userId === creator))).slice(0, limit);
  }

  /** A collaborator accepts the split; their share goes to `payoutAddress` (their custodial wallet by default). */
  async accept(tenantId: string, id: string, userId: string, payoutAddress?: string): Promise<Drop> {
    let address: string;
    if (payoutAddress !== undefined) {
      if (!isAddress(payoutAddress)) throw new DropError(400, 'payoutAddress must be an Ethereum address (0x and 40 hex digits)');
      address = getAddress(payoutAddress.toLowerCase());
    } else {
      address = await this.deps.walletOf(tenantId, userId).catch(() => {
        throw new DropError(503, 'the chain is off: give a payoutAddress');
      });
    }
    return this.answer(tenantId, id, userId, 'accepted', address);
  }

  async decline(tenantId: string, id: string, userId: string): Promise<Drop> {
    return this.answer(tenantId, id, userId, 'declined', null);
  }

  /** Throws the 409 a mint gets unless every collaborator accepted. */
  ensureMintable(drop: Drop): void {
    if (drop.declinedBy.length > 0) throw new DropError(409, `the split was declined by ${drop.declinedBy.join(', ')}: this drop cannot be minted`);
    if (drop.waitingFor.length > 0) throw new DropError(409, `the split is not accepted by all: waiting for ${drop.waitingFor.join(', ')}`);
  }

  /** Records what a mint step made (so that a retried mint continues where it stopped). */
  async record(tenantId: string, id: string, patch: { contract?: string; tokenId?: string; splitAddress?: string; metadataCid?: string; state?: 'minted'; voucher?: StoredVoucher }): Promise<void> {
    await this.deps.storage.withTenant(tenantId, (trx) =>
      trx
        .updateTable('nft_drops')
        .set({
          ...(patch.contract !== undefined ? { contract: patch.contract } : {}),
          ...(patch.tokenId !== undefined ? { token_id: patch.tokenId } : {}),
          ...(patch.splitAddress !== undefined ? { split_address: patch.splitAddress } : {}),
          ...(patch.metadataCid !== undefined ? { metadata_cid: patch.metadataCid } : {}),
          ...(patch.state !== undefined ? { state: patch.state } : {}),
          ...(patch.voucher !== undefined ? { voucher: JSON.stringify(patch.voucher) } : {}),
        })
        .where('id', '=', id)
        .execute(),
    );
  }

  /** Records the stems rendered for a drop (once: a retried mint keeps the first rendering). */
  async putStems(tenantId: string, id: string, stems: Omit<Stem, 'metadataCid' | 'tokenId' | 'licensed'>[]): Promise<void> {
    await this.deps.storage.withTenant(tenantId, async (trx) => {
      for (const s of stems) {
        await trx
          .insertInto('nft_drop_stems')
          .values({ tenant_id: tenantId, drop_id: id, track_id: s.trackId, position: s.position, name: s.name, audio_cid: s.audioCid, audio_sha256: s.audioHash, duration_ms: s.durationMs, metadata_cid: null, token_id: null })
          .onConflict((oc) => oc.columns(['tenant_id', 'drop_id', 'track_id']).doNothing())
          .execute();
      }
    });
  }

  /** Records what a mint step made of a stem. */
  async recordStem(tenantId: string, id: string, trackId: string, patch: { metadataCid?: string; tokenId?: string; licensed?: true }): Promise<void> {
    await this.deps.storage.withTenant(tenantId, (trx) =>
      trx
        .updateTable('nft_drop_stems')
        .set({
          ...(patch.metadataCid !== undefined ? { metadata_cid: patch.metadataCid } : {}),
          ...(patch.tokenId !== undefined ? { token_id: patch.tokenId } : {}),
          ...(patch.licensed ? { licensed: true } : {}),
        })
        .where('drop_id', '=', id)
        .where('track_id', '=', trackId)
        .execute(),
    );
  }

  /** The minted drop and stem (if any) of an editions token id in the tenant; null for any other. */
  async byToken(tenantId: string, contract: 'editions' | 'records', tokenId: string): Promise<{ drop: Drop; stem: Stem | null } | null> {
    const found = await this.deps.storage.withTenant(tenantId, async (trx) => {
      const master = await trx.selectFrom('nft_drops').select('id').where('state', '=', 'minted').where('token_id', '=', tokenId).where('kind', '=', contract === 'records' ? 'record' : 'edition').executeTakeFirst();
      if (master) return { id: master.id, trackId: null };
      if (contract === 'records') return null;
      const stem = await trx.selectFrom('nft_drop_stems').select(['drop_id', 'track_id']).where('token_id', '=', tokenId).executeTakeFirst();
      return stem ? { id: stem.drop_id, trackId: stem.track_id } : null;
    });
    const drop = found ? await this.get(tenantId, found.id) : null;
    if (!drop || drop.state !== 'minted') return null;
    return { drop, stem: found?.trackId ? (drop.stems.find((s) => s.trackId === found.trackId) ?? null) : null };
  }

  /** The bounce a drop is of: the one named (done, of this session and version's moment), else one of that moment, rendered now if need be. */
  private async bounceOf(tenantId: string, sessionId: string, versionId: string, uptoId: string, by: string, bounceId: string | undefined): Promise<Bounce> {
    const { bounces } = this.deps;
    if (!bounces) throw new DropError(503, 'bounces are off on this server: a drop needs the session rendered to audio');
    if (bounceId !== undefined) {
      const named = await bounces.get(tenantId, bounceId);
      if (!named || named.sessionId !== sessionId) throw new DropError(404, `no bounce ${bounceId} of session ${sessionId}`);
      if (named.uptoId !== uptoId) throw new DropError(409, `bounce ${bounceId} is of another moment of the session than version ${versionId}`);
      if (named.state !== 'done') throw new DropError(409, `bounce ${bounceId} is ${named.state}`);
      return named;
    }
    const existing = await this.deps.storage.withTenant(tenantId, (trx) =>
      trx.selectFrom('bounces').select('id').where('session_id', '=', sessionId).where('upto_id', '=', uptoId).where('state', '=', 'done').orderBy('created_at', 'desc').limit(1).executeTakeFirst(),
    );
    if (existing) return (await bounces.get(tenantId, existing.id))!;
    const started = await bounces.start(tenantId, sessionId, by, { versionId });
    await bounces.finished(started.id);
    const done = await bounces.get(tenantId, started.id);
    if (done?.state !== 'done') throw new DropError(409, `the session could not be bounced: ${done?.error ?? 'unknown error'}`);
    return done;
  }

  private async answer(tenantId: string, id: string, userId: string, answer: 'accepted' | 'declined', address: string | null): Promise<Drop> {
    return this.deps.storage.withTenant(tenantId, async (trx) => {
      const drop = DROP_ID.test(id) ? await this.read(trx, id, true) : null;
      if (!drop) throw new DropError(404, `no drop ${id}`);
      const mine = drop.split.collaborators.find((c) => c.userId === userId);
      if (!mine) throw new DropError(403, `${userId} is not in the split of drop ${id}`);
      if (drop.state === 'minted') throw new DropError(409, `drop ${id} is minted: its split is final`);
      if (drop.state === 'declined') throw new DropError(409, `drop ${id} was declined by ${drop.declinedBy.join(', ')}`);
      await trx
        .insertInto('nft_drop_answers')
        .values({ tenant_id: tenantId, drop_id: id, user_id: userId, answer, payout_address: address, answered_at: new Date() })
        .onConflict((oc) => oc.columns(['tenant_id', 'drop_id', 'user_id']).doUpdateSet({ answer, payout_address: address, answered_at: new Date() }))
        .execute();
      if (answer === 'declined') await trx.updateTable('nft_drops').set({ state: 'declined' }).where('id', '=', id).execute();
      return (await this.read(trx, id))!;
    });
  }

  private async read(trx: Trx, id: string, lock = false): Promise<Drop | null> {
    let query = trx.selectFrom('nft_drops').selectAll().where('id', '=', id);
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) return null;
    const answers = await trx.selectFrom('nft_drop_answers').select(['user_id', 'answer', 'payout_address', 'answered_at']).where('drop_id', '=', id).execute();
    const byUser = new Map(answers.map((a) => [a.user_id, a]));
    const stems = row.with_stems ? await trx.selectFrom('nft_drop_stems').selectAll().where('drop_id', '=', id).orderBy('position').execute() : [];
    const split = (typeof row.split === 'string' ? JSON.parse(row.split) : row.split) as Split;
    const collaborators: Collaborator[] = split.shares.map((s) => {
      const a = byUser.get(s.userId);
      return { ...s, answer: a?.answer ?? 'pending', payoutAddress: a?.payout_address ?? null, answeredAt: a ? new Date(a.answered_at).toISOString() : null };
    });
    return {
      id: row.id,
      sessionId: row.session_id,
      versionId: row.version_id === null ? null : String(row.version_id),
      bounceId: row.bounce_id,
      proposedBy: row.proposed_by,
      title: row.title,
      description: row.description,
      maxSupply: row.max_supply,
      mintStart: row.mint_start === null ? null : Number(row.mint_start),
      mintEnd: row.mint_end === null ? null : Number(row.mint_end),
      priceWei: row.price_wei,
      royaltyBps: row.royalty_bps,
      licence: row.licence_terms,
      state: row.state,
      split: { rule: split.rule, collaborators, dropped: split.dropped },
      waitingFor: collaborators.filter((c) => c.answer === 'pending').map((c) => c.userId),
      declinedBy: collaborators.filter((c) => c.answer === 'declined').map((c) => c.userId),
      contract: row.contract,
      tokenId: row.token_id,
      splitAddress: row.split_address,
      metadataCid: row.metadata_cid,
      createdAt: new Date(row.created_at).toISOString(),
      kind: row.kind,
      lazy: row.lazy,
      withStems: row.with_stems,
      stems: stems.map((s) => ({ trackId: s.track_id, position: s.position, name: s.name, audioCid: s.audio_cid, audioHash: s.audio_sha256, durationMs: s.duration_ms, metadataCid: s.metadata_cid, tokenId: s.token_id, licensed: s.licensed })),
      voucher: row.voucher === null ? null : ((typeof row.voucher === 'string' ? JSON.parse(row.voucher) : row.voucher) as StoredVoucher),
      samples: row.samples === null ? null : ((typeof row.samples === 'string' ? JSON.parse(row.samples) : row.samples) as Sample[]),
    };
  }
}
