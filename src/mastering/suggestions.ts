// Suggestions in plain language, each with the numbers behind it, from an analysis and the template
// it is compared with. The same checks run before and after mastering.
import type { Analysis } from './analysis.js';
import type { GenreTemplate } from './genres.js';

export interface Suggestion {
  id: 'too-bright' | 'too-dull' | 'muddy-low-mids' | 'boomy-bass' | 'thin-bass' | 'over-compressed' | 'very-dynamic' | 'clipping' | 'narrow' | 'too-wide' | 'phase' | 'dc-offset';
  severity: 'info' | 'warning';
  message: string;
  /** The measurements the advice rests on. */
  numbers: Record<string, number>;
}

const round = (x: number) => Math.round(x * 10) / 10;

export function suggest(analysis: Analysis, template: GenreTemplate): Suggestion[] {
  const out: Suggestion[] = [];
  const mid = analysis.spectrum.mid;
  const highs = (mid.presence + mid.air) / 2 - (template.curve.presence + template.curve.air) / 2;
  if (highs > 3) out.push({ id: 'too-bright', severity: 'warning', message: `The top end is ${round(highs)} dB above a typical ${template.label} mix: consider taming 4-20 kHz.`, numbers: { presenceDb: round(mid.presence), airDb: round(mid.air), excessDb: round(highs) } });
  if (highs < -4) out.push({ id: 'too-dull', severity: 'info', message: `The top end is ${round(-highs)} dB below a typical ${template.label} mix: it may sound dull.`, numbers: { presenceDb: round(mid.presence), airDb: round(mid.air), shortfallDb: round(-highs) } });
  const lowMid = mid['low-mid'] - template.curve['low-mid'];
  if (lowMid > 3) out.push({ id: 'muddy-low-mids', severity: 'warning', message: `Low mids (250-500 Hz) are ${round(lowMid)} dB heavy: the mix may sound muddy; cut there before raising the level.`, numbers: { lowMidDb: round(mid['low-mid']), excessDb: round(lowMid) } });
  const bass = (mid.sub + mid.bass) / 2 - (template.curve.sub + template.curve.bass) / 2;
  if (bass > 4) out.push({ id: 'boomy-bass', severity: 'warning', message: `Sub and bass are ${round(bass)} dB above the template: the limiter will spend its work on the low end.`, numbers: { subDb: round(mid.sub), bassDb: round(mid.bass), excessDb: round(bass) } });
  if (bass < -6) out.push({ id: 'thin-bass', severity: 'info', message: `Sub and bass are ${round(-bass)} dB below the template: the mix may sound thin.`, numbers: { subDb: round(mid.sub), bassDb: round(mid.bass), shortfallDb: round(-bass) } });
  if (analysis.crestFactorDb < template.crestDb - 3) out.push({ id: 'over-compressed', severity: 'warning', message: `The crest factor is ${round(analysis.crestFactorDb)} dB, ${round(template.crestDb - analysis.crestFactorDb)} dB under a typical ${template.label} mix: it is over-compressed; transients are flattened.`, numbers: { crestFactorDb: round(analysis.crestFactorDb), targetCrestDb: template.crestDb, loudnessRangeLu: round(analysis.loudness.range) } });
  if (analysis.crestFactorDb > template.crestDb + 8) out.push({ id: 'very-dynamic', severity: 'info', message: `The crest factor is ${round(analysis.crestFactorDb)} dB: reaching a loud target will need a lot of limiting.`, numbers: { crestFactorDb: round(analysis.crestFactorDb), targetCrestDb: template.crestDb } });
  if (analysis.clippedRuns > 0 || analysis.loudness.truePeak > 0) out.push({ id: 'clipping', severity: 'warning', message: `The mix clips: ${analysis.clippedRuns} runs of full-scale samples, true peak ${round(analysis.loudness.truePeak)} dBTP. Lower the mix bus and bounce again.`, numbers: { clippedRuns: analysis.clippedRuns, truePeakDbtp: round(analysis.loudness.truePeak) } });
  if (analysis.channels === 2 && analysis.stereoWidth < template.width / 3) out.push({ id: 'narrow', severity: 'info', message: `The stereo image is narrow (side/mid ${analysis.stereoWidth.toFixed(2)}, typical ${template.width.toFixed(2)}).`, numbers: { stereoWidth: Number(analysis.stereoWidth.toFixed(2)), typicalWidth: template.width } });
  if (analysis.stereoWidth > 1.2) out.push({ id: 'too-wide', severity: 'warning', message: `There is more side than mid (side/mid ${analysis.stereoWidth.toFixed(2)}): the mix loses level and bass in mono.`, numbers: { stereoWidth: Number(analysis.stereoWidth.toFixed(2)) } });
  if (analysis.channels === 2 && analysis.correlation < 0) out.push({ id: 'phase', severity: 'warning', message: `Left and right are out of phase (correlation ${analysis.correlation.toFixed(2)}): parts cancel in mono. Check polarity and stereo wideners.`, numbers: { correlation: Number(analysis.correlation.toFixed(2)) } });
  const dc = Math.max(...analysis.dcOffsetDb);
  if (dc > -50) out.push({ id: 'dc-offset', severity: 'info', message: `A DC offset of ${round(dc)} dBFS wastes headroom: a high-pass at 10-20 Hz removes it.`, numbers: { dcOffsetDbfs: round(dc) } });
  return out;
}
