// `veza master in.wav --out out.wav [--target -14] [--genre G] [--reference ref.wav] [--format flac]`:
// one master on this machine, with a progress bar on stderr and the before/after report as JSON on
// stdout.
import { existsSync } from 'node:fs';
import { runAssistant } from './assistant.js';
import { GenreClassifier } from './classifier.js';
import { FfmpegMissingError } from './ffmpeg.js';
import { formatForPath, FORMAT_NAMES, parseFormat } from './formats.js';
import { GENRE_IDS } from './genres.js';
import { InputError, probeAudio } from './probe.js';
import type { MasteringSettings } from './settings.js';

/** A refusal the CLI prints as a usage error (exit code 2). */
export class MasterUsageError extends Error {}

export async function masterCommand(positionals: string[], options: Record<string, string>, settings: MasteringSettings): Promise<string> {
  const input = positionals[0];
  if (!input || !options.out) throw new MasterUsageError('usage: veza master IN --out OUT [--target -14] [--genre G] [--reference REF] [--format wav|wav16|wav24|flac|mp3|aac]');
  if (!existsSync(input)) throw new MasterUsageError(`${input} does not exist`);
  const target = options.target === undefined ? -14 : Number(options.target);
  if (!Number.isFinite(target) || target < -30 || target > -6) throw new MasterUsageError('--target must be a loudness from -30 to -6 LUFS (presets: -14, -16, -23, -9)');
  const genre = options.genre ?? 'auto';
  if (genre !== 'auto' && !GENRE_IDS.includes(genre)) throw new MasterUsageError(`--genre must be auto or one of ${GENRE_IDS.join(', ')}`);
  const format = options.format ? parseFormat(options.format) : formatForPath(options.out);
  if (!format) {
    throw new MasterUsageError(options.format ? `--format must be one of wav, ${FORMAT_NAMES.join(', ')}` : `${options.out}: name it .wav, .flac, .mp3 or .m4a, or give --format`);
  }
  if (options.reference && !existsSync(options.reference)) throw new MasterUsageError(`${options.reference} does not exist`);
  try {
    const info = await probeAudio(input, settings.maxSeconds);
    if (options.reference) await probeAudio(options.reference, settings.maxSeconds);
    const classifier = genre === 'auto' ? await GenreClassifier.load().catch(() => null) : null;
    const tty = process.stderr.isTTY;
    let lastLine = '';
    let lastPercent = -10;
    const outcome = await runAssistant(
      input,
      options.out,
      {
        target,
        targetGiven: options.target !== undefined,
        genre,
        format,
        metadata: { ...(options.title ? { title: options.title } : {}), ...(options.artist ? { artist: options.artist } : {}) },
        reference: options.reference ?? null,
        inputRate: info.sampleRate,
        onProgress: (fraction, stage) => {
          const percent = Math.round(fraction * 100);
          const width = 30;
          const filled = Math.round(fraction * width);
          const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${stage}`;
          if (tty) process.stderr.write(`\r${line.padEnd(lastLine.length)}`);
          else if (percent >= lastPercent + 10 || fraction === 1) {
            process.stderr.write(`${line}\n`);
            lastPercent = percent;
          }
          lastLine = line;
        },
      },
      classifier,
    );
    await classifier?.release();
    if (tty) process.stderr.write('\n');
    const { before, after } = outcome;
    return `${JSON.stringify({
      out: options.out,
      format,
      template: outcome.template,
      converged: outcome.converged,
      before: { integrated: round(before.integrated), range: round(before.range), truePeak: round(before.truePeak) },
      after: { integrated: round(after.integrated), range: round(after.range), truePeak: round(after.truePeak) },
      passes: outcome.passes.length,
      ...(outcome.referenceDeviationDb === null ? {} : { referenceDeviationDb: round(outcome.referenceDeviationDb), referenceDeviationBeforeDb: round(outcome.referenceDeviationBeforeDb!) }),
      suggestions: outcome.suggestions.before.map((s) => s.message),
    })}\n`;
  } catch (error) {
    if (error instanceof InputError) throw new MasterUsageError(`${input}: ${error.message}`);
    if (error instanceof FfmpegMissingError) throw new MasterUsageError(error.message);
    throw error;
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
