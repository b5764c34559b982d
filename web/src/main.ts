// The Veza web client: development sign-in, then the studio (#/studio/<session>), the replay viewer
// (#/replay/<session>), the DJ room (#/dj/<room>), recommendations (#/discover), one's progress
// (#/progress), for creators insights into their listeners (#/insights) and the mastering assistant
// (#/mastering), routed by the URL's hash.
import { graphql, HOME_SESSIONS } from './graphql.js';
import { currentSession, h, signIn, signOut, type Session } from './api.js';
import { applyBranding } from './branding.js';
import { openDiscover, type DiscoverHandle } from './discover.js';
import { openDj, type DjHandle } from './dj.js';
import { openMint, openOwnership, type NftHandle } from './nft.js';
import type { InsightsHandle } from './insights.js';
import { openMastering, type MasteringHandle } from './mastering.js';
import { openProgress, type ProgressHandle } from './progress.js';
import { openReplay, type ReplayHandle } from './replay.js';
import { openStudio, type StudioHandle } from './studio.js';

interface Current {
  studio?: StudioHandle;
  replay?: ReplayHandle | null;
  dj?: DjHandle | null;
  progress?: ProgressHandle;
  discover?: DiscoverHandle;
  insights?: InsightsHandle;
  nft?: NftHandle;
  mastering?: MasteringHandle;
}

declare global {
  interface Window {
    /** The open view, for end-to-end tests and the console. */
    veza: Current;
  }
}

const app = document.getElementById('app')!;
const who = document.getElementById('who')!;
const nav = document.getElementById('nav')!;
window.veza = {};
const ID = /^[A-Za-z0-9._:-]{1,200}$/;
/** The same rule as an HTML `pattern` (compiled with the `v` flag, where a literal hyphen is escaped). */
const ID_PATTERN = '[A-Za-z0-9._:\\-]{1,200}';

function close(): void {
  window.veza.studio?.destroy();
  window.veza.replay?.destroy();
  window.veza.dj?.destroy();
  window.veza.progress?.destroy();
  window.veza.discover?.destroy();
  window.veza.insights?.destroy();
  window.veza.nft?.destroy();
  window.veza.mastering?.destroy();
  window.veza = {};
}

function signInForm(): void {
  const name = h('input', { name: 'user', placeholder: 'your name (letters, digits, ._@-)', required: true, pattern: '[A-Za-z0-9._@\\-]{1,100}', title: 'letters, digits and . _ @ - only', 'aria-label': 'user name' });
  const role = h('select', { 'aria-label': 'role' }, ...['owner', 'editor', 'viewer'].map((r) => h('option', { value: r }, `${r} of every session and room`)));
  const error = h('div', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'card' }, h('h2', {}, 'Sign in (development)'), name, role, h('button', { class: 'primary', type: 'submit' }, 'Sign in'), error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await signIn(name.value.trim(), role.value as 'owner' | 'editor' | 'viewer');
      route();
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  });
  app.replaceChildren(form);
}

async function home(session: Session): Promise<void> {
  const list = h('ul', { class: 'sessions', 'data-testid': 'sessions' });
  const name = h('input', { placeholder: 'session name', pattern: ID_PATTERN, required: true, 'aria-label': 'session name' });
  const room = h('input', { placeholder: 'room name', pattern: ID_PATTERN, required: true, 'aria-label': 'room name' });
  const open = h('form', { class: 'card' }, h('h2', {}, 'Open or create a session'), name, h('button', { class: 'primary', type: 'submit' }, 'Open'));
  open.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/studio/${encodeURIComponent(name.value.trim())}`;
  });
  const live = h('form', { class: 'card' }, h('h2', {}, 'DJ room'), room, h('button', { type: 'submit' }, 'Enter'));
  live.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/dj/${encodeURIComponent(room.value.trim())}`;
  });
  app.replaceChildren(h('div', { class: 'home' }, open, live, h('div', { class: 'card' }, h('h2', {}, 'Recorded sessions'), list)));
  let sessions: { id: string; title: string; updates: number; lastUpdateAt: string | null; tracks: { id: string }[] }[];
  try {
    ({ sessions } = await graphql<{ sessions: typeof sessions }>(session, HOME_SESSIONS));
  } catch (error) {
    list.append(h('li', { class: 'error' }, `sessions could not be listed: ${(error as Error).message}`));
    return;
  }
  list.replaceChildren(
    ...sessions.map((s) =>
      h('li', {}, h('a', { href: `#/studio/${encodeURIComponent(s.id)}` }, s.id), ' ', h('span', { class: 'muted' }, `${s.title}, ${s.tracks.length} tracks, ${s.updates} edits${s.lastUpdateAt ? `, last ${new Date(s.lastUpdateAt).toLocaleString()}` : ''}`), ' ', h('a', { href: `#/replay/${encodeURIComponent(s.id)}` }, 'replay'), ' ', h('a', { href: `#/nft/${encodeURIComponent(s.id)}` }, 'mint')),
    ),
  );
  if (sessions.length === 0) list.append(h('li', { class: 'muted' }, 'none yet'));
}

/** Counts routes taken: a screen that finishes opening after its route was left is closed at once. */
let routeTurn = 0;

function route(): void {
  close();
  const session = currentSession();
  who.replaceChildren();
  nav.replaceChildren();
  if (!session) return signInForm();
  who.append(`signed in as ${session.userId} `, h('button', { class: 'link', onclick: () => (signOut(), route()) }, 'sign out'));
  nav.append(h('a', { href: '#/' }, 'Sessions'), ' ', h('a', { href: '#/discover' }, 'For you'), ' ', h('a', { href: '#/progress' }, 'Progress'), ' ', h('a', { href: '#/insights' }, 'Insights'), ' ', h('a', { href: '#/nft' }, 'Ownership'), ' ', h('a', { href: '#/mastering' }, 'Mastering'));
  // Each route draws into a container of its own: a screen still opening when its route is left
  // draws into one that is no longer on the page, and `whenOpen` closes it once it has opened.
  const turn = ++routeTurn;
  const screen = h('div');
  app.replaceChildren(screen);
  const whenOpen = <H extends { destroy(): void }>(opening: Promise<H | null>, keep: (handle: H) => void) =>
    void opening.then((handle) => {
      if (handle && turn === routeTurn) keep(handle);
      else handle?.destroy();
    });
  if (location.hash === '#/discover') {
    window.veza.discover = openDiscover(screen, session);
    return;
  }
  if (location.hash === '#/insights') {
    // The screen and its charting library load when it opens, not with every page.
    screen.append(h('p', { class: 'muted' }, 'loading insights…'));
    const opening = import('./insights.js').then(
      ({ openInsights }) => openInsights(screen, session),
      () => {
        screen.replaceChildren(h('div', { class: 'error', role: 'alert' }, 'the insights screen could not be loaded: reload the page to try again'));
        return null;
      },
    );
    whenOpen(opening, (handle) => (window.veza.insights = handle));
    return;
  }
  if (location.hash === '#/mastering') {
    window.veza.mastering = openMastering(screen, session);
    return;
  }
  if (location.hash === '#/progress') {
    whenOpen(openProgress(screen, session), (handle) => (window.veza.progress = handle));
    return;
  }
  if (location.hash === '#/nft') {
    window.veza.nft = openOwnership(screen, session);
    return;
  }
  // A replay may open at a moment: #/replay/<session>?at=<Unix ms> (a version's time).
  const [, view, raw, atRaw] = /^#\/(studio|replay|dj|nft)\/([^?]+)(?:\?at=(\d+))?$/.exec(location.hash) ?? [];
  const id = raw ? decodeURIComponent(raw) : '';
  if (view && !ID.test(id)) {
    screen.replaceChildren(h('div', { class: 'error', role: 'alert' }, `${id} is not a valid name: 1-200 letters, digits and ._:-`));
    return;
  }
  if (view === 'studio') window.veza.studio = openStudio(screen, session, id);
  else if (view === 'replay') whenOpen(openReplay(screen, session, id, atRaw ? { at: Number(atRaw) } : {}), (handle) => (window.veza.replay = handle));
  else if (view === 'nft') window.veza.nft = openMint(screen, session, id);
  else if (view === 'dj') whenOpen(openDj(screen, session, id), (handle) => (window.veza.dj = handle));
  else void home(session);
}

window.addEventListener('hashchange', route);
// The tenant's theme first (one small request), so that no screen opens in another tenant's look.
void applyBranding().finally(route);
