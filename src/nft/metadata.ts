// The metadata of an edition, as ERC-1155 metadata JSON: its name and description, the bounced audio
// as `animation_url` (ipfs://<audio cid>), and in `properties` what makes it checkable: the session,
// version and moment it was bounced at, the split, the licence terms and the sha-256 of the audio
// file and of the session's Yjs state at that moment (the same hashes the LicenceRegistry holds).
import { createHash } from 'node:crypto';
import type { Bounce } from '../bounce/service.js';
import { LICENCE, type Drop, type Sample, type Stem } from './drops.js';

export interface EditionMetadata {
  name: string;
  description: string;
  animation_url: string;
  properties: {
    sessionId: string | null;
    versionId: string | null;
    moment: { uptoId: string | null; at: number | null };
    split: { rule: string; recipients: { userId: string; bps: number; payoutAddress: string | null }[] };
    licence: { terms: number; names: string[] };
    audioCid: string;
    audioHash: string;
    stateHash: string;
    durationMs: number | null;
    /** What the token is: the session's mix as an edition or a 1/1 record, or one track of it (a stem). */
    kind: 'edition' | 'record' | 'stem';
    /** A stem's track. */
    stem?: { trackId: string; name: string; mixAudioCid: string };
  };
}

/** The names of the bits of a licence terms value. */
export function licenceNames(terms: number): string[] {
  return Object.entries(LICENCE)
    .filter(([, bit]) => (terms & bit) !== 0)
    .map(([name]) => name);
}

export function editionMetadata(drop: Drop, bounce: Bounce): EditionMetadata {
  if (!bounce.audioCid || !bounce.audioHash || !bounce.stateHash) throw new Error(`bounce ${bounce.id} has no audio`);
  return {
    name: drop.title,
    description: drop.description,
    animation_url: `ipfs://${bounce.audioCid}`,
    properties: {
      sessionId: drop.sessionId,
      versionId: drop.versionId,
      moment: { uptoId: bounce.uptoId, at: bounce.at },
      split: { rule: drop.split.rule, recipients: drop.split.collaborators.map((c) => ({ userId: c.userId, bps: c.bps, payoutAddress: c.payoutAddress })) },
      licence: { terms: drop.licence, names: licenceNames(drop.licence) },
      audioCid: bounce.audioCid,
      audioHash: `0x${bounce.audioHash}`,
      stateHash: `0x${bounce.stateHash}`,
      durationMs: bounce.durationMs,
      kind: drop.kind,
    },
  };
}

/** A stem's metadata: the master's, with the track's own audio, hash and name. */
export function stemMetadata(drop: Drop, bounce: Bounce, stem: Stem): EditionMetadata {
  const master = editionMetadata(drop, bounce);
  return {
    ...master,
    name: `${drop.title} (stem: ${stem.name})`,
    animation_url: `ipfs://${stem.audioCid}`,
    properties: { ...master.properties, audioCid: stem.audioCid, audioHash: `0x${stem.audioHash}`, durationMs: stem.durationMs, kind: 'stem', stem: { trackId: stem.trackId, name: stem.name, mixAudioCid: bounce.audioCid! } },
  };
}

/** A sample pack's metadata: one edition for the whole pack, each sample by its content id and sha-256. */
export interface PackMetadata {
  name: string;
  description: string;
  /** The first sample, so that a marketplace plays something. */
  animation_url: string;
  properties: {
    kind: 'pack';
    samples: { name: string; uri: string; cid: string; contentType: string; size: number; sha256: string }[];
    split: EditionMetadata['properties']['split'];
    licence: EditionMetadata['properties']['licence'];
    /** sha-256 over the samples' sha-256s in order (the licence's audio hash). */
    packHash: string;
  };
}

/** The hash a pack's licence holds: sha-256 over its samples' sha-256 digests, in order. */
export function packHash(samples: Sample[]): string {
  const hash = createHash('sha256');
  for (const s of samples) hash.update(Buffer.from(s.sha256, 'hex'));
  return `0x${hash.digest('hex')}`;
}

export function packMetadata(drop: Drop): PackMetadata {
  const samples = drop.samples ?? [];
  if (samples.length === 0) throw new Error(`drop ${drop.id} is not a sample pack`);
  return {
    name: drop.title,
    description: drop.description,
    animation_url: `ipfs://${samples[0]!.cid}`,
    properties: {
      kind: 'pack',
      samples: samples.map((s) => ({ name: s.name, uri: `ipfs://${s.cid}`, cid: s.cid, contentType: s.contentType, size: s.size, sha256: `0x${s.sha256}` })),
      split: { rule: drop.split.rule, recipients: drop.split.collaborators.map((c) => ({ userId: c.userId, bps: c.bps, payoutAddress: c.payoutAddress })) },
      licence: { terms: drop.licence, names: licenceNames(drop.licence) },
      packHash: packHash(samples),
    },
  };
}
