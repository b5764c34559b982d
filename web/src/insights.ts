// Creator insights (#/insights): what listeners do with the signed-in creator's tracks, read from
// the insights API (/api/v1/insights and its heatmap, funnel, cohorts and churn routes) and, live,
// from /insights/live/<creator> over a WebSocket. Every chart has a name for screen readers and a
// text summary beside it: the numbers are readable without the picture.
import { BarChart, FunnelChart, HeatmapChart, type BarSeriesOption, type FunnelSeriesOption, type HeatmapSeriesOption } from 'echarts/charts';
import { GridComponent, TooltipComponent, VisualMapContinuousComponent, type GridComponentOption, type TooltipComponentOption, type VisualMapComponentOption } from 'echarts/components';
import { init, use, type ComposeOption, type EChartsType } from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { api, h, problem, socketProtocols, wsUrl, type Session } from './api.js';
import { connectionBanner, serverBack } from './connection.js';

// Only what these charts use goes into the bundle.
use([BarChart, FunnelChart, HeatmapChart, GridComponent, TooltipComponent, VisualMapContinuousComponent, CanvasRenderer]);
type Option = ComposeOption<BarSeriesOption | FunnelSeriesOption | HeatmapSeriesOption | GridComponentOption | TooltipComponentOption | VisualMapComponentOption>;

// The API's answers, as far as this screen reads them (src/insights/routes.ts, queries.ts, live-dashboards.ts).
interface Revenue {
  currency: string;
  amountMinor: number;
  purchases: number;
}
interface TrackRow {
  trackId: string;
  title: string | null;
  plays: number;
  completes: number;
  skips: number;
  listenMs: number;
  likes: number;
  shares: number;
  purchases: number;
}
interface Step {
  step: 'stream' | 'like' | 'share' | 'purchase';
  users: number;
  conversion: number | null;
}
interface Overview {
  /** The creator's tracks in the catalogue, played in the period or not. */
  catalogue: { trackId: string; title: string | null }[];
  listening: { plays: number; listeners: number; listenHours: number; completionRate: number | null; skipRate: number | null; tracks: TrackRow[] };
  collaboration: { sessions: number; collaborators: number; score: number };
  monetization: { revenue: Revenue[]; buyers: number; score: number };
  churnRisk: { status: 'ok'; activeListeners: number; atRiskShare: number; atRisk: number } | { status: string; reason: string };
  recommendations: string[];
}
interface Heatmap {
  buckets: { bucket: number; position: number; listens: number; retention: number | null; drops: number; seeks: number; replays: number }[];
  otherTracks: (number | null)[] | null;
  keyMoments: { biggestDrop: number | null; mostReplayed: number | null; mostSeekedTo: number | null };
}
interface Cohort {
  week: string;
  users: number;
  /** null for a week that has not begun. */
  retention: (number | null)[];
}
type Churn =
  | { status: 'ok'; horizonDays: number; activeListeners: number; atRiskShare: number; evaluation: { auc: number }; atRisk: { userId: string; score: number; reasons: string[] }[] }
  | { status: string; reason: string; horizonDays: number };
interface LiveFrame {
  at: string;
  listenersNow: number;
  playsPerMinute: { minute: string; plays: number }[];
  playsPerHour: { hour: string; plays: number }[];
  totals: { likes: number; shares: number; purchases: number };
}

export interface InsightsHandle {
  /** What the live panel shows now (status, listeners now, plays per minute as charted), for tests. */
  live(): { status: string; listenersNow: number | null; perMinute: number[] };
  destroy(): void;
}

const DAY_MS = 86_400_000;
const COHORT_WEEKS = 8;
const SEGMENTS = [
  ['all', 'all listeners'],
  ['super', 'super listeners'],
  ['moderate', 'moderate listeners'],
  ['light', 'light listeners'],
  ['previously-active', 'previously active listeners'],
  ['new', 'new listeners'],
] as const;
const STEPS: Record<Step['step'], [string, string]> = {
  stream: ['Stream', 'streamed'],
  like: ['Like', 'liked'],
  share: ['Share', 'shared'],
  purchase: ['Purchase', 'bought'],
};
/** The churn model's features (src/insights/churn-features.ts), in words; its values are log-scaled, so only the names are shown. */
const FEATURES: Record<string, string> = {
  active_days_7: 'active days last week',
  active_days_28: 'active days in four weeks',
  log_plays_7: 'plays last week',
  plays_trend: 'plays trend',
  log_listen_hours_28: 'hours listened in four weeks',
  skip_rate_28: 'skip rate',
  log_likes_shares_28: 'likes and shares',
  log_purchases_90: 'purchases',
  log_days_since_active: 'time since the last listen',
  log_tenure_days: 'time since the first listen',
  weekly_streak: 'weekly streak',
};

const count = (n: number) => n.toLocaleString();
const percent = (x: number | null) => (x === null ? '–' : `${Math.round(x * 100)} %`);
const trackName = (t: { trackId: string; title: string | null }) => t.title ?? t.trackId;
const at = (position: number) => `${Math.round(position * 100)} %`;
function money(revenue: Revenue[]): string {
  if (revenue.length === 0) return 'none yet';
  return revenue
    .map((r) => {
      const format = new Intl.NumberFormat(undefined, { style: 'currency', currency: r.currency });
      // amountMinor is in the currency's smallest unit: cents for EUR, yen for JPY.
      return format.format(r.amountMinor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
    })
    .join(' + ');
}

/** A chart: a named picture (role img) whose ECharts instance starts with its first data and follows its box's size. */
interface Chart {
  readonly element: HTMLElement;
  show(option: Option): void;
  /** Takes the picture away (an empty answer): the summary beside it says why. */
  clear(): void;
  dispose(): void;
}

export function openInsights(root: HTMLElement, session: Session): InsightsHandle {
  const creator = session.userId;
  let alive = true;
  const charts: Chart[] = [];
  // One observer for every chart: ECharts draws at a fixed size, so each redraws when its box changes.
  const onResize = new Map<Element, () => void>();
  const resized = new ResizeObserver((entries) => {
    for (const entry of entries) onResize.get(entry.target)?.();
  });
  const chart = (testId: string, label: string, summaryId: string, className = ''): Chart => {
    const element = h('div', { class: `chart ${className}`, role: 'img', 'aria-label': label, 'aria-describedby': summaryId, 'data-testid': testId });
    let instance: EChartsType | null = null;
    onResize.set(element, () => instance?.resize());
    const made: Chart = {
      element,
      show: (option) => {
        if (!alive) return;
        // Created on first data, once the box is on the page and has its size.
        instance ??= init(element, 'dark', { renderer: 'canvas' });
        instance.setOption({ backgroundColor: 'transparent', animation: false, ...option }, { notMerge: true });
      },
      clear: () => instance?.clear(),
      dispose: () => instance?.dispose(),
    };
    charts.push(made);
    resized.observe(element);
    return made;
  };
  /** Answers to a question asked again (another track, another kind) make the older ones stale. */
  const turns = () => {
    let n = 0;
    return () => {
      const mine = ++n;
      return () => alive && mine === n;
    };
  };
  /** A GET of the insights API: the body, or a sentence saying why there is none. */
  const read = async <T>(path: string, what: string): Promise<{ body: T } | { status: number; error: string }> => {
    const response = await api(session, 'GET', path).catch(() => null);
    if (!response) return { status: 0, error: `reading ${what} needs the server, which cannot be reached now` };
    if (!response.ok) return { status: response.status, error: await problem(response, `${what} could not be read`) };
    return { body: (await response.json()) as T };
  };
  const panel = (testId: string, title: string, className: string, ...children: (Node | string)[]) =>
    h('section', { class: `panel ${className}`, 'data-testid': testId, 'aria-labelledby': `insights-${testId}-title` }, h('h2', { id: `insights-${testId}-title` }, title), ...children);
  const summary = (id: string, testId: string) => h('div', { class: 'summary', id, 'data-testid': testId }, h('p', { class: 'muted' }, 'loading…'));
  const problemLine = () => h('p', { class: 'error', role: 'alert' });
  const q = encodeURIComponent(creator);

  const banner = connectionBanner();
  const errorLine = h('div', { class: 'error', role: 'alert' });
  const body = h('div', { class: 'insights', 'data-testid': 'insights' }, h('p', { class: 'muted' }, 'loading…'));
  root.replaceChildren(h('div', {}, banner.element, h('div', { class: 'toolbar' }, h('h2', {}, 'Insights'), h('span', { class: 'muted' }, 'your tracks over the last 28 days')), errorLine, body));

  // Overview: figures, advice and the tracks' table.
  const stats = h('dl', { class: 'stats', 'data-testid': 'stats' });
  const advice = h('ul', { class: 'plain advice', 'data-testid': 'advice' });
  const trackTable = h('tbody');

  // Heat-map: one track's timeline, what listeners did at each point.
  const heatTrack = h('select', { 'aria-label': 'track for the heat-map', 'data-testid': 'heatmap-track' });
  const heatSegment = h('select', { 'aria-label': 'listeners in the heat-map', 'data-testid': 'heatmap-segment' }, ...SEGMENTS.map(([value, label]) => h('option', { value }, label)));
  const heatSummary = summary('insights-heatmap-summary', 'heatmap-summary');
  const heatChart = chart('heatmap-chart', 'Heat-map of listening along the track: listening, leaving, seeking and replaying at each point', heatSummary.id, 'tall');
  const heatError = problemLine();
  const heatTurn = turns();
  const loadHeatmap = async () => {
    const current = heatTurn();
    heatError.textContent = '';
    const track = heatTrack.value;
    const name = heatTrack.selectedOptions[0]?.textContent ?? track;
    const answer = await read<Heatmap>(`/api/v1/insights/heatmap?track_id=${encodeURIComponent(track)}&segment=${heatSegment.value}`, 'the heat-map');
    if (!current()) return;
    if ('error' in answer) return void (heatError.textContent = answer.error);
    const buckets = answer.body.buckets;
    const rows = [
      ['Listening', 'listens'],
      ['Left', 'drops'],
      ['Arrived by seeking', 'seeks'],
      ['Replayed', 'replays'],
    ] as const;
    // Listening counts dwarf the rest: each row is coloured against its own largest value.
    const data = rows.flatMap(([, key], row) => {
      const most = Math.max(1, ...buckets.map((b) => b[key]));
      return buckets.map((b) => ({ value: [b.bucket, row, b[key] / most], count: b[key] }));
    });
    heatChart.show({
      grid: { left: 130, right: 16, top: 8, bottom: 36 },
      tooltip: { formatter: (p) => { const d = p as unknown as { data: { value: number[]; count: number } }; return `${rows[d.data.value[1]!]![0]} at ${at(buckets[d.data.value[0]!]!.position)}: ${count(d.data.count)}`; } },
      xAxis: { type: 'category', data: buckets.map((b) => at(b.position)), name: 'position in the track', nameLocation: 'middle', nameGap: 24, splitArea: { show: true } },
      yAxis: { type: 'category', data: rows.map(([label]) => label), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: 1, show: false, inRange: { color: ['#1a1d21', '#2b4bc0', '#f76b15', '#ffc53d'] } },
      series: [{ type: 'heatmap', data, emphasis: { itemStyle: { borderColor: '#fff', borderWidth: 1 } } }],
    });
    const started = buckets[0]?.listens ?? 0;
    const segment = SEGMENTS.find(([value]) => value === heatSegment.value)![1];
    if (buckets.every((b) => b.listens === 0 && b.seeks === 0)) {
      heatSummary.replaceChildren(h('p', {}, `No listening of ${name} by ${segment} in the last 28 days.`));
      return;
    }
    const half = buckets[Math.floor(buckets.length / 2)];
    const end = buckets[buckets.length - 1];
    const others = answer.body.otherTracks?.[Math.floor(buckets.length / 2)];
    const moment = (bucket: number | null, text: string) => (bucket === null ? null : `${text} at ${at(buckets[bucket]!.position)}`);
    const moments = [moment(answer.body.keyMoments.biggestDrop, 'most listeners left'), moment(answer.body.keyMoments.mostReplayed, 'most replays start'), moment(answer.body.keyMoments.mostSeekedTo, 'most seeks land')].filter((m) => m !== null);
    heatSummary.replaceChildren(
      h(
        'p',
        {},
        h('b', { 'data-testid': 'heatmap-started' }, count(started)),
        // Retention is listening at a point against listening at the start: seeks and replays can take it over 100 %.
        ` listens of ${name} started from the beginning (${segment}); listening half-way was ${percent(half?.retention ?? null)} of that and ${percent(end?.retention ?? null)} at the end`,
        others === null || others === undefined ? '.' : ` (your other tracks: ${percent(others)} half-way).`,
      ),
      moments.length ? h('p', {}, `${moments.join('; ')}.`.replace(/^./, (c) => c.toUpperCase())) : '',
    );
  };
  heatTrack.addEventListener('change', () => void loadHeatmap());
  heatSegment.addEventListener('change', () => void loadHeatmap());

  // Funnel: stream → like → share → purchase, of everyone or of one track.
  const funnelTrack = h('select', { 'aria-label': 'tracks in the funnel', 'data-testid': 'funnel-track' });
  const funnelSummary = summary('insights-funnel-summary', 'funnel-summary');
  const funnelChart = chart('funnel-chart', 'Funnel of new listeners: streamed, then liked, shared and bought', funnelSummary.id);
  const funnelError = problemLine();
  const funnelTurn = turns();
  const loadFunnel = async () => {
    const current = funnelTurn();
    funnelError.textContent = '';
    const which = funnelTrack.value ? `track_id=${encodeURIComponent(funnelTrack.value)}` : `creator_id=${q}`;
    const answer = await read<{ all: Step[] }>(`/api/v1/insights/funnel?${which}`, 'the funnel');
    if (!current()) return;
    if ('error' in answer) return void (funnelError.textContent = answer.error);
    const steps = answer.body.all;
    funnelChart.show({
      tooltip: { trigger: 'item', formatter: '{b}: {c}' },
      series: [
        {
          type: 'funnel',
          sort: 'none',
          min: 0,
          max: Math.max(1, steps[0]?.users ?? 0),
          minSize: '4%',
          left: 16,
          right: 16,
          top: 8,
          bottom: 8,
          gap: 2,
          label: { position: 'inside', formatter: '{b}: {c}', color: '#fff' },
          data: steps.map((s) => ({ name: STEPS[s.step][0], value: s.users })),
        },
      ],
    });
    funnelSummary.replaceChildren(
      h('p', {}, 'Listeners who first played ', funnelTrack.value ? (funnelTrack.selectedOptions[0]?.textContent ?? funnelTrack.value) : 'one of your tracks', ' in the last 28 days, and how far they went:'),
      h(
        'ol',
        { class: 'steps', 'data-testid': 'funnel-steps' },
        ...steps.map((s, i) =>
          h('li', { 'data-step': s.step }, h('b', {}, count(s.users)), ` ${STEPS[s.step][1]}`, i === 0 ? '' : ` (${percent(s.conversion)} of those who ${STEPS[steps[i - 1]!.step][1]})`),
        ),
      ),
    );
  };
  funnelTrack.addEventListener('change', () => void loadFunnel());

  // Cohorts: of the listeners (or followers) who started in a week, the share who played again k weeks later.
  const cohortKind = h(
    'select',
    { 'aria-label': 'cohorts of', 'data-testid': 'cohort-kind' },
    h('option', { value: 'listeners' }, 'listeners, by the week of their first listen'),
    h('option', { value: 'followers' }, 'followers, by the week they followed'),
  );
  const cohortSummary = summary('insights-cohorts-summary', 'cohort-summary');
  const cohortChart = chart('cohort-chart', 'Retention matrix: for each starting week, the share who listened again in each later week', cohortSummary.id, 'tall');
  const cohortError = problemLine();
  const cohortTurn = turns();
  const loadCohorts = async () => {
    const current = cohortTurn();
    cohortError.textContent = '';
    // The server's default end (the next midnight, UTC), and as many weeks back as the matrix is wide.
    const to = Math.floor(Date.now() / DAY_MS + 1) * DAY_MS;
    const from = new Date(to - COHORT_WEEKS * 7 * DAY_MS).toISOString().slice(0, 10);
    const kind = cohortKind.value;
    const answer = await read<{ cohorts: Cohort[] }>(`/api/v1/insights/cohorts?creator_id=${q}&kind=${kind}&weeks=${COHORT_WEEKS}&from=${from}`, 'the cohorts');
    if (!current()) return;
    if ('error' in answer) return void (cohortError.textContent = answer.error);
    const cohorts = answer.body.cohorts;
    const who = kind === 'listeners' ? 'listeners' : 'followers';
    if (cohorts.length === 0) {
      cohortChart.clear();
      cohortSummary.replaceChildren(h('p', {}, kind === 'listeners' ? 'Nobody listened to you for the first time in the last 8 weeks.' : 'Nobody followed you in the last 8 weeks.'));
      return;
    }
    // A week that has not begun has no retention (null): it is left blank.
    const reached = (c: Cohort, k: number) => typeof c.retention[k] === 'number';
    const weeks = Array.from({ length: COHORT_WEEKS }, (_, k) => k);
    cohortChart.show({
      grid: { left: 140, right: 16, top: 8, bottom: 36 },
      tooltip: { formatter: (p) => { const d = p as unknown as { value: number[] }; return `${who} of the week of ${cohorts[d.value[1]!]!.week}, week ${d.value[0]}: ${percent(d.value[2]!)}`; } },
      xAxis: { type: 'category', data: weeks.map((k) => `week ${k}`), name: 'weeks since starting', nameLocation: 'middle', nameGap: 24, splitArea: { show: true } },
      yAxis: { type: 'category', data: cohorts.map((c) => `${c.week} (${count(c.users)})`), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: 1, show: false, inRange: { color: ['#1a1d21', '#2b4bc0', '#3fb950'] } },
      series: [
        {
          type: 'heatmap',
          data: cohorts.flatMap((c, row) => weeks.filter((k) => reached(c, k)).map((k) => [k, row, c.retention[k] ?? 0])),
          label: { show: true, color: '#e6e8eb', formatter: (p) => percent((p.value as number[])[2]!) },
        },
      ],
    });
    const users = cohorts.reduce((s, c) => s + c.users, 0);
    const back = cohorts.filter((c) => reached(c, 1));
    const backShare = back.length ? back.reduce((s, c) => s + c.users * (c.retention[1] ?? 0), 0) / back.reduce((s, c) => s + c.users, 0) : null;
    cohortSummary.replaceChildren(
      h('p', {}, `${count(users)} ${who} in ${cohorts.length} weekly cohort${cohorts.length === 1 ? '' : 's'}`, backShare === null ? '; none has had a second week yet.' : `; ${percent(backShare)} of them listened again the week after.`),
      h(
        'details',
        {},
        h('summary', {}, 'Numbers by week'),
        h(
          'table',
          { class: 'numbers', 'data-testid': 'cohort-table' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Week of'), h('th', { scope: 'col' }, who), ...weeks.slice(1).map((k) => h('th', { scope: 'col' }, `week ${k}`)))),
          h(
            'tbody',
            {},
            ...cohorts.map((c) => h('tr', { 'data-week': c.week }, h('th', { scope: 'row' }, c.week), h('td', {}, count(c.users)), ...weeks.slice(1).map((k) => h('td', {}, reached(c, k) ? percent(c.retention[k] ?? 0) : '')))),
          ),
        ),
      ),
    );
  };
  cohortKind.addEventListener('change', () => void loadCohorts());

  // Churn: who of the active listeners may stop listening in the next weeks.
  const churnBox = h('div', { 'data-testid': 'churn' }, h('p', { class: 'muted' }, 'loading…'));
  const loadChurn = async () => {
    const answer = await read<Churn>(`/api/v1/insights/churn?creator_id=${q}`, 'churn risk');
    if (!alive) return;
    if ('error' in answer) return void churnBox.replaceChildren(h('p', { class: 'error', role: 'alert' }, answer.error));
    const churn = answer.body;
    if (!('atRisk' in churn)) {
      churnBox.replaceChildren(h('p', {}, 'Not enough listening history yet to tell who may stop listening.'), h('p', { class: 'muted', 'data-testid': 'churn-reason' }, `Why: ${churn.reason}.`));
      return;
    }
    const atRisk = Math.round(churn.atRiskShare * churn.activeListeners);
    churnBox.replaceChildren(
      h('p', {}, h('b', { 'data-testid': 'churn-share' }, percent(churn.atRiskShare)), ` of your ${count(churn.activeListeners)} listeners active in the last 4 weeks (${count(atRisk)}) may stop listening in the next ${churn.horizonDays} days.`),
      h('meter', { min: 0, max: 1, value: churn.atRiskShare, 'aria-label': 'share of active listeners at risk' }),
      h('p', { class: 'muted' }, `The estimate, checked on earlier listeners, ranks who left above who stayed ${percent(churn.evaluation.auc)} of the time (50 % is guessing).`),
      churn.atRisk.length === 0
        ? h('p', {}, 'Nobody looks likely to stop listening.')
        : h(
            'ul',
            { class: 'plain', 'data-testid': 'churn-list' },
            ...churn.atRisk.slice(0, 10).map((u) => h('li', {}, h('b', {}, u.userId), ` ${percent(u.score)} risk`, u.reasons.length ? h('span', { class: 'muted' }, ` · ${u.reasons.map((r) => FEATURES[r.split(' = ')[0]!] ?? r.split(' = ')[0]).join(', ')}`) : '')),
            ...(churn.atRisk.length > 10 ? [h('li', { class: 'muted' }, `and ${churn.atRisk.length - 10} more`)] : []),
          ),
    );
  };

  // Live: listeners now and plays per minute over the last hour, pushed as plays are stored.
  const liveStatus = h('span', { class: 'badge', 'data-testid': 'live-status' }, 'connecting…');
  const reconnect = h('button', { class: 'small', hidden: true }, 'Reconnect');
  const liveListeners = h('b', { 'data-testid': 'live-listeners' }, '–');
  const liveMinute = h('b', { 'data-testid': 'live-last-minute' }, '–');
  const liveHour = h('b', { 'data-testid': 'live-last-hour' }, '–');
  const liveNote = h('span', { class: 'muted' });
  const liveSummary = h(
    'div',
    { class: 'summary', id: 'insights-live-summary', 'data-testid': 'live-summary' },
    h('p', {}, liveListeners, ' listening now (in the last 5 minutes) · ', liveMinute, ' plays this minute · ', liveHour, ' in the last hour'),
    h('p', {}, liveNote),
  );
  const liveChart = chart('live-chart', 'Plays per minute over the last hour', liveSummary.id);
  let frame: LiveFrame | null = null;
  let frameAt = 0;
  let perMinute: number[] = [];
  /**
   * Frames come only when the counters move: between two, the hour's window moves on with the
   * clock here (from the server's time of the frame), so a quiet minute shows as 0.
   */
  const showLive = () => {
    if (!frame || !alive) return;
    const serverNow = Date.parse(frame.at) + (Date.now() - frameAt);
    const moved = Math.max(0, Math.floor(serverNow / 60_000) - Math.floor(Date.parse(frame.at) / 60_000));
    const minutes = frame.playsPerMinute.slice(moved).concat(Array.from({ length: Math.min(moved, 60) }, (_, i) => ({ minute: new Date((Math.floor(serverNow / 60_000) - Math.min(moved, 60) + 1 + i) * 60_000).toISOString(), plays: 0 })));
    perMinute = minutes.map((m) => m.plays);
    liveListeners.textContent = count(frame.listenersNow);
    liveMinute.textContent = count(perMinute[perMinute.length - 1] ?? 0);
    liveHour.textContent = count(perMinute.reduce((s, n) => s + n, 0));
    const since = new Date(Date.parse(frame.at)).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const day = frame.playsPerHour.reduce((s, x) => s + x.plays, 0);
    liveNote.textContent = `Listeners as of ${since}. ${count(day)} plays in the last 48 hours; since this dashboard opened, ${count(frame.totals.likes)} likes, ${count(frame.totals.shares)} shares and ${count(frame.totals.purchases)} purchases.`;
    liveChart.show({
      grid: { left: 40, right: 16, top: 12, bottom: 28 },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'category', data: minutes.map((m) => new Date(m.minute).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })) },
      yAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'bar', name: 'plays', data: perMinute, itemStyle: { color: '#3fb950' } }],
    });
  };
  const tick = setInterval(showLive, 15_000);
  const stopped = new AbortController();
  let socket: WebSocket | null = null;
  let failures = 0;
  const follow = () => {
    if (!alive) return;
    reconnect.hidden = true;
    const ws = new WebSocket(wsUrl(`/insights/live/${q}`), socketProtocols(session));
    socket = ws;
    let heard = false;
    ws.onopen = () => {
      liveStatus.textContent = 'live';
      banner.online();
    };
    ws.onmessage = (event) => {
      heard = true;
      failures = 0;
      frame = JSON.parse(String(event.data)) as LiveFrame;
      frameAt = Date.now();
      showLive();
    };
    ws.onclose = (event) => {
      if (socket !== ws || !alive) return;
      socket = null;
      // 1006: the connection was lost (or refused before it opened); 1001: the server is going away.
      if (event.code === 1006 || event.code === 1001) {
        liveStatus.textContent = 'reconnecting…';
        banner.offline('Not connected to the server: the live numbers carry on when it is back.');
        // A server that answers its health check but refuses the socket is not asked again at once.
        if (!heard) failures++;
        const wait = failures > 1 ? Math.min(30_000, 1000 * 2 ** failures) : 0;
        void serverBack(stopped.signal).then(
          () => setTimeout(follow, wait),
          () => undefined,
        );
        return;
      }
      liveStatus.textContent = `not live${event.reason ? `: ${event.reason}` : ''}`;
      reconnect.hidden = false;
    };
  };
  reconnect.addEventListener('click', follow);

  const stop = () => {
    alive = false;
    stopped.abort();
    clearInterval(tick);
    const ws = socket;
    socket = null;
    ws?.close();
    resized.disconnect();
    for (const c of charts) c.dispose();
  };

  const start = async () => {
    const answer = await read<Overview>(`/api/v1/insights?creator_id=${q}`, 'your insights');
    if (!alive) return;
    if ('error' in answer) {
      // 404: the creator has no track in the catalogue, so there is nothing to count yet.
      if (answer.status === 404) {
        body.replaceChildren(
          h(
            'section',
            { class: 'panel empty', 'data-testid': 'insights-empty', 'aria-labelledby': 'insights-empty-title' },
            h('h2', { id: 'insights-empty-title' }, 'No insights yet'),
            h('p', {}, 'None of your tracks are in the catalogue yet. Once one is published and people play it, you will see here who listens, where they skip, and what they buy.'),
          ),
        );
      } else {
        body.replaceChildren();
        errorLine.textContent = answer.error;
      }
      liveStatus.textContent = '';
      return;
    }
    const o = answer.body;
    const l = o.listening;
    const stat = (testId: string, label: string, value: string, detail?: string) =>
      h('div', { class: 'stat' }, h('dt', {}, label), h('dd', {}, h('b', { 'data-testid': testId }, value), detail ? h('span', { class: 'muted' }, detail) : ''));
    const risk = o.churnRisk;
    stats.replaceChildren(
      stat('stat-plays', 'Plays', count(l.plays)),
      stat('stat-listeners', 'Listeners', count(l.listeners), `${count(l.listenHours)} hours listened`),
      stat('stat-completion', 'Completion rate', percent(l.completionRate), 'of plays heard to the end'),
      stat('stat-skip', 'Skip rate', percent(l.skipRate), 'of plays left within 30 s'),
      stat('stat-revenue', 'Revenue', money(o.monetization.revenue), `${count(o.monetization.buyers)} new listener${o.monetization.buyers === 1 ? '' : 's'} bought`),
      stat('stat-collaboration', 'Collaboration score', `${o.collaboration.score}/100`, `${count(o.collaboration.collaborators)} collaborators, ${count(o.collaboration.sessions)} sessions`),
      stat('stat-monetization', 'Monetization score', `${o.monetization.score}/100`, 'new listeners who buy'),
      'atRiskShare' in risk
        ? stat('stat-churn', 'Churn risk', percent(risk.atRiskShare), `${count(risk.atRisk)} of ${count(risk.activeListeners)} active listeners`)
        : stat('stat-churn', 'Churn risk', '–', 'not enough history yet'),
    );
    advice.replaceChildren(...o.recommendations.map((text) => h('li', {}, text)));
    if (o.recommendations.length === 0) advice.append(h('li', { class: 'muted' }, 'Nothing to suggest for now.'));
    trackTable.replaceChildren(
      ...l.tracks.map((t) =>
        h(
          'tr',
          { 'data-track': t.trackId },
          h('th', { scope: 'row' }, trackName(t)),
          h('td', {}, count(t.plays)),
          h('td', {}, percent(t.plays ? t.completes / t.plays : null)),
          h('td', {}, percent(t.plays ? t.skips / t.plays : null)),
          h('td', {}, count(t.likes)),
          h('td', {}, count(t.shares)),
          h('td', {}, count(t.purchases)),
        ),
      ),
    );
    if (l.tracks.length === 0) trackTable.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'None of your tracks was played in the last 28 days.')));

    // Played tracks first (the heat-map opens on the most played), then the rest of the catalogue.
    const played = new Set(l.tracks.map((t) => t.trackId));
    const choices = [...l.tracks, ...o.catalogue.filter((t) => !played.has(t.trackId))];
    heatTrack.replaceChildren(...choices.map((t) => h('option', { value: t.trackId }, trackName(t))));
    funnelTrack.replaceChildren(h('option', { value: '' }, 'all your tracks'), ...choices.map((t) => h('option', { value: t.trackId }, trackName(t))));
    heatTrack.disabled = choices.length === 0;

    body.replaceChildren(
      panel('overview', 'Overview', 'wide', stats),
      panel('advice-panel', 'Advice', '', advice),
      panel('live', 'Right now', '', h('div', { class: 'controls' }, liveStatus, reconnect), liveChart.element, liveSummary),
      panel('heatmap', 'Where listeners stay, leave and replay', 'wide', h('div', { class: 'controls' }, heatTrack, heatSegment), heatError, heatChart.element, heatSummary),
      panel('funnel', 'From stream to purchase', '', h('div', { class: 'controls' }, funnelTrack), funnelError, funnelChart.element, funnelSummary),
      panel('churn-panel', 'Listeners who may stop listening', '', churnBox),
      panel('cohorts', 'Do listeners come back?', 'wide', h('div', { class: 'controls' }, cohortKind), cohortError, cohortChart.element, cohortSummary),
      panel(
        'tracks',
        'Your tracks',
        'wide',
        h(
          'table',
          { class: 'numbers', 'data-testid': 'track-table' },
          h('thead', {}, h('tr', {}, ...['Track', 'Plays', 'Completed', 'Skipped', 'Likes', 'Shares', 'Purchases'].map((c) => h('th', { scope: 'col' }, c)))),
          trackTable,
        ),
      ),
    );
    if (choices.length > 0) void loadHeatmap();
    else heatSummary.replaceChildren(h('p', {}, 'None of your tracks was played in the last 28 days.'));
    void loadFunnel();
    void loadCohorts();
    void loadChurn();
    follow();
  };
  void start();

  return {
    live: () => ({ status: liveStatus.textContent ?? '', listenersNow: frame?.listenersNow ?? null, perMinute: [...perMinute] }),
    destroy: stop,
  };
}
