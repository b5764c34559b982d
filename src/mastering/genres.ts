// Genre families and their templates: a target share of the mid signal's energy per broad band (dB
// relative to the whole spectrum, as spectrum.ts's broadBands measures it), a target crest factor and
// the compression that gets there, and a typical stereo width. The classifier's probabilities blend
// the templates (blendTemplates). The curves are starting points drawn from typical commercial mixes
// of each family, not measurements of a corpus.
import type { BandName } from './spectrum.js';

export interface GenreTemplate {
  id: string;
  label: string;
  /** Target band levels, dB relative to the mid signal's whole power. */
  curve: Record<BandName, number>;
  /** Target crest factor (peak over RMS), dB. */
  crestDb: number;
  /** Compressor ratio used when the mix is more dynamic than the target. */
  ratio: number;
  /** Typical side-to-mid RMS ratio. */
  width: number;
}

const curve = (sub: number, bass: number, lowMid: number, mid: number, highMid: number, presence: number, air: number): Record<BandName, number> => ({
  sub, bass, 'low-mid': lowMid, mid, 'high-mid': highMid, presence, air,
});

export const GENRES: readonly GenreTemplate[] = [
  { id: 'electronic', label: 'Electronic / dance', curve: curve(-8, -3, -9, -10, -17, -20, -25), crestDb: 8, ratio: 2.5, width: 0.45 },
  { id: 'hiphop', label: 'Hip-hop / beats', curve: curve(-6, -3, -10, -12, -19, -22, -27), crestDb: 9, ratio: 2.5, width: 0.35 },
  { id: 'rock', label: 'Rock / metal', curve: curve(-14, -5, -7, -8, -14, -18, -25), crestDb: 9, ratio: 2.5, width: 0.5 },
  { id: 'pop', label: 'Pop', curve: curve(-11, -4, -8, -9, -15, -18, -23), crestDb: 9, ratio: 2, width: 0.45 },
  { id: 'jazz', label: 'Jazz / blues', curve: curve(-16, -5, -6, -8, -16, -21, -28), crestDb: 14, ratio: 1.5, width: 0.4 },
  { id: 'classical', label: 'Classical / orchestral', curve: curve(-18, -7, -6, -6, -14, -20, -28), crestDb: 18, ratio: 1.2, width: 0.5 },
  { id: 'ambient', label: 'Ambient / drone', curve: curve(-10, -4, -7, -9, -17, -22, -26), crestDb: 14, ratio: 1.5, width: 0.6 },
  { id: 'acoustic', label: 'Acoustic / folk', curve: curve(-18, -6, -6, -7, -14, -18, -24), crestDb: 13, ratio: 1.6, width: 0.35 },
  { id: 'percussion', label: 'World / percussion', curve: curve(-14, -5, -7, -7, -13, -17, -23), crestDb: 12, ratio: 1.8, width: 0.35 },
  { id: 'chiptune', label: 'Chiptune / game', curve: curve(-20, -8, -8, -5, -11, -15, -21), crestDb: 10, ratio: 2, width: 0.3 },
];

export const GENRE_IDS = GENRES.map((g) => g.id);

export function genreById(id: string): GenreTemplate | undefined {
  return GENRES.find((g) => g.id === id);
}

/** The template weighted by `weights` (genre id → probability; they need not sum to 1). */
export function blendTemplates(weights: Record<string, number>): GenreTemplate {
  const entries = GENRES.map((g) => [g, Math.max(0, weights[g.id] ?? 0)] as const).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  if (total === 0) return genreById('pop')!;
  const mix = (pick: (g: GenreTemplate) => number) => entries.reduce((sum, [g, w]) => sum + (pick(g) * w) / total, 0);
  const bands = Object.keys(GENRES[0]!.curve) as BandName[];
  const top = entries.toSorted((a, b) => b[1] - a[1])[0]![0];
  return {
    id: top.id,
    label: entries.length === 1 ? top.label : `${top.label} (blended)`,
    curve: Object.fromEntries(bands.map((b) => [b, mix((g) => g.curve[b])])) as Record<BandName, number>,
    crestDb: mix((g) => g.crestDb),
    ratio: mix((g) => g.ratio),
    width: mix((g) => g.width),
  };
}
