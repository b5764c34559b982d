// The mastering screen (#/mastering): upload a mix, pick the target, genre and format, follow the
// job's progress (a WebSocket), then compare before and after: loudness over time and the
// 1/3-octave spectrum as charts, the figures in a table, suggestions, A/B listening and the download.
import { api, download, h, problem, socketProtocols, wsUrl, type Session } from './api.js';

interface Summary {
  integrated: number;
  range: number;
  truePeak: number;
  crestFactorDb: number;
  stereoWidth: number;
  correlation: number;
  thirdOctaves: number[];
  shortTerm: number[];
}

interface Job {
  id: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  progress: number;
  stage: string;
  error: string | null;
  input: { name: string };
  options: { target: number; format: string };
  result: null | {
    template: { label: string };
    converged: boolean;
    before: Summary;
    after: Summary;
    suggestions: { before: { message: string }[]; after: { message: string }[] };
  };
  links: { master?: string; input: string };
}

export interface MasteringHandle {
  /** The job on screen, for tests. */
  job(): Job | null;
  destroy(): void;
}

const THIRD_OCTAVES = [25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000, 20000];
const GENRES = ['auto', 'electronic', 'hiphop', 'rock', 'pop', 'jazz', 'classical', 'ambient', 'acoustic', 'percussion', 'chiptune'];
const FORMATS: [string, string][] = [['wav24', 'WAV 24-bit'], ['wav16', 'WAV 16-bit'], ['flac', 'FLAC'], ['mp3', 'MP3 320k'], ['aac', 'AAC 256k']];
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) element.setAttribute(k, String(v));
  return element;
}

/** A line chart of two series (before in grey, after in the accent colour), with a title for screen readers. */
function chart(title: string, summary: string, before: number[], after: number[], yMin: number, yMax: number, xLabels: string[]): HTMLElement {
  const width = 600, height = 220, pad = 36;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${summary}`, class: 'chart' });
  const x = (i: number, n: number) => pad + (i / Math.max(1, n - 1)) * (width - 2 * pad);
  const y = (v: number) => height - pad - ((Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin)) * (height - 2 * pad);
  for (let t = yMin; t <= yMax; t += (yMax - yMin) / 4) {
    root.append(svg('line', { x1: pad, x2: width - pad, y1: y(t), y2: y(t), 'stroke-width': 1 }));
    const label = svg('text', { x: 2, y: y(t) + 4, 'font-size': 11 });
    label.textContent = String(Math.round(t));
    root.append(label);
  }
  xLabels.forEach((text, i) => {
    if (!text) return;
    const label = svg('text', { x: x(i, xLabels.length), y: height - 8, 'font-size': 11, 'text-anchor': 'middle' });
    label.textContent = text;
    root.append(label);
  });
  for (const [series, colour, name] of [[before, '#9a9a9a', 'before'], [after, '#4c9bff', 'after']] as const) {
    const points = series.map((v, i) => `${x(i, series.length).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    root.append(svg('polyline', { points, fill: 'none', stroke: colour, 'stroke-width': 2, 'data-series': name }));
  }
  return h('figure', { class: 'card' }, h('figcaption', {}, h('b', {}, title), ' ', h('span', { class: 'muted' }, '(grey: before, blue: after)')), root as unknown as HTMLElement);
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

export function openMastering(root: HTMLElement, session: Session): MasteringHandle {
  let current: Job | null = null;
  let socket: WebSocket | null = null;
  const urls: string[] = [];
  const errorLine = h('div', { class: 'error', role: 'alert' });
  const file = h('input', { type: 'file', accept: 'audio/*,.wav,.flac,.mp3,.m4a,.ogg,.aiff', 'aria-label': 'mix to master' });
  const target = h('select', { 'aria-label': 'loudness target' }, ...[-14, -16, -23, -9].map((t) => h('option', { value: String(t) }, `${t} LUFS`)));
  const genre = h('select', { 'aria-label': 'genre' }, ...GENRES.map((g) => h('option', { value: g }, g === 'auto' ? 'automatic' : g)));
  const format = h('select', { 'aria-label': 'export format' }, ...FORMATS.map(([value, label]) => h('option', { value }, label)));
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'mastering progress' });
  const stage = h('span', { class: 'muted', 'data-testid': 'mastering-stage', 'aria-live': 'polite' }, 'choose a mix to master');
  const results = h('div', { 'data-testid': 'mastering-results' });
  const submit = h('button', { type: 'submit' }, 'Master');
  const form = h('form', { class: 'card toolbar' }, file, target, genre, format, submit);
  root.replaceChildren(h('div', { class: 'mastering' }, h('h1', {}, 'Mastering'), errorLine, form, h('div', { class: 'card' }, bar, ' ', stage), results));

  const fetchAudio = async (path: string) => {
    const response = await api(session, 'GET', path);
    if (!response.ok) throw new Error(await problem(response, 'the audio could not be loaded'));
    const url = URL.createObjectURL(await response.blob());
    urls.push(url);
    return url;
  };

  const show = async (job: Job) => {
    current = job;
    bar.value = job.progress;
    stage.textContent = job.state === 'failed' ? `failed: ${job.error}` : `${job.state}: ${job.stage} (${Math.round(job.progress * 100)} %)`;
    if (job.state !== 'done' || !job.result) return;
    const { before, after, template, suggestions } = job.result;
    const ticks = THIRD_OCTAVES.map((f) => ([31.5, 125, 500, 2000, 8000].includes(f) ? (f >= 1000 ? `${f / 1000}k` : String(f)) : ''));
    const rows: [string, string, string][] = [
      ['Integrated loudness (LUFS)', fmt(before.integrated), fmt(after.integrated)],
      ['True peak (dBTP)', fmt(before.truePeak), fmt(after.truePeak)],
      ['Loudness range (LU)', fmt(before.range), fmt(after.range)],
      ['Crest factor (dB)', fmt(before.crestFactorDb), fmt(after.crestFactorDb)],
      ['Stereo width (side/mid)', fmt(before.stereoWidth, 2), fmt(after.stereoWidth, 2)],
      ['Correlation', fmt(before.correlation, 2), fmt(after.correlation, 2)],
    ];
    const [a, b] = await Promise.all([fetchAudio(job.links.input), fetchAudio(job.links.master!)]).catch((error: Error) => {
      errorLine.textContent = error.message;
      return ['', ''];
    });
    const save = h('button', { onclick: async () => {
      const response = await api(session, 'GET', job.links.master!);
      if (response.ok) await download(response, `${job.input.name.replace(/\.[a-z0-9]+$/i, '')}-master.${job.options.format === 'aac' ? 'm4a' : job.options.format.startsWith('wav') ? 'wav' : job.options.format}`);
      else errorLine.textContent = await problem(response, 'the master could not be downloaded');
    } }, 'Download the master');
    results.replaceChildren(
      h('div', { class: 'card' }, h('h2', {}, `Template: ${template.label}`), h('p', {}, job.result.converged ? `On target: ${fmt(after.integrated)} LUFS, true peak ${fmt(after.truePeak)} dBTP.` : 'The master could not reach the target within the tolerance.')),
      h('table', { class: 'card', 'data-testid': 'mastering-figures' }, h('caption', {}, 'Before and after'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'measure'), h('th', { scope: 'col' }, 'before'), h('th', { scope: 'col' }, 'after'))), h('tbody', {}, ...rows.map(([name, x, y]) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, x), h('td', {}, y))))),
      chart('Short-term loudness (LUFS)', `from ${fmt(before.integrated)} to ${fmt(after.integrated)} LUFS integrated`, before.shortTerm, after.shortTerm, -60, 0, []),
      chart('Spectrum, 1/3 octaves (dB)', 'level per band relative to the loudest band, before and after', before.thirdOctaves, after.thirdOctaves, -60, 0, ticks),
      h('div', { class: 'card' }, h('h2', {}, 'Listen: A/B'), h('p', {}, h('span', {}, 'A (mix) '), h('audio', { controls: true, src: a, 'aria-label': 'A: the mix', 'data-testid': 'audio-a' })), h('p', {}, h('span', {}, 'B (master) '), h('audio', { controls: true, src: b, 'aria-label': 'B: the master', 'data-testid': 'audio-b' })), save),
      h('div', { class: 'card', 'data-testid': 'mastering-suggestions' }, h('h2', {}, 'Suggestions'), h('ul', {}, ...(suggestions.before.length ? suggestions.before.map((s) => h('li', {}, s.message)) : [h('li', {}, 'Nothing to flag in the mix.')]))),
    );
  };

  const follow = (job: Job) => {
    socket?.close();
    socket = new WebSocket(wsUrl(`/mastering/jobs/${job.id}`), socketProtocols(session));
    socket.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as Pick<Job, 'state' | 'progress' | 'stage' | 'error'>;
      bar.value = frame.progress;
      stage.textContent = `${frame.state}: ${frame.stage} (${Math.round(frame.progress * 100)} %)`;
      if (frame.state === 'done' || frame.state === 'failed') void refresh(job.id);
    };
  };

  const refresh = async (id: string) => {
    const response = await api(session, 'GET', `/api/v1/mastering/${id}`);
    if (!response.ok) {
      errorLine.textContent = await problem(response, 'the job could not be read');
      return;
    }
    await show((await response.json()) as Job);
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) {
      errorLine.textContent = 'choose an audio file first';
      return;
    }
    errorLine.textContent = '';
    results.replaceChildren();
    const query = new URLSearchParams({ target: target.value, genre: genre.value, format: format.value, name: chosen.name });
    void api(session, 'POST', `/api/v1/mastering?${query}`, chosen, chosen.type || 'application/octet-stream').then(async (response) => {
      if (!response.ok) {
        errorLine.textContent = await problem(response, 'the mix was refused');
        stage.textContent = 'choose a mix to master';
        return;
      }
      const job = (await response.json()) as Job;
      current = job;
      stage.textContent = 'queued';
      follow(job);
    });
  });

  return {
    job: () => current,
    destroy: () => {
      socket?.close();
      for (const url of urls) URL.revokeObjectURL(url);
    },
  };
}
