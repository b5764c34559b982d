// Mastering speed and accuracy: masters real material from Debian packages (sonic-pi-samples,
// fb-music-high, openmsx tunes rendered with fluidsynth) at every preset, and reports
//   - speed: audio seconds mastered per wall-clock second (× real time), whole jobs end to end
//     (analysis, every render pass and its measurement, the final analysis), `--concurrency` jobs at
//     a time (default: as many as the server's job queue runs);
//   - CPU: seconds of CPU (this process, its jobs' thread included, and its ffmpeg children) per
//     second of audio, which a busy machine does not change, and the × real time it implies on two
//     cores kept busy; and how much of it the main thread spent;
//   - the event loop's delay while the jobs run: they run on the mastering jobs' thread, as the
//     server runs them (`--in-process`: on the main thread, as the CLI does);
//   - accuracy: each master by ffmpeg's ebur128 (distance from the target, true peak), and our
//     meter against ebur128 on the inputs.
// Usage: npm run bench:mastering [-- --seconds 120] [--concurrency 2] [--in-process]   (length of the
// longer excerpts; jobs at a time: the queue's, VEZA_MASTERING_CONCURRENCY or its default, unless given)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { analyzeFile } from '../src/mastering/analysis.js';
import { runAssistant } from '../src/mastering/assistant.js';
import type { ExportFormat } from '../src/mastering/formats.js';
import { processStarts } from '../src/mastering/ffmpeg.js';
import type { JobOutcome } from '../src/mastering/jobs.js';
import { masteringSettings } from '../src/mastering/settings.js';
import { MasteringThread, type ThreadRequest } from '../src/mastering/thread.js';
import { ebur128, renderMidi, sample } from '../test/mastering/support.js';

const option = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const LONG = option('seconds', 120);
/** As many jobs at a time as the server's queue runs: VEZA_MASTERING_CONCURRENCY, else its default. */
const queueDefault = Number(process.env.VEZA_MASTERING_CONCURRENCY ?? masteringSettings.concurrency.schema.parse(undefined));
const CONCURRENCY = Math.max(1, option('concurrency', queueDefault));
const IN_PROCESS = process.argv.includes('--in-process');
/** CPU seconds of this process and of the children it has waited for (ffmpeg), from /proc. */
function cpuSeconds(): number {
  const { node, children } = cpuParts();
  return node + children;
}
/** The same, this process (node) and its children (ffmpeg) apart. */
function cpuParts(): { node: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return { node: (Number(fields[11]) + Number(fields[12])) / 100, children: (Number(fields[13]) + Number(fields[14])) / 100 };
}
/** CPU seconds of the main thread alone (the bench's code runs on it, so /proc/thread-self is the main thread). */
function mainThreadSeconds(): number {
  const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
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
let worstLoudness = 0;
let worstPeak = -Infinity;
let worstMeter = { integrated: 0, range: 0, truePeak: 0 };
const jobs: { m: (typeof material)[number]; run: (typeof runs)[number]; rate: number }[] = [];
for (const m of material) {
  const probeRate = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=sample_rate', '-of', 'csv=p=0', m.file], { encoding: 'utf8' }).trim());
  const ours = (await analyzeFile(m.file, probeRate)).analysis.loudness;
  const theirs = ebur128(m.file);
  worstMeter = {
    integrated: Math.max(worstMeter.integrated, Math.abs(ours.integrated - theirs.integrated)),
    range: Math.max(worstMeter.range, Math.abs(ours.range - theirs.range)),
    truePeak: Math.max(worstMeter.truePeak, Math.abs(ours.truePeak - theirs.truePeak)),
  };
  for (const run of runs) jobs.push({ m, run, rate: probeRate });
}
const outputs: { out: string; target: number }[] = [];
let next = 0;
const startedAll = process.hrtime.bigint();
const cpuAll = cpuSeconds();
const partsAll = cpuParts();
const startsAll = { ...processStarts };
const mainAll = mainThreadSeconds();
const thread = new MasteringThread();
/** One job as the server's queue runs it (on the jobs' thread), or on this thread with --in-process. */
const runJob = (id: string, input: string, out: string, request: ThreadRequest): Promise<JobOutcome> =>
  IN_PROCESS ? runAssistant(input, out, request, null) : thread.run(id, input, out, request, { onProgress: () => {} }).then((r) => r.outcome);
// How long the jobs hold node's event loop (the server's realtime sessions share it): the meter,
// the spectra and the pipes run on it, ffmpeg beside it.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
async function worker(slot: number): Promise<void> {
  while (next < jobs.length) {
    const id = next++;
    const { m, run, rate } = jobs[id]!;
    const out = path.join(dir, `out-${slot}-${outputs.length}.${run.format === 'aac' ? 'm4a' : run.format.startsWith('wav') ? 'wav' : run.format}`);
    const started = process.hrtime.bigint();
    const cpu = cpuSeconds();
    const result = await runJob(`job-${id}`, m.file, out, { target: run.target, targetGiven: true, genre: m.genre, format: run.format, metadata: {}, reference: null, inputRate: rate });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // With one job at a time the process's CPU is this job's; with more it is shared, and not shown per job.
    const cpuPerAudio = CONCURRENCY === 1 ? ((cpuSeconds() - cpu) / result.before.durationSeconds).toFixed(3) : '–';
    outputs.push({ out, target: run.target });
    audioSeconds += result.before.durationSeconds;
    rows.push(
      `| ${m.name} | ${result.before.durationSeconds.toFixed(1)} | ${run.target} ${run.format} | ${result.before.integrated.toFixed(2)} / ${result.before.truePeak.toFixed(2)} | OUT:${out} | ${result.passes.length} | ${(result.before.durationSeconds / seconds).toFixed(1)}× | ${cpuPerAudio} |`,
    );
    console.error(rows.at(-1));
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, (_, slot) => worker(slot)));
const wallSeconds = Number(process.hrtime.bigint() - startedAll) / 1e9;
loopDelay.disable();
const cpuUsed = cpuSeconds() - cpuAll;
const mainUsed = mainThreadSeconds() - mainAll;
await thread.close();
const partsUsed = { node: cpuParts().node - partsAll.node, children: cpuParts().children - partsAll.children };
const starts = { ffmpeg: processStarts.ffmpeg - startsAll.ffmpeg, ffprobe: processStarts.ffprobe - startsAll.ffprobe };
// Measured by ebur128 after the clock stopped, so the reference meter's time is not counted.
for (let i = 0; i < rows.length; i++) {
  const { out, target } = outputs[i]!;
  const measured = ebur128(out);
  worstLoudness = Math.max(worstLoudness, Math.abs(measured.integrated - target));
  worstPeak = Math.max(worstPeak, measured.truePeak);
  rows[i] = rows[i]!.replace(`OUT:${out}`, `${measured.integrated.toFixed(3)} | ${measured.truePeak.toFixed(2)}`);
}
rmSync(dir, { recursive: true, force: true });

console.log(`| material | seconds | target, format | input LUFS / dBTP | ebur128 LUFS | ebur128 dBTP | passes | speed | CPU s per audio s |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Masters: ${rows.length}; worst distance from target by ebur128 ${worstLoudness.toFixed(3)} LU; highest true peak ${worstPeak.toFixed(2)} dBTP.
Our meter against ebur128 on the ${material.length} inputs: worst integrated ${worstMeter.integrated.toFixed(3)} LU, loudness range ${worstMeter.range.toFixed(3)} LU, true peak ${worstMeter.truePeak.toFixed(3)} dB.
Speed over all masters, ${CONCURRENCY} at a time: ${audioSeconds.toFixed(0)} s of audio in ${wallSeconds.toFixed(1)} s = ${(audioSeconds / wallSeconds).toFixed(1)}× real time (cores: ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown'}, load average ${os.loadavg()[0]!.toFixed(2)}).
CPU: ${cpuUsed.toFixed(1)} s for ${audioSeconds.toFixed(0)} s of audio = ${(cpuUsed / audioSeconds).toFixed(3)} CPU s per audio s, i.e. ${(audioSeconds / cpuUsed).toFixed(1)}× real time per core, ${((2 * audioSeconds) / cpuUsed).toFixed(1)}× on 2 cores kept busy (node ${partsUsed.node.toFixed(1)} s, of which the main thread ${mainUsed.toFixed(1)} s; ffmpeg ${partsUsed.children.toFixed(1)} s).
Processes started: ${starts.ffmpeg} ffmpeg, ${starts.ffprobe} ffprobe for ${rows.length} masters = ${((starts.ffmpeg + starts.ffprobe) / rows.length).toFixed(2)} per job (the upload's probe is not part of a job here).
Event loop beside the jobs (${IN_PROCESS ? 'run on the main thread' : 'run on the jobs’ thread'}): delay p50 ${(loopDelay.percentile(50) / 1e6).toFixed(0)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, longest ${(loopDelay.max / 1e6).toFixed(0)} ms.
Wall clock and CPU: ${wallSeconds.toFixed(1)} s by the clock, ${cpuUsed.toFixed(1)} CPU s; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}.`);
