// One master from start to end, as the jobs and the CLI run it: analyse, pick the template (the
// asked-for genre, or the classifier's blend), run the chain, and report before and after with
// suggestions.
import { stat } from 'node:fs/promises';
import type { Analysis } from './analysis.js';
import { analyzeFile } from './analysis.js';
import { master } from './chain.js';
import { featuresOf, type GenreClassifier } from './classifier.js';
import type { ExportFormat } from './formats.js';
import { blendTemplates, genreById, type GenreTemplate } from './genres.js';
import type { JobOutcome, Summary } from './jobs.js';
import { suggest } from './suggestions.js';

export interface AssistantRequest {
  target: number;
  targetGiven: boolean;
  genre: string;
  format: ExportFormat;
  metadata: Record<string, string>;
  reference: string | null;
  inputRate?: number;
  onProgress?: (fraction: number, stage: string) => void;
  signal?: AbortSignal;
}

export function summarize(a: Analysis): Summary {
  const step = Math.max(1, Math.ceil(a.loudness.shortTerm.length / 600));
  return {
    integrated: a.loudness.integrated,
    range: a.loudness.range,
    truePeak: a.loudness.truePeak,
    samplePeak: a.loudness.samplePeak,
    crestFactorDb: a.crestFactorDb,
    stereoWidth: a.stereoWidth,
    correlation: a.correlation,
    clippedRuns: a.clippedRuns,
    dcOffsetDb: a.dcOffsetDb,
    durationSeconds: a.durationSeconds,
    bands: { mid: a.spectrum.mid, side: a.spectrum.side },
    thirdOctaves: a.spectrum.thirdOctaves,
    shortTerm: a.loudness.shortTerm.filter((_, i) => i % step === 0),
  };
}

/** The template for `genre` (an id), or the classifier's blend for `auto`. */
export async function chooseTemplate(genre: string, analysis: Analysis, classifier: GenreClassifier | null): Promise<{ template: GenreTemplate; probabilities: Record<string, number> | null }> {
  if (genre !== 'auto') {
    const template = genreById(genre);
    if (!template) throw new Error(`unknown genre ${genre}`);
    return { template, probabilities: null };
  }
  if (!classifier) return { template: genreById('pop')!, probabilities: null };
  const probabilities = await classifier.classify(featuresOf(analysis));
  return { template: blendTemplates(probabilities), probabilities };
}

/** References analysed lately, by file, with the size and time of change they were read at. */
const references = new Map<string, { stamp: string; analysis: Promise<Analysis> }>();
const REFERENCES_KEPT = 16;

/**
 * The analysis of a reference: decoded (one ffmpeg start) the first time, then kept while the file
 * is unchanged, so every job that matches the same reference does not decode it again.
 */
export async function referenceAnalysis(file: string): Promise<Analysis> {
  const info = await stat(file);
  const stamp = `${info.size}:${info.mtimeMs}:${info.ino}`;
  const known = references.get(file);
  if (known?.stamp === stamp) return known.analysis;
  const analysis = analyzeFile(file).then((decoded) => decoded.analysis);
  references.delete(file);
  references.set(file, { stamp, analysis });
  // A failed analysis is not kept; the oldest entries go beyond the limit.
  void analysis.catch(() => references.get(file)?.analysis === analysis && references.delete(file));
  while (references.size > REFERENCES_KEPT) references.delete(references.keys().next().value!);
  return analysis;
}

export async function runAssistant(input: string, output: string, request: AssistantRequest, classifier: GenreClassifier | null): Promise<JobOutcome> {
  const progress = request.onProgress ?? (() => {});
  const reference = request.reference ? await referenceAnalysis(request.reference) : undefined;
  if (reference && !Number.isFinite(reference.loudness.integrated)) throw new Error('the reference is silent');
  const { analysis: first, pcm48 } = await analyzeFile(input, request.inputRate, request.signal);
  const { template, probabilities } = await chooseTemplate(request.genre, first, classifier);
  const target = reference && !request.targetGiven ? Math.max(-30, Math.min(-6, reference.loudness.integrated)) : request.target;
  const result = await master(input, output, { target, template, ...(reference ? { reference } : {}), format: request.format, metadata: request.metadata, before: first, pcm48, onProgress: progress, ...(request.signal ? { signal: request.signal } : {}) }, request.inputRate);
  return {
    template: { id: template.id, label: template.label },
    genreProbabilities: probabilities,
    before: summarize(result.before),
    after: summarize(result.after),
    passes: result.passes,
    settings: result.settings,
    converged: result.converged,
    referenceDeviationDb: result.referenceDeviationDb,
    referenceDeviationBeforeDb: result.referenceDeviationBeforeDb,
    suggestions: { before: suggest(result.before, template), after: suggest(result.after, template) },
  };
}
