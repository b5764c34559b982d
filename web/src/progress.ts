// One's progress on the platform: level and points, achievements earned and under way, community
// quests, and a leaderboard that moves live (/gamification/leaderboards/points over a WebSocket).
// The standing is read through the client generated from the server's OpenAPI document (api-client.ts).
import { h, socketProtocols, wsUrl, type Session } from './api.js';
import { call } from './api-client.js';

interface LeaderboardFrame {
  entries: { rank: number; member: string; value: number }[];
}

export interface ProgressHandle {
  /** The leaderboard rows on screen now, for tests. */
  board(): { rank: number; member: string; value: number }[];
  destroy(): void;
}

const PERIODS = [
  ['week', 'this week'],
  ['month', 'this month'],
  ['all', 'all time'],
] as const;

const bar = (current: number, goal: number, label: string) => h('progress', { max: String(goal), value: String(Math.min(current, goal)), 'aria-label': label, title: `${current} of ${goal}` });

export async function openProgress(root: HTMLElement, session: Session): Promise<ProgressHandle> {
  const errorLine = h('div', { class: 'error', role: 'alert' });
  const levelBox = h('div', { class: 'card', 'data-testid': 'level' }, h('h2', {}, 'Your level'), h('p', { class: 'muted' }, 'loading…'));
  const achievementsBox = h('div', { class: 'card', 'data-testid': 'achievements' }, h('h2', {}, 'Achievements'));
  const questsBox = h('div', { class: 'card', 'data-testid': 'quests' }, h('h2', {}, 'Community quests'));
  const boardList = h('ol', { class: 'leaderboard', 'data-testid': 'leaderboard' });
  const period = h('select', { 'aria-label': 'leaderboard period' }, ...PERIODS.map(([value, label]) => h('option', { value, selected: value === 'week' }, label)));
  const boardStatus = h('span', { class: 'muted', 'data-testid': 'leaderboard-status' }, 'connecting…');
  const boardBox = h('div', { class: 'card' }, h('h2', {}, 'Leaderboard: points'), h('div', { class: 'toolbar' }, period, boardStatus), boardList);
  root.replaceChildren(h('div', {}, errorLine, h('div', { class: 'home' }, levelBox, achievementsBox, questsBox, boardBox)));

  // The standing is read when the screen opens and again whenever one's own leaderboard entry moves,
  // so points and achievements earned while the screen is open show without a reload.
  const showStanding = async () => {
    const reply = await call(session.token, 'GET /api/v1/gamification/me', {}).catch(() => null);
    if (!reply) {
      errorLine.textContent = 'your progress needs the server, which cannot be reached now';
      return;
    }
    if (!reply.ok) {
      errorLine.textContent = `your progress could not be read: ${reply.detail}`;
      return;
    }
    errorLine.textContent = '';
    const me = reply.data;
    levelBox.replaceChildren(
      h('h2', {}, `Level ${me.level}`),
      h('p', {}, h('b', { 'data-testid': 'points' }, `${me.points} points`), h('span', { class: 'muted' }, ` · level ${me.level + 1} at ${me.nextLevelAt}`)),
      bar(me.points, me.nextLevelAt, 'points toward the next level'),
    );
    achievementsBox.replaceChildren(
      h('h2', {}, 'Achievements'),
      me.achievements.length === 0
        ? h('p', { class: 'muted' }, 'None earned yet.')
        : h('ul', { class: 'plain' }, ...me.achievements.map((a) => h('li', {}, h('b', {}, a.title), h('span', { class: 'muted' }, ` ${a.category} · ${a.points} points · ${new Date(a.awardedAt).toLocaleDateString()}`)))),
      ...(me.progress.length > 0 ? [h('h3', {}, 'Under way'), h('ul', { class: 'plain' }, ...me.progress.map((p) => h('li', {}, `${p.title} `, bar(p.current, p.goal, p.title), h('span', { class: 'muted' }, ` ${p.current}/${p.goal}`))))] : []),
    );
    questsBox.replaceChildren(
      h('h2', {}, 'Community quests'),
      me.quests.length === 0
        ? h('p', { class: 'muted' }, 'No quest running.')
        : h(
            'ul',
            { class: 'plain' },
            ...me.quests.map((q) =>
              h('li', {}, h('b', {}, q.title), ' ', bar(q.progress, q.goal, q.title), h('span', { class: 'muted' }, ` ${q.progress}/${q.goal}${q.contribution > 0 ? `, yours ${q.contribution}` : ''} · ${q.completedAt ? 'completed' : `ends ${new Date(q.endsAt).toLocaleDateString()}`}`)),
            ),
          ),
    );
  };
  // One read at a time; a move seen during a read asks for one more after it.
  let reading: Promise<void> | null = null;
  let again = false;
  const refreshStanding = () => {
    if (reading) {
      again = true;
      return;
    }
    reading = showStanding().finally(() => {
      reading = null;
      if (again) {
        again = false;
        refreshStanding();
      }
    });
  };
  refreshStanding();
  await reading;

  // The leaderboard: the server sends the top entries, then again whenever they change.
  let rows: LeaderboardFrame['entries'] = [];
  let socket: WebSocket | null = null;
  let myBoardValue: number | undefined;
  const follow = () => {
    socket?.close();
    boardStatus.textContent = 'connecting…';
    const ws = new WebSocket(wsUrl(`/gamification/leaderboards/points?period=${period.value}&limit=10`), socketProtocols(session));
    socket = ws;
    ws.onopen = () => (boardStatus.textContent = 'live');
    ws.onclose = () => socket === ws && (boardStatus.textContent = 'not live: the server cannot be reached');
    ws.onmessage = (event) => {
      rows = (JSON.parse(String(event.data)) as LeaderboardFrame).entries;
      const mine = rows.find((e) => e.member === session.userId)?.value;
      if (mine !== myBoardValue) {
        if (myBoardValue !== undefined || mine !== undefined) refreshStanding();
        myBoardValue = mine;
      }
      boardList.replaceChildren(
        ...rows.map((e) => h('li', { class: e.member === session.userId ? 'me' : '', value: String(e.rank) }, h('span', {}, e.member), h('b', {}, String(e.value)))),
      );
      if (rows.length === 0) boardList.append(h('li', { class: 'muted' }, 'nobody has points in this period yet'));
    };
  };
  period.addEventListener('change', follow);
  follow();
  return {
    board: () => rows,
    destroy: () => {
      const ws = socket;
      socket = null;
      ws?.close();
    },
  };
}
