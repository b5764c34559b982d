// Inside the mastering jobs' thread: runs the jobs the main thread sends (runAssistant, as the CLI
// does in its own process), posts their progress and outcome, stops one when told, and loads the
// genre classifier (onnxruntime) with the first job that asks for an automatic genre. Everything a
// job does in node (the pipes, the meter, true peak, spectra, the gain model, WAV writing) runs on
// this thread, so the main thread's event loop stays free for the realtime sessions.
import { parentPort, workerData } from 'node:worker_threads';
import { runAssistant } from './assistant.js';
import { GenreClassifier } from './classifier.js';
import { adoptFfmpegBinary, watchFfmpegStarts } from './ffmpeg.js';
import type { FromThread, MasteringWorkerData, ToThread } from './thread-messages.js';

const port = parentPort!;
const post = (message: FromThread) => port.postMessage(message);
adoptFfmpegBinary((workerData as MasteringWorkerData).ffmpeg);
watchFfmpegStarts((child) => {
  const pid = child.pid;
  if (pid === undefined) return;
  post({ kind: 'ffmpeg', pid, running: true });
  child.once('exit', () => post({ kind: 'ffmpeg', pid, running: false }));
});

let classifier: Promise<GenreClassifier | null> | null = null;
/** The classifier, loaded once; a missing model falls back to the pop template. */
const loadClassifier = () =>
  (classifier ??= GenreClassifier.load().catch((error: unknown) => {
    post({ kind: 'warning', message: 'genre model not loaded: automatic genre uses the pop template (npm run train:mastering writes it)', reason: String(error) });
    return null;
  }));

const running = new Map<string, AbortController>();

async function run({ id, input, output, request }: Extract<ToThread, { kind: 'run' }>): Promise<void> {
  const stop = new AbortController();
  running.set(id, stop);
  // A message only when what the client sees changes (progress in hundredths, what a bar shows, or the
  // stage): a pipe's every chunk reports a fraction, and each message costs both threads.
  let last = '';
  const onProgress = (fraction: number, stage: string) => {
    const rounded = Math.round(fraction * 100) / 100;
    const key = `${rounded} ${stage}`;
    if (key === last) return;
    last = key;
    post({ kind: 'progress', id, fraction: rounded, stage });
  };
  try {
    const genreModel = request.genre === 'auto' ? await loadClassifier() : null;
    const outcome = await runAssistant(input, output, { ...request, onProgress, signal: stop.signal }, genreModel);
    post({ kind: 'done', id, outcome });
  } catch (error) {
    post({ kind: 'failed', id, message: error instanceof Error ? error.message : String(error) });
  } finally {
    running.delete(id);
  }
}

port.on('message', (message: ToThread) => {
  if (message.kind === 'run') void run(message);
  else if (message.kind === 'stop') running.get(message.id)?.abort(new Error(message.reason));
  else if (message.kind === 'close') {
    // With the port closed and the classifier released, nothing holds the thread: it ends.
    void (async () => {
      await (await classifier)?.release();
      port.close();
    })();
  }
});
