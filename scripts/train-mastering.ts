// Trains the mastering assistant's genre classifier on audio that Debian packages ship and writes
// models/mastering-genres.onnx. Labels come from where a file comes from (see LABELS); files, not
// clips, are split between training and held-out, so no clip of a held-out file is trained on.
//   sonic-pi-samples:  ambi_* ambient · elec_* glitch_* bass_* electronic · bd_* drum_* sn_* loop_* beats
//                      (hip-hop template) · tabla_* perc_* loop_tabla percussion · guit_* acoustic
//   openttd-openmsx:   *_redfarn.mid (ragtime, blues, boogie-woogie) jazz · the other tunes game music
//                      (chiptune / game template); both rendered with fluidsynth and a General MIDI soundfont
//   fb-music-high and frozen-bubble's music: game music
// Usage: npm run train:mastering [-- --out models/mastering-genres.onnx]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyzePcm } from '../src/mastering/analysis.js';
import { buildClassifierModel, featuresOf, GenreClassifier, predictSoftmax, trainSoftmax } from '../src/mastering/classifier.js';
import { decode, type Pcm } from '../src/mastering/pcm.js';

const SAMPLES = ['/usr/share/sonic-pi/samples', '/usr/lib/sonic-pi/etc/samples'].find(existsSync);
const OPENMSX = '/usr/share/games/openttd/baseset/openmsx';
const FROZEN = '/usr/share/games/frozen-bubble/snd';
const SOUNDFONT = ['/usr/share/sounds/sf2/TimGM6mb.sf2', '/usr/share/sounds/sf2/FluidR3_GM.sf2'].find(existsSync);
const CLIP_SECONDS = 15;
const CLIPS_PER_FILE = 4;
const HELD_OUT_SHARE = 0.25;

interface Source { file: string; label: string; origin: string }

function sampleLabel(name: string): string | null {
  if (name.startsWith('loop_tabla') || name.startsWith('tabla_') || name.startsWith('perc_')) return 'percussion';
  if (name.startsWith('ambi_')) return 'ambient';
  if (/^(elec|glitch|bass)_/.test(name)) return 'electronic';
  if (/^(bd|drum|sn|loop)_/.test(name)) return 'hiphop';
  if (name.startsWith('guit_')) return 'acoustic';
  return null;
}

function sources(cache: string): Source[] {
  const out: Source[] = [];
  if (SAMPLES) {
    for (const name of readdirSync(SAMPLES).filter((n) => n.endsWith('.flac')).sort()) {
      const label = sampleLabel(name);
      if (label) out.push({ file: path.join(SAMPLES, name), label, origin: 'sonic-pi-samples' });
    }
  }
  if (existsSync(OPENMSX) && SOUNDFONT) {
    for (const name of readdirSync(OPENMSX).filter((n) => n.endsWith('.mid')).sort()) {
      const wav = path.join(cache, name.replace(/\.mid$/, '.wav'));
      if (!existsSync(wav)) execFileSync('fluidsynth', ['-ni', '-q', '-g', '0.5', '-r', '48000', '-F', wav, SOUNDFONT, path.join(OPENMSX, name)], { stdio: 'ignore' });
      out.push({ file: wav, label: name.includes('redfarn') ? 'jazz' : 'chiptune', origin: 'openttd-openmsx' });
    }
  }
  if (existsSync(FROZEN)) {
    for (const name of readdirSync(FROZEN).filter((n) => /^(frozen-mainzik.*|introzik)\.(xm|ogg)$/.test(n)).sort()) {
      out.push({ file: path.join(FROZEN, name), label: 'chiptune', origin: name.endsWith('.xm') ? 'fb-music-high' : 'frozen-bubble-data' });
    }
  }
  return out;
}

/** Up to CLIPS_PER_FILE clips of CLIP_SECONDS spread over the file; a short file is one clip. */
function clips(pcm: Pcm): Pcm[] {
  const length = pcm.channels[0]!.length;
  const clipLength = CLIP_SECONDS * pcm.sampleRate;
  if (length <= clipLength * 1.5) return [pcm];
  const count = Math.min(CLIPS_PER_FILE, Math.floor(length / clipLength));
  const stride = (length - clipLength) / Math.max(1, count - 1);
  return Array.from({ length: count }, (_, i) => ({ sampleRate: pcm.sampleRate, channels: pcm.channels.map((c) => c.subarray(Math.floor(i * stride), Math.floor(i * stride) + clipLength)) }));
}

/** Held out when the file name's hash falls in the lowest quarter: stable across runs and machines. */
const heldOut = (file: string) => createHash('sha256').update(path.basename(file)).digest().readUInt32BE(0) / 2 ** 32 < HELD_OUT_SHARE;

async function main() {
  const outIndex = process.argv.indexOf('--out');
  const out = path.resolve(outIndex > 0 ? process.argv[outIndex + 1]! : 'models/mastering-genres.onnx');
  const cache = path.join(os.tmpdir(), 'veza-mastering-train');
  mkdirSync(cache, { recursive: true });
  const list = sources(cache);
  if (list.length === 0) throw new Error('no training audio: apt-get install sonic-pi-samples fb-music-high openttd-openmsx fluidsynth timgm6mb-soundfont');
  const classes = [...new Set(list.map((s) => s.label))].sort();
  const train: { x: number[]; y: number }[] = [];
  const test: { x: number[]; y: number; file: string }[] = [];
  for (const source of list) {
    const pcm = await decode(source.file, 48000);
    if (pcm.channels[0]!.length < 0.3 * pcm.sampleRate) continue;
    for (const clip of clips(pcm)) {
      const x = featuresOf(analyzePcm(clip));
      if (x.some((v) => !Number.isFinite(v))) continue;
      const y = classes.indexOf(source.label);
      (heldOut(source.file) ? test : train).push({ x, y, ...(heldOut(source.file) ? { file: source.file } : {}) } as { x: number[]; y: number; file: string });
    }
  }
  const model = trainSoftmax(train.map((r) => r.x), train.map((r) => r.y), classes);
  const accuracy = (rows: { x: number[]; y: number }[]) => rows.filter((r) => argmax(predictSoftmax(model, r.x)) === r.y).length / Math.max(1, rows.length);
  const perClass = classes.map((c, i) => {
    const rows = test.filter((r) => r.y === i);
    return `${c} ${rows.filter((r) => argmax(predictSoftmax(model, r.x)) === i).length}/${rows.length}`;
  });
  const files = (rows: { file?: string }[]) => new Set(rows.map((r) => r.file)).size;
  const summary = {
    classes,
    trainingClips: train.length,
    heldOutClips: test.length,
    heldOutFiles: files(test),
    trainingAccuracy: Number(accuracy(train).toFixed(3)),
    heldOutAccuracy: Number(accuracy(test).toFixed(3)),
    heldOutPerClass: perClass.join(', '),
    majorityBaseline: Number((Math.max(...classes.map((_, i) => test.filter((r) => r.y === i).length)) / Math.max(1, test.length)).toFixed(3)),
  };
  const bytes = buildClassifierModel(model, { 'veza.heldOutAccuracy': String(summary.heldOutAccuracy), 'veza.trainingClips': String(train.length) });
  // The served graph must agree with the TypeScript model it was built from.
  const served = await GenreClassifier.load(bytes);
  for (const row of test.slice(0, 5)) {
    const p = await served.classify(row.x);
    const q = predictSoftmax(model, row.x);
    if (classes.some((c, i) => Math.abs(p[c]! - q[i]!) > 1e-4)) throw new Error('the ONNX graph disagrees with the trained model');
  }
  await served.release();
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, bytes);
  console.log(JSON.stringify({ model: path.relative(process.cwd(), out), bytes: bytes.length, ...summary }, null, 2));
}

const argmax = (p: number[]) => p.indexOf(Math.max(...p));

await main();
