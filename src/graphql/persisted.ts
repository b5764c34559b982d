// Persisted operations. Automatic persisted queries (Apollo's protocol): a client sends only
// `extensions.persistedQuery.sha256Hash`; an unknown hash answers `PersistedQueryNotFound`, the client
// sends the query with its hash once, and from then on the hash alone runs it (a GET, cacheable).
// The operations manifest (Apollo's persisted query manifest format, written by the web client's
// build) is always known; in allow-list mode it is all that runs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(z.object({ id: z.string().regex(/^[0-9a-f]{64}$/), name: z.string(), type: z.enum(['query', 'mutation', 'subscription']), body: z.string() })),
});

export type OperationsManifest = z.output<typeof manifestSchema>;

/** The manifest at `file`: operations by hash (each checked against its body). Empty when the file does not exist. */
export function loadManifest(file: string): Map<string, string> {
  if (!existsSync(file)) return new Map();
  const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`the GraphQL operations manifest is not an Apollo persisted query manifest: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const operations = new Map<string, string>();
  for (const op of parsed.data.operations) {
    if (sha256(op.body) !== op.id) throw new Error(`the GraphQL operations manifest lists ${op.name} under a hash that is not its body's`);
    operations.set(op.id, op.body);
  }
  return operations;
}

/** Queries by their SHA-256: the manifest's, and in `any` mode those clients registered (bounded, least recently used dropped). */
export class PersistedQueries {
  private readonly registered = new Map<string, string>();

  constructor(
    private readonly manifest: ReadonlyMap<string, string>,
    private readonly max: number,
  ) {}

  get(hash: string): string | undefined {
    const known = this.manifest.get(hash);
    if (known !== undefined) return known;
    const query = this.registered.get(hash);
    if (query !== undefined) {
      // Most recently used last.
      this.registered.delete(hash);
      this.registered.set(hash, query);
    }
    return query;
  }

  inManifest(hash: string): boolean {
    return this.manifest.has(hash);
  }

  register(hash: string, query: string): void {
    if (this.manifest.has(hash) || this.max === 0) return;
    this.registered.delete(hash);
    this.registered.set(hash, query);
    if (this.registered.size > this.max) this.registered.delete(this.registered.keys().next().value!);
  }

  get size(): { manifest: number; registered: number } {
    return { manifest: this.manifest.size, registered: this.registered.size };
  }
}
