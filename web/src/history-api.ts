// A session's history as the server answers it (docs/history.md): its versions, what changed between
// two moments (a diff, each change with its author) and who made what at a moment (authorship). Each
// call answers the parsed body, or throws an Error whose message is the server's problem detail.
import type { SessionDiff as DiffChanges, TrackAuthorship, UserShares, Version } from '../../src/history/answers.js';
import { api, type Session } from './api.js';

export interface VersionList {
  sessionId: string;
  versions: Version[];
  branchOf: { sessionId: string; versionId: string | null } | null;
  branches: { sessionId: string }[];
}

export type { Authored, NoteChange, NoteDiff, SeriesDiff, Share, TrackDiff, Version } from '../../src/history/answers.js';
export type { Note } from '../../src/studio/model-types.js';

/** A diff as the API answers it: the changes, and the two moments they lie between. */
export interface SessionDiff extends DiffChanges {
  sessionId: string;
  from: { at: number; uptoId: string | null };
  to: { at: number; uptoId: string | null };
}

/** Who made what at a moment, as the API answers it. */
export interface Authorship {
  sessionId: string;
  at: number;
  uptoId: string | null;
  updates: number;
  tracks: TrackAuthorship[];
  shares: UserShares[];
}

/** A moment of the session for a diff: a time (Unix ms) or a version. */
export type Moment = { at: number } | { version: string };

/** What the automatic versions were taken for, as the list says it. */
export const REASONS: Record<NonNullable<Version['reason']>, string> = {
  'session-end': 'when the session ended',
  interval: 'autosave while editing',
  'before-restore': 'before a restore',
  bounce: 'for a bounce',
  mint: 'for a mint',
};

export class HistoryApi {
  constructor(
    private readonly session: Session,
    readonly sessionId: string,
  ) {}

  private get base(): string {
    return `/api/v1/sessions/${encodeURIComponent(this.sessionId)}`;
  }

  /** Calls the server; a refusal or a lost connection throws an Error saying why, in words. */
  private async call<T>(method: string, path: string, what: string, body?: unknown, absent?: T): Promise<T> {
    const response = await api(this.session, method, `${this.base}${path}`, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json').catch(() => null);
    if (!response) throw new Error(`${what}: the server cannot be reached now`);
    if (response.status === 404 && absent !== undefined) return absent;
    if (!response.ok) throw new Error(await refusal(response, what));
    return (response.status === 204 ? null : await response.json()) as T;
  }

  /** The versions, newest first (none for a session that has no recorded change yet). */
  versions(): Promise<VersionList> {
    return this.call('GET', '/versions', 'the versions could not be listed', undefined, { sessionId: this.sessionId, versions: [], branchOf: null, branches: [] });
  }

  name(label: string, description: string): Promise<Version> {
    return this.call('POST', '/versions', 'the version was not named', { label, ...(description ? { description } : {}) });
  }

  rename(id: string, patch: { label: string; description: string }): Promise<Version> {
    return this.call('PATCH', `/versions/${encodeURIComponent(id)}`, 'the version was not renamed', patch);
  }

  remove(id: string): Promise<null> {
    return this.call('DELETE', `/versions/${encodeURIComponent(id)}`, 'the version was not deleted');
  }

  branch(id: string): Promise<{ branch: { sessionId: string } }> {
    return this.call('POST', `/versions/${encodeURIComponent(id)}/restore`, 'the version was not restored as a branch', { mode: 'branch' });
  }

  restoreInto(id: string): Promise<{ version: Version; undo: Version | null }> {
    return this.call('POST', `/versions/${encodeURIComponent(id)}/restore`, 'the version was not restored', { mode: 'into' });
  }

  diff(from: Moment, to: Moment): Promise<SessionDiff> {
    const side = (name: 'from' | 'to', m: Moment) => ('at' in m ? `${name}=${Math.round(m.at)}` : `${name}Version=${encodeURIComponent(m.version)}`);
    return this.call('GET', `/diff?${side('from', from)}&${side('to', to)}`, 'the changes could not be read');
  }

  authorship(at: number): Promise<Authorship> {
    return this.call('GET', `/authorship?at=${Math.round(at)}`, 'who made what could not be read');
  }
}

/**
 * Why the server refused, in its words: the problem's `detail`, or for a body it could not take, what
 * was wrong with each field (`errors`), which says more than the detail does.
 */
async function refusal(response: Response, what: string): Promise<string> {
  try {
    const body = (await response.json()) as { detail?: string; errors?: { message?: string }[] };
    const fields = Array.isArray(body.errors) ? body.errors.map((e) => e.message).filter((m): m is string => typeof m === 'string') : [];
    if (fields.length > 0) return `${what}: ${[...new Set(fields)].join('; ')}`;
    return body.detail ? `${what}: ${body.detail}` : `${what} (HTTP ${response.status})`;
  } catch {
    return `${what} (HTTP ${response.status})`;
  }
}

/** This user's role on the session (`GET /api/v1/me`), or null when they have none. */
export async function roleOn(session: Session, sessionId: string): Promise<string | null> {
  const response = await api(session, 'GET', '/api/v1/me');
  if (!response.ok) throw new Error(await refusal(response, 'your role on this session could not be read'));
  const me = (await response.json()) as { docs: Record<string, string> };
  return me.docs[sessionId] ?? me.docs['*'] ?? null;
}
