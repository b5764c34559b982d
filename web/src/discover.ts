// Recommendations for the signed-in user (GET /api/v1/recommendations): tracks, samples, artists,
// smart playlists and, for collaboration, people to make music with, each with its reason. What one
// likes or follows here goes back as an event (POST /api/v1/events) and shapes the next answer.
// Both calls go through the client generated from the server's OpenAPI document (api-client.ts).
import { h, type Session } from './api.js';
import { call, type Operations } from './api-client.js';

type Answer = Operations['GET /api/v1/recommendations']['responses'][200];
type Item = Answer['tracks'][number];

const CONTEXTS = [
  ['discovery', 'Discover'],
  ['production', 'For your production'],
  ['collaboration', 'Collaborators'],
] as const;

export interface DiscoverHandle {
  destroy(): void;
}

export function openDiscover(root: HTMLElement, session: Session): DiscoverHandle {
  const errorLine = h('div', { class: 'error', role: 'alert' });
  const context = h('select', { 'aria-label': 'recommendations for', 'data-testid': 'recs-context' }, ...CONTEXTS.map(([value, label]) => h('option', { value }, label)));
  const summary = h('span', { class: 'muted', 'data-testid': 'recs-source' }, '');
  const body = h('div', { class: 'home', 'data-testid': 'recs' });
  root.replaceChildren(h('div', {}, h('div', { class: 'toolbar' }, h('h2', {}, 'For you'), context, summary), errorLine, body));

  /** Sends one of the events a client may report; the button says when it went through. */
  const report = async (button: HTMLButtonElement, type: 'track.liked' | 'user.followed', payload: Record<string, string>, done: string) => {
    errorLine.textContent = '';
    const reply = await call(session.token, 'POST /api/v1/events', { body: { type, payload } }).catch(() => null);
    if (!reply) return void (errorLine.textContent = 'that needs the server, which cannot be reached now');
    if (!reply.ok) return void (errorLine.textContent = `not recorded: ${reply.detail}`);
    button.textContent = done;
    button.disabled = true;
  };
  const itemLine = (item: Item) => {
    const like = h('button', { class: 'small', 'aria-label': `like ${item.title ?? item.id}` }, 'Like');
    like.addEventListener('click', () => void report(like, 'track.liked', { trackId: item.id }, 'Liked'));
    return h('li', { 'data-item': item.id }, h('b', {}, item.title ?? item.id), item.artistId ? h('span', { class: 'muted' }, ` by ${item.artistId}`) : null, ' ', like, h('div', { class: 'muted reason' }, item.reason));
  };
  const followLine = (id: string, reason: string, label: string) => {
    const follow = h('button', { class: 'small', 'aria-label': `follow ${id}` }, 'Follow');
    follow.addEventListener('click', () => void report(follow, 'user.followed', { userId: id }, 'Following'));
    return h('li', { 'data-item': id }, h('b', {}, id), ` ${label} `, follow, h('div', { class: 'muted reason' }, reason));
  };
  const section = (title: string, testId: string, items: HTMLElement[]) =>
    h('div', { class: 'card', 'data-testid': testId }, h('h2', {}, title), items.length > 0 ? h('ul', { class: 'plain' }, ...items) : h('p', { class: 'muted' }, 'Nothing yet.'));

  let asked = 0;
  const load = async () => {
    const ask = ++asked;
    errorLine.textContent = '';
    const reply = await call(session.token, 'GET /api/v1/recommendations', { query: { context: context.value as Answer['context'], limit: 10 } }).catch(() => null);
    if (ask !== asked) return;
    if (!reply) return void (errorLine.textContent = 'recommendations need the server, which cannot be reached now');
    if (!reply.ok) return void (errorLine.textContent = `no recommendations: ${reply.detail}`);
    const answer = reply.data;
    summary.textContent = `${answer.source === 'model' ? 'from what people like you play' : answer.source === 'fold-in' ? 'from your latest plays' : 'what is popular now'} · confidence ${Math.round(answer.confidence * 100)} %`;
    body.replaceChildren(
      section('Tracks', 'recs-tracks', answer.tracks.map(itemLine)),
      section('Samples', 'recs-samples', answer.samples.map(itemLine)),
      section('Artists', 'recs-artists', answer.artists.map((a) => followLine(a.id, a.reason, ''))),
      section('Playlists', 'recs-playlists', answer.playlists.map((p) => h('li', {}, h('b', {}, p.title), h('div', { class: 'muted reason' }, `${p.reason} · ${p.tracks.map((t) => t.title ?? t.id).join(', ')}`)))),
      ...(answer.collaborators.length > 0 || context.value === 'collaboration' ? [section('People to make music with', 'recs-collaborators', answer.collaborators.map((c) => followLine(c.userId, c.reason, '')))] : []),
    );
  };
  context.addEventListener('change', () => void load());
  void load();
  return { destroy: () => void (asked = -1) };
}
