// Shared authorship of sessions (the `session.authorship` events) in insights: stored per closed
// session and user, and read back as how evenly a creator shares the making of their sessions. The
// collaboration score counts, beside collaborators and sessions, each session the creator made with
// others weighted by the balance of its shares (1: all equal; near 0: one person made nearly all).
import { sql } from 'kysely';
import type { EventBus, Subscription } from '../events/bus.js';
import type { VezaEventOf } from '../events/catalog.js';
import type { Storage } from '../storage/database.js';

/** A creator's sessions with authorship reports in a period. */
export interface AuthorshipTotals {
  /** Closed sessions in the period in which the creator made an update. */
  sessions: number;
  /** Those in which the creator and at least one other person each created live notes or tracks. */
  sharedSessions: number;
  /** Mean balance of the shared sessions (0–1), null when there are none. */
  balance: number | null;
  /** Sum of the shared sessions' balances: what the collaboration score counts. */
  weightedShared: number;
}

/**
 * How evenly a session's making is shared: the normalised entropy of each person's weight (live
 * notes plus live tracks they created), among the people with any. 1 when all gave the same, 0 with
 * one person (or none).
 */
export function authorshipBalance(weights: readonly number[]): number {
  const given = weights.filter((w) => w > 0);
  if (given.length < 2) return 0;
  const total = given.reduce((a, b) => a + b, 0);
  const entropy = -given.reduce((h, w) => h + (w / total) * Math.log(w / total), 0);
  return entropy / Math.log(given.length);
}

/**
 * The 0–100 collaboration score; it saturates: five collaborators (or twenty sessions, or five
 * evenly shared sessions) score 63. Without authorship reports it is what it was before them.
 */
export function collaborationScore(c: { collaborators: number; sessions: number; weightedShared: number }): number {
  return Math.round(100 * (1 - Math.exp(-(c.collaborators + c.sessions / 4 + c.weightedShared) / 5)));
}

/** The totals of one creator from their sessions' rows (session id, user, notes, tracks). */
export function authorshipTotals(creatorId: string, rows: readonly { session_id: string; user_id: string; notes: number; tracks: number }[]): AuthorshipTotals {
  const sessions = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const users = sessions.get(row.session_id) ?? sessions.set(row.session_id, new Map()).get(row.session_id)!;
    users.set(row.user_id, Number(row.notes) + Number(row.tracks));
  }
  const balances: number[] = [];
  for (const users of sessions.values()) {
    const mine = users.get(creatorId) ?? 0;
    const others = [...users].filter(([user, weight]) => user !== creatorId && weight > 0).length;
    if (mine > 0 && others > 0) balances.push(authorshipBalance([...users.values()]));
  }
  const weightedShared = balances.reduce((a, b) => a + b, 0);
  return {
    sessions: sessions.size,
    sharedSessions: balances.length,
    balance: balances.length ? Math.round((weightedShared / balances.length) * 1000) / 1000 : null,
    weightedShared: Math.round(weightedShared * 1000) / 1000,
  };
}

/** Stores `session.authorship` events: a session's rows replaced by a later report, never an earlier one. */
export async function recordAuthorship(storage: Storage, event: VezaEventOf<'session.authorship'>): Promise<void> {
  const { sessionId, uptoId, shares } = event.payload;
  await storage.withTenant(event.tenantId, async (trx) => {
    const stored = await trx.selectFrom('ins_session_authorship').select(sql<string | null>`max(upto_id)`.as('upto')).where('session_id', '=', sessionId).executeTakeFirst();
    if (stored?.upto != null && BigInt(stored.upto) > BigInt(uptoId)) return;
    await trx.deleteFrom('ins_session_authorship').where('session_id', '=', sessionId).execute();
    if (shares.length === 0) return;
    await trx
      .insertInto('ins_session_authorship')
      .values(shares.map((s) => ({ tenant_id: event.tenantId, session_id: sessionId, user_id: s.userId, notes: s.notes, tracks: s.tracks, edits: s.edits, upto_id: uptoId, closed_at: new Date(event.at) })))
      .execute();
  });
}

/** The insights group's second subscription: authorship reports into their table. */
export function consumeAuthorship(bus: EventBus, storage: Storage): Promise<Subscription> {
  return bus.subscribe('insights.authorship', (event) => (event.type === 'session.authorship' ? recordAuthorship(storage, event) : Promise.resolve()), { types: ['session.authorship'] });
}
