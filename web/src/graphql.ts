// A small GraphQL client for the page: operations are template strings marked with a GraphQL comment
// (the build extracts them into the server's operations manifest, see scripts/graphql-manifest.mjs),
// and sent as persisted queries: a GET with the query's SHA-256 only, the whole query once if the
// server does not know the hash yet (Apollo's automatic persisted queries).
import type { Session } from './api.js';

export interface GraphqlError {
  message: string;
  extensions?: { code?: string };
}

export class GraphqlFailure extends Error {
  constructor(readonly errors: GraphqlError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
}

/** The screens' operations; each is in the manifest the server's allow-list reads. */
export const HOME_SESSIONS = /* GraphQL */ `query HomeSessions { sessions(limit: 50) { id title updates lastUpdateAt tracks { id } } }`;

const hashes = new Map<string, Promise<string>>();

function sha256(text: string): Promise<string> {
  let hash = hashes.get(text);
  if (!hash) {
    hash = crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)).then((digest) => [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join(''));
    hashes.set(text, hash);
  }
  return hash;
}

export async function graphql<T>(session: Session, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const extensions = { persistedQuery: { version: 1, sha256Hash: await sha256(query) } };
  const authorization = `Bearer ${session.token}`;
  const params = new URLSearchParams({ extensions: JSON.stringify(extensions), ...(Object.keys(variables).length > 0 ? { variables: JSON.stringify(variables) } : {}) });
  let body = await answer(await fetch(`/graphql?${params}`, { headers: { authorization } }));
  if (body.errors?.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND')) {
    body = await answer(await fetch('/graphql', { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ query, variables, extensions }) }));
  }
  if (body.errors?.length) throw new GraphqlFailure(body.errors);
  return body.data as T;
}

async function answer(response: Response): Promise<{ data?: unknown; errors?: GraphqlError[] }> {
  try {
    return (await response.json()) as { data?: unknown; errors?: GraphqlError[] };
  } catch {
    return { errors: [{ message: `the server answered HTTP ${response.status}` }] };
  }
}
