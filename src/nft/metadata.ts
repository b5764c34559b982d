// The metadata of an edition, as ERC-1155 metadata JSON: its name and description, the bounced audio
// as `animation_url` (ipfs://<audio cid>), and in `properties` what makes it checkable: the session,
// version and moment it was bounced at, the split, the licence terms and the sha-256 of the audio
// file and of the session's Yjs state at that moment (the same hashes the LicenceRegistry holds).
import type { Bounce } from '../bounce/service.js';
import { LICENCE, type Drop, type Stem } from './drops.js';

export interface EditionMetadata {
  name: string;
  description: string;
  animation_url: string;
  properties: {
    sessionId: string;
    versionId: string;
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
