// Mastering speed and accuracy: masters real material from Debian packages (sonic-pi-samples,
// fb-music-high, openmsx tunes rendered with fluidsynth) at every preset, and reports
//   - speed: audio seconds mastered per wall-clock second (× real time), whole jobs end to end
//     (analysis, every render pass and its measurement, the final analysis), one job at a time;
//   - accuracy: each master by ffmpeg's ebur128 (distance from the target, true peak), and our
//     meter against ebur128 on the inputs.
// Usage: npm run bench:mastering [-- --seconds 120]   (length of the longer excerpts)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyzeFile } from '../src/mastering/analysis.js';
import { master } from '../src/mastering/chain.js';
import type { ExportFormat } from '../src/mastering/formats.js';
import { genreById } from '../src/mastering/genres.js';
import { ebur128, renderMidi, sample } from '../test/mastering/support.js';

const secondsArg = process.argv.indexOf('--seconds');
const LONG = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 120;
const dir = mkdtempSync(path.join(os.tmpdir(), 'veza-bench-mastering-'));

const material: { name: string; file: string; genre: string }[] = [
  { name: 'guit_em9 (sonic-pi)', file: sample('guit_em9'), genre: 'acoustic' },
  { name: 'loop_amen_full (sonic-pi)', file: sample('loop_amen_full'), genre: 'hiphop' },
  { name: 'ambi_lunar_land (sonic-pi)', file: sample('ambi_lunar_land'), genre: 'ambient' },
  { name: 'loop_tabla (sonic-pi)', file: sample('loop_tabla'), genre: 'percussion' },
];
const xm = '/usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.xm';
if (existsSync(xm)) {
  const file = path.join(dir, 'frozen.flac');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', xm, '-t', String(LONG), file]);
  material.push({ name: `frozen-mainzik-2p.xm, ${LONG} s (fb-music-high)`, file, genre: 'chiptune' });
}
if (existsSync('/usr/share/games/openttd/baseset/openmsx') && existsSync('/usr/share/sounds/sf2/TimGM6mb.sf2')) {
  const file = path.join(dir, 'boogie.flac');
  renderMidi('boogi_marabi_redfarn.mid', file, LONG);
  material.push({ name: `boogi_marabi_redfarn.mid, ${LONG} s (openmsx + fluidsynth)`, file, genre: 'jazz' });
}

const runs: { target: number; format: ExportFormat }[] = [
  { target: -14, format: 'wav24' },
  { target: -16, format: 'flac' },
  { target: -23, format: 'wav16' },
  { target: -9, format: 'mp3' },
  { target: -14, format: 'aac' },
];

const rows: string[] = [];
let audioSeconds = 0;
let wallSeconds = 0;
let worstLoudness = 0;
let worstPeak = -Infinity;
let worstMeter = { integrated: 0, range: 0, truePeak: 0 };
for (const m of material) {
  const probeRate = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=sample_rate', '-of', 'csv=p=0', m.file], { encoding: 'utf8' }).trim());
  const ours = (await analyzeFile(m.file, probeRate)).analysis.loudness;
  const theirs = ebur128(m.file);
  worstMeter = {
    integrated: Math.max(worstMeter.integrated, Math.abs(ours.integrated - theirs.integrated)),
    range: Math.max(worstMeter.range, Math.abs(ours.range - theirs.range)),
    truePeak: Math.max(worstMeter.truePeak, Math.abs(ours.truePeak - theirs.truePeak)),
  };
  for (const run of runs) {
    const out = path.join(dir, `out.${run.format === 'aac' ? 'm4a' : run.format.startsWith('wav') ? 'wav' : run.format}`);
    const started = process.hrtime.bigint();
    const result = await master(m.file, out, { target: run.target, template: genreById(m.genre)!, format: run.format }, probeRate);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const measured = ebur128(out);
    audioSeconds += result.before.durationSeconds;
    wallSeconds += seconds;
    worstLoudness = Math.max(worstLoudness, Math.abs(measured.integrated - run.target));
    worstPeak = Math.max(worstPeak, measured.truePeak);
    rows.push(
      `| ${m.name} | ${result.before.durationSeconds.toFixed(1)} | ${run.target} ${run.format} | ${result.before.loudness.integrated.toFixed(2)} / ${result.before.loudness.truePeak.toFixed(2)} | ${measured.integrated.toFixed(3)} | ${measured.truePeak.toFixed(2)} | ${result.passes.length} | ${(result.before.durationSeconds / seconds).toFixed(1)}× |`,
    );
    console.error(rows.at(-1));
  }
}
rmSync(dir, { recursive: true, force: true });

console.log(`| material | seconds | target, format | input LUFS / dBTP | ebur128 LUFS | ebur128 dBTP | passes | speed |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Masters: ${rows.length}; worst distance from target by ebur128 ${worstLoudness.toFixed(3)} LU; highest true peak ${worstPeak.toFixed(2)} dBTP.
Our meter against ebur128 on the ${material.length} inputs: worst integrated ${worstMeter.integrated.toFixed(3)} LU, loudness range ${worstMeter.range.toFixed(3)} LU, true peak ${worstMeter.truePeak.toFixed(3)} dB.
Speed over all masters: ${audioSeconds.toFixed(0)} s of audio in ${wallSeconds.toFixed(1)} s = ${(audioSeconds / wallSeconds).toFixed(1)}× real time (cores: ${os.cpus().length}, load average ${os.loadavg()[0]!.toFixed(2)}).`);
