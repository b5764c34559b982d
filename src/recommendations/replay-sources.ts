// What a server recorded, as replay input (replay.ts): when each author first edited each session
// (the sessions' update log), when each listener first played, liked, shared or bought each track
// (the insights rollups), and which items are samples (the recommendations catalogue). Read as one
// tenant, through the same row-level security as the server's own reads.
import { sql } from 'kysely';
import type { Storage } from '../storage/database.js';
import type { ItemKind, ReplayEvent } from './replay.js';
import { SIGNAL_WEIGHTS } from './signals.js';

export interface RecordedInput {
  events: ReplayEvent[];
  kinds: Map<string, ItemKind>;
  counts: { sessions: number; coedits: number; interactions: number; samples: number };
}

const FIRSTS = [
  ['first_play_at', SIGNAL_WEIGHTS.play],
  ['first_like_at', SIGNAL_WEIGHTS.like],
  ['first_share_at', SIGNAL_WEIGHTS.share],
  ['first_purchase_at', SIGNAL_WEIGHTS.purchase],
] as const;

const time = (value: Date | string) => (value instanceof Date ? value.getTime() : Date.parse(value));

/** The tenant's recorded co-edits, first interactions and sample items, in no particular order. */
export async function recordedReplayInput(storage: Storage, tenantId: string): Promise<RecordedInput> {
  return storage.withTenant(tenantId, async (trx) => {
    const firstEdits = await trx
      .selectFrom('document_updates')
      .select(['doc_id', 'author', sql<Date | string>`min(at)`.as('first_at')])
      .groupBy(['doc_id', 'author'])
      .execute();
    const tracks = await trx.selectFrom('ins_user_tracks').select(['user_id', 'track_id', 'first_play_at', 'first_like_at', 'first_share_at', 'first_purchase_at']).execute();
    const samples = await trx.selectFrom('rec_items').select('item_id').where('kind', '=', 'sample').execute();
    const events: ReplayEvent[] = firstEdits.map((row) => ({ at: time(row.first_at), type: 'coedit', userId: row.author, sessionId: row.doc_id }));
    const coedits = events.length;
    for (const row of tracks) {
      for (const [column, weight] of FIRSTS) {
        const at = row[column];
        if (at !== null) events.push({ at: time(at), type: 'interaction', userId: row.user_id, itemId: row.track_id, weight });
      }
    }
    return {
      events,
      kinds: new Map(samples.map((row) => [row.item_id, 'sample' as const])),
      counts: { sessions: new Set(firstEdits.map((row) => row.doc_id)).size, coedits, interactions: events.length - coedits, samples: samples.length },
    };
  });
}
