// Digital ownership in the web client. #/nft/<session>: bounce the session, propose a drop, see its
// split with each collaborator's share and answer, accept or decline, mint — as editions or a 1/1
// record, with or without stems. #/nft: one's custodial wallet (and, in development, the faucet), the
// tenant's editions with their licence and stems, listing one's copy in ETH or an ERC-20 token and
// buying a listing, and one's royalty statement with a payout button.
import { api, h, problem, type Session } from './api.js';

interface Collaborator {
  userId: string;
  bps: number;
  notes: number;
  tracks: number;
  edits: number;
  answer: 'pending' | 'accepted' | 'declined';
  payoutAddress: string | null;
}
interface Drop {
  id: string;
  title: string;
  state: 'proposed' | 'declined' | 'minted';
  priceWei: string;
  royaltyBps: number;
  maxSupply: number;
  tokenId: string | null;
  split: { rule: string; collaborators: Collaborator[]; dropped: { userId: string }[] };
  waitingFor: string[];
  kind: 'edition' | 'record';
  withStems: boolean;
  stems: { trackId: string; name: string; tokenId: string | null }[];
}
interface Token {
  /** null: a lazy drop whose voucher nobody redeemed yet. */
  tokenId: string | null;
  contract: string;
  title: string;
  sessionId: string;
  priceWei: string;
  royaltyBps: number;
  licence: { names: string[] };
  creators: { userId: string; bps: number }[];
  kind: 'edition' | 'record';
  stems: { name: string; tokenId: string | null }[];
}
interface Currency {
  address: string;
  symbol: string;
  decimals: number;
}

export interface NftHandle {
  destroy(): void;
}

const ETH = 10n ** 18n;
/** Wei as ETH with up to 6 decimals, for reading (amounts stay exact strings in requests). */
export function eth(wei: string): string {
  const value = BigInt(wei);
  const whole = value / ETH;
  const fraction = (value % ETH).toString().padStart(18, '0').slice(0, 6).replace(/0+$/, '');
  return `${whole}${fraction ? `.${fraction}` : ''} ETH`;
}
const percent = (bps: number) => `${(bps / 100).toFixed(2)} %`;

/** An input with its visible label. */
const field = (text: string, input: HTMLInputElement) => h('label', { class: 'field' }, h('span', {}, text), ' ', input);

function statusLine(): HTMLElement {
  return h('div', { role: 'status', class: 'muted', 'aria-live': 'polite' });
}

/** #/nft/<session>: from a session to a minted edition. */
export function openMint(root: HTMLElement, session: Session, sessionId: string): NftHandle {
  let alive = true;
  const error = h('div', { class: 'error', role: 'alert' });
  const status = statusLine();
  const drops = h('div', { 'data-testid': 'drops' });
  const title = h('input', { name: 'title', required: true, value: sessionId, maxlength: '200' });
  const supply = h('input', { name: 'supply', type: 'number', min: '0', value: '10' });
  const price = h('input', { name: 'price', required: true, value: '1000000000000000', pattern: '[0-9]{1,40}' });
  const royalty = h('input', { name: 'royalty', type: 'number', min: '0', max: '5000', value: '1000' });
  const kind = h('select', { name: 'kind' }, h('option', { value: 'edition' }, 'Editions'), h('option', { value: 'record' }, 'A 1/1 record'));
  const stems = h('input', { name: 'stems', type: 'checkbox' });
  // A 1/1 record is one token minted to the proposer: its supply is 1 and it is sold by listing it.
  kind.addEventListener('change', () => {
    const record = kind.value === 'record';
    supply.disabled = record;
    price.disabled = record;
  });
  const propose = h('button', { class: 'primary', type: 'submit' }, 'Bounce and propose a drop');
  const form = h(
    'form',
    { class: 'card', 'data-testid': 'propose' },
    h('h2', {}, `Mint ${sessionId}`),
    h('p', { class: 'muted' }, 'The session is bounced to audio; its royalties are split by who made what, once every collaborator accepts.'),
    field('Title', title),
    h('label', { class: 'field' }, h('span', {}, 'Mint as'), ' ', kind),
    field('Copies (0: an open edition)', supply),
    field('Price in wei', price),
    field('Royalty in basis points (at most 5000)', royalty),
    field('Each track as an edition of its own (stems)', stems),
    propose,
  );

  const show = async () => {
    const response = await api(session, 'GET', `/api/v1/sessions/${encodeURIComponent(sessionId)}/drops`);
    if (!alive) return;
    if (!response.ok) {
      error.textContent = await problem(response, 'the drops could not be read');
      return;
    }
    const list = ((await response.json()) as { drops: Drop[] }).drops;
    drops.replaceChildren(...(list.length ? list.map(dropCard) : [h('p', { class: 'muted' }, 'no drop of this session yet')]));
  };

  const act = async (label: string, method: string, path: string, headers: Record<string, string> = {}) => {
    error.textContent = '';
    status.textContent = `${label}…`;
    const response = await api(session, method, path, undefined, undefined, headers);
    if (!alive) return;
    if (!response.ok) error.textContent = await problem(response, `${label} failed`);
    status.textContent = response.ok ? `${label}: done` : '';
    await show();
  };

  function dropCard(drop: Drop): HTMLElement {
    const mine = drop.split.collaborators.find((c) => c.userId === session.userId);
    const rows = drop.split.collaborators.map((c) =>
      h('tr', {}, h('td', {}, c.userId), h('td', {}, percent(c.bps)), h('td', {}, `${c.notes} notes, ${c.tracks} tracks, ${c.edits} edits`), h('td', { 'data-testid': `answer-${c.userId}` }, c.answer)),
    );
    const table = h('table', { class: 'split' }, h('caption', {}, 'The split'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'who'), h('th', { scope: 'col' }, 'share'), h('th', { scope: 'col' }, 'made'), h('th', { scope: 'col' }, 'answer'))), h('tbody', {}, ...rows));
    const buttons = h('div', { class: 'toolbar' });
    if (drop.state === 'proposed' && mine && mine.answer !== 'accepted') {
      buttons.append(h('button', { class: 'primary', onclick: () => act('accepting', 'POST', `/api/v1/nft/drops/${drop.id}/accept`) }, 'Accept my share'));
      buttons.append(h('button', { onclick: () => act('declining', 'POST', `/api/v1/nft/drops/${drop.id}/decline`) }, 'Decline'));
    }
    if (drop.state === 'proposed') buttons.append(h('button', { onclick: () => act('minting', 'POST', `/api/v1/nft/drops/${drop.id}/mint`, { 'idempotency-key': `mint-${drop.id}` }) }, 'Mint'));
    const state = drop.state === 'minted' ? `minted as ${drop.kind === 'record' ? 'record' : 'token'} ${drop.tokenId}` : drop.state === 'declined' ? 'declined' : drop.waitingFor.length ? `waiting for ${drop.waitingFor.join(', ')}` : 'everyone accepted';
    const what = drop.kind === 'record' ? 'a 1/1 record' : `${eth(drop.priceWei)} · ${drop.maxSupply === 0 ? 'open edition' : `${drop.maxSupply} copies`}`;
    const stemLine = drop.withStems ? h('p', { 'data-testid': 'drop-stems' }, drop.stems.length ? `stems: ${drop.stems.map((x) => `${x.name} (token ${x.tokenId ?? '…'})`).join(', ')}` : 'with stems: each track becomes an edition at the mint') : '';
    return h('div', { class: 'card', 'data-testid': 'drop' }, h('h3', {}, drop.title), h('p', { 'data-testid': 'drop-kind' }, `${what} · royalty ${percent(drop.royaltyBps)} · `, h('b', { 'data-testid': 'drop-state' }, state)), stemLine, table, h('p', { class: 'muted' }, drop.split.rule), buttons);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    status.textContent = 'bouncing the session and computing the split…';
    propose.disabled = true;
    const record = kind.value === 'record';
    const body = JSON.stringify({ title: title.value.trim(), kind: kind.value, maxSupply: record ? 1 : Number(supply.value), priceWei: record ? '0' : price.value.trim(), royaltyBps: Number(royalty.value), stems: stems.checked });
    const response = await api(session, 'POST', `/api/v1/sessions/${encodeURIComponent(sessionId)}/drops`, body, 'application/json');
    propose.disabled = false;
    if (!alive) return;
    if (!response.ok) error.textContent = await problem(response, 'the drop could not be proposed');
    status.textContent = response.ok ? 'drop proposed: each collaborator accepts it here' : '';
    await show();
  });
  root.replaceChildren(h('div', { class: 'nft' }, error, status, h('div', { class: 'home' }, form, drops), h('p', {}, h('a', { href: '#/nft' }, 'Your wallet, editions and royalties'))));
  void show();
  return { destroy: () => void (alive = false) };
}

/** #/nft: wallet, editions, listings and one's statement. */
export function openOwnership(root: HTMLElement, session: Session): NftHandle {
  let alive = true;
  const error = h('div', { class: 'error', role: 'alert' });
  const status = statusLine();
  const wallet = h('div', { class: 'card', 'data-testid': 'wallet' }, h('h2', {}, 'Your wallet'), h('p', { class: 'muted' }, 'loading…'));
  const editions = h('div', { class: 'card', 'data-testid': 'editions' }, h('h2', {}, 'Editions'));
  const statement = h('div', { class: 'card', 'data-testid': 'statement' }, h('h2', {}, 'Your royalties'));
  const buyForm = h('form', { class: 'toolbar' });
  const listing = h('input', { name: 'listing', required: true, pattern: '[0-9]{1,30}' });
  buyForm.append(field('Listing number', listing), h('button', { type: 'submit' }, 'Buy listing'));

  const run = async (label: string, method: string, path: string, body?: unknown) => {
    error.textContent = '';
    status.textContent = `${label}…`;
    const response = await api(session, method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json');
    if (!alive) return null;
    if (!response.ok) {
      error.textContent = await problem(response, `${label} failed`);
      status.textContent = '';
      return null;
    }
    const json = (await response.json()) as Record<string, unknown>;
    status.textContent = `${label}: done`;
    await refresh();
    return json;
  };
  buyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(`buying listing ${listing.value}`, 'POST', `/api/v1/nft/listings/${encodeURIComponent(listing.value.trim())}/buy`, { amount: 1 });
  });

  // The currency a copy is listed in: ETH, or an ERC-20 the server offers (on the local chain, its test token).
  const currency = h('select', { name: 'currency' }, h('option', { value: 'ETH' }, 'ETH'));
  const listPrice = h('input', { name: 'list-price', pattern: '[0-9]{1,40}', placeholder: 'the edition price' });
  const listTerms = h('div', { class: 'toolbar' }, h('label', { class: 'field' }, h('span', {}, 'List in'), ' ', currency), field('Price (smallest unit)', listPrice));
  void api(session, 'GET', '/api/v1/nft/currencies').then(async (response) => {
    if (!alive || !response.ok) return;
    const { currencies } = (await response.json()) as { currencies: Currency[] };
    currency.replaceChildren(...currencies.map((c) => h('option', { value: c.address === '0x0000000000000000000000000000000000000000' ? 'ETH' : c.address }, c.symbol)));
  });

  const refresh = async () => {
    const [w, t, s] = await Promise.all([
      api(session, 'GET', '/api/v1/nft/wallet'),
      api(session, 'GET', '/api/v1/nft/tokens'),
      api(session, 'GET', `/api/v1/nft/statements/${encodeURIComponent(session.userId)}`),
    ]);
    if (!alive) return;
    if (!w.ok) {
      error.textContent = await problem(w, 'digital ownership is not available');
      wallet.replaceChildren(h('h2', {}, 'Your wallet'));
      return;
    }
    const me = (await w.json()) as { address: string; balanceWei: string };
    wallet.replaceChildren(
      h('h2', {}, 'Your wallet'),
      h('p', {}, h('code', { 'data-testid': 'address' }, me.address)),
      h('p', {}, h('b', { 'data-testid': 'balance' }, eth(me.balanceWei))),
      h('button', { onclick: () => run('asking the faucet', 'POST', '/api/v1/nft/dev/faucet') }, 'Get test ETH (development)'),
    );
    const tokens = t.ok ? ((await t.json()) as { tokens: Token[] }).tokens : [];
    editions.replaceChildren(
      h('h2', {}, 'Editions'),
      ...(tokens.length === 0 ? [h('p', { class: 'muted' }, 'nothing minted yet')] : []),
      ...tokens.map((token) =>
        h(
          'div',
          { class: 'edition', 'data-testid': 'edition' },
          h('h3', {}, `${token.title} (${token.kind === 'record' ? '1/1 record' : 'token'} ${token.tokenId ?? ': a voucher, not yet redeemed'})`),
          h('p', {}, `${token.kind === 'record' ? '' : `${eth(token.priceWei)} · `}royalty ${percent(token.royaltyBps)} · licence: ${token.licence.names.join(', ')} · by ${token.creators.map((c) => `${c.userId} ${percent(c.bps)}`).join(', ')}`),
          ...(token.stems.length ? [h('p', { class: 'muted' }, `stems: ${token.stems.map((x) => `${x.name} (token ${x.tokenId})`).join(', ')}`)] : []),
          token.tokenId === null ? '' : h(
            'button',
            {
              onclick: async () => {
                const priceWei = listPrice.value.trim() || token.priceWei;
                const listed = await run('listing your copy', 'POST', '/api/v1/nft/listings', { tokenId: token.tokenId, contract: token.kind === 'record' ? 'records' : 'editions', amount: 1, priceWei, currency: currency.value });
                if (listed && alive) status.textContent = `your copy is listed: listing ${String(listed.listingId)}`;
              },
            },
            'List my copy at this price',
          ),
        ),
      ),
      listTerms,
      h('h3', {}, 'Buy'),
      buyForm,
    );
    const mine = s.ok ? ((await s.json()) as { drops: { title: string; bps: number; royaltiesWei: string; shareWei: string; releasedWei: string; releasableWei: string }[] }).drops : [];
    statement.replaceChildren(
      h('h2', {}, 'Your royalties'),
      ...(mine.length === 0 ? [h('p', { class: 'muted' }, 'no edition credits you yet')] : []),
      ...mine.map((d) => h('p', { 'data-testid': 'statement-line' }, `${d.title}: ${percent(d.bps)} of ${eth(d.royaltiesWei)} in royalties · released ${eth(d.releasedWei)} · `, h('b', {}, `${eth(d.releasableWei)} to release`))),
      h('button', { class: 'primary', onclick: () => run('releasing your royalties', 'POST', '/api/v1/nft/payouts') }, 'Release my royalties'),
    );
  };
  root.replaceChildren(h('div', { class: 'nft' }, error, status, h('div', { class: 'home' }, wallet, editions, statement)));
  void refresh();
  return { destroy: () => void (alive = false) };
}
