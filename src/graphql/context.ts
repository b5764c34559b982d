// What every resolver receives: the caller, the services the schema reads through (the same as the
// REST routes'), and this request's batch loaders.
import type { GamificationService } from '../gamification/service.js';
import type { RecommendationService } from '../recommendations/service.js';
import { roleFor, type Principal } from '../server/auth.js';
import { StudioDoc } from '../studio/model.js';
import { docFromParts } from '../studio/replay-store.js';
import type { SessionContent, SessionContentCache } from './content-cache.js';
import type { SessionListCache, SessionRow } from './session-list-cache.js';
import { BatchLoader } from './loader.js';
import type { LiveEvents } from './live-events.js';


/** The reads the schema makes; each one is a service the REST routes use too. */
export interface GraphqlServices {
  /** Sessions (the studio's replay store): the newest, or those of `ids`. */
  sessions(tenantId: string, limit: number, ids?: readonly string[]): Promise<readonly SessionRow[]>;
  /** Documents' current states (collab): loaded rooms from memory, the rest in one storage read. */
  states(tenantId: string, docIds: readonly string[]): Promise<Map<string, Uint8Array>>;
  gamification: GamificationService | null;
  recommendations: RecommendationService | null;
  /** The bus events subscriptions follow. */
  live: LiveEvents;
  /** Sessions' titles and tracks kept between requests, dropped when their document changes. */
  contents: SessionContentCache;
  /** The tenants' newest-sessions lists kept between requests, dropped when a session of the tenant changes. */
  lists: SessionListCache;
}

export type { SessionContent, SessionRow };

export interface GraphqlContext {
  principal: Principal;
  services: GraphqlServices;
  /** Sessions by id (null: none, or no role on it). */
  session: BatchLoader<string, SessionRow | null>;
  /** A session's title and tracks, read from its document. */
  content: BatchLoader<string, SessionContent>;
}

export function createContext(principal: Principal, services: GraphqlServices): GraphqlContext {
  const tenantId = principal.tenantId;
  return {
    principal,
    services,
    session: new BatchLoader(async (ids) => {
      const visible = ids.filter((id) => roleFor(principal, id) !== null);
      const rows = await services.sessions(tenantId, visible.length, visible);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return new Map(ids.map((id) => [id, byId.get(id) ?? null]));
    }),
    content: new BatchLoader((ids) =>
      services.contents.load(tenantId, ids, async (missing) => {
        const states = await services.states(tenantId, missing);
        return new Map(
          missing.map((id) => {
            const doc = new StudioDoc(docFromParts([states.get(id)!]));
            return [id, { title: doc.settings().title, tracks: doc.tracks() }];
          }),
        );
      }),
    ),
  };
}
