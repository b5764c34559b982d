// Stems: each track of a session at a bounce's moment rendered alone, with the same renderer and
// cut to the same length as the whole mix (so the stems line up with it and with each other). A
// track with no notes has nothing to render and gives no stem. Each FLAC is stored by its content id.
import { createHash } from 'node:crypto';
import type { ContentStore } from '../nft/content.js';
import { exportMidi } from '../studio/midi-export.js';
import { StudioDoc } from '../studio/model.js';
import { docFromParts, type ReplayStore } from '../studio/replay-store.js';
import { sessionDurationMs } from './duration.js';
import { renderMidi, type RenderTools } from './render.js';

export interface RenderedStem {
  trackId: string;
  /** The track's place in the session (0 first). */
  position: number;
  name: string;
  audioCid: string;
  /** sha-256 of the FLAC, hex. */
  audioHash: string;
  durationMs: number;
}

export interface StemDeps {
  replay: ReplayStore;
  content: ContentStore;
  tools: RenderTools;
}

/** Renders every track with notes of the session as it was at update `uptoId` (time `at`). */
export async function renderStems(deps: StemDeps, tenantId: string, sessionId: string, uptoId: string, at: number): Promise<RenderedStem[]> {
  const { parts } = await deps.replay.stateUpTo(tenantId, sessionId, uptoId, at);
  const snapshot = new StudioDoc(docFromParts(parts)).snapshot();
  const lengthMs = sessionDurationMs(snapshot);
  const stems: RenderedStem[] = [];
  for (const [position, track] of snapshot.tracks.entries()) {
    if (!track.clips.some((c) => c.notes.length > 0)) continue;
    const rendered = await renderMidi(exportMidi(snapshot, { trackId: track.id }), deps.tools, lengthMs);
    const audioHash = createHash('sha256').update(rendered.flac).digest('hex');
    const entry = await deps.content.put(tenantId, rendered.flac, 'audio/flac', `${sessionId}-${track.id}.flac`);
    stems.push({ trackId: track.id, position, name: track.name, audioCid: entry.cid, audioHash, durationMs: rendered.durationMs });
  }
  return stems;
}
