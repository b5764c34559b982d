// A portable session bundle: everything a server needs to hold a studio session as it was made, its
// update log with who made each change and when, so that replay, history and authorship survive a
// move between servers. JSON, one file per session; the format is documented in docs/session-bundles.md.
import { createHash } from 'node:crypto';
import * as Y from 'yjs';
import { z } from 'zod';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { TENANT_ID_PATTERN } from '../storage/schema.js';
import { StudioDoc } from '../studio/model.js';

export const BUNDLE_FORMAT = 'veza.session';
export const BUNDLE_VERSION = 1;

export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

export interface BundleUpdate {
  /** Unix ms at which the server accepted the update. */
  at: number;
  author: string;
  update: Uint8Array;
}

export interface SessionBundle {
  id: string;
  tenantId: string;
  title: string;
  createdAt: number;
  exportedAt: number;
  updates: BundleUpdate[];
  /** The final state as a Standard MIDI File, for tools that do not read Yjs; derived, never imported. */
  midi?: Uint8Array;
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

const wireSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT, { message: `format must be "${BUNDLE_FORMAT}"` }),
    version: z.number().int(),
    session: z
      .object({
        id: z.string().regex(DOC_ID_PATTERN, 'session id must be 1-200 characters of letters, digits and ._:-'),
        tenantId: z.string().regex(TENANT_ID_PATTERN, 'tenant id is not valid'),
        title: z.string().max(200),
        createdAt: z.iso.datetime(),
        exportedAt: z.iso.datetime(),
      })
      .strict(),
    authors: z.array(z.object({ id: z.string(), updates: z.number().int().min(0) }).strict()),
    updates: z.array(z.object({ at: z.number().finite().min(0), author: z.string().min(1).max(200), update: base64 }).strict()).min(1, 'a bundle holds at least one update'),
    digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'digest must be sha256:<64 hex digits>'),
    midi: base64.optional(),
  })
  .strict();

/** What the digest covers: every update's time, author and bytes, in order. */
function digestOf(updates: readonly BundleUpdate[]): string {
  const hash = createHash('sha256');
  for (const u of updates) {
    hash.update(`${u.at}\n${u.author}\n${u.update.byteLength}\n`);
    hash.update(u.update);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** The bundle as the JSON text a file or a response holds. */
export function encodeBundle(bundle: SessionBundle): string {
  const authors = new Map<string, number>();
  for (const u of bundle.updates) authors.set(u.author, (authors.get(u.author) ?? 0) + 1);
  const wire: z.input<typeof wireSchema> = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    session: {
      id: bundle.id,
      tenantId: bundle.tenantId,
      title: bundle.title,
      createdAt: new Date(bundle.createdAt).toISOString(),
      exportedAt: new Date(bundle.exportedAt).toISOString(),
    },
    authors: [...authors].map(([id, updates]) => ({ id, updates })),
    updates: bundle.updates.map((u) => ({ at: u.at, author: u.author, update: Buffer.from(u.update).toString('base64') })),
    digest: digestOf(bundle.updates),
    ...(bundle.midi ? { midi: Buffer.from(bundle.midi).toString('base64') } : {}),
  };
  // One update per line keeps a bundle in version control readable and its diffs small.
  const { updates, ...head } = wire;
  const lines = updates.map((u) => `    ${JSON.stringify(u)}`).join(',\n');
  const headText = JSON.stringify(head, null, 2);
  return `${headText.slice(0, -2)},\n  "updates": [\n${lines}\n  ]\n}\n`;
}

/**
 * Reads and checks a bundle: its JSON, format and version, the digest (a truncated or edited log is
 * refused), and that its updates replay into a readable studio session. Throws BundleError with what
 * is wrong; nothing is written anywhere by this.
 */
export function decodeBundle(text: string): SessionBundle {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BundleError(`not a session bundle: the JSON does not parse (${(error as Error).message}); a truncated file reads like this`);
  }
  if (typeof raw === 'object' && raw !== null && (raw as { format?: unknown }).format === BUNDLE_FORMAT) {
    const version = (raw as { version?: unknown }).version;
    if (version !== BUNDLE_VERSION) throw new BundleError(`session bundle version ${JSON.stringify(version)} is not supported; this server reads version ${BUNDLE_VERSION}`);
  }
  const parsed = wireSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BundleError(`not a valid session bundle: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const wire = parsed.data;
  const updates = wire.updates.map((u) => ({ at: u.at, author: u.author, update: new Uint8Array(Buffer.from(u.update, 'base64')) }));
  if (digestOf(updates) !== wire.digest) throw new BundleError('the bundle is damaged: its updates do not match its digest');
  for (let i = 1; i < updates.length; i++) {
    if (updates[i]!.at < updates[i - 1]!.at) throw new BundleError(`update ${i} is dated before the one preceding it`);
  }
  const doc = new Y.Doc();
  updates.forEach((u, i) => {
    try {
      Y.applyUpdate(doc, u.update);
    } catch (error) {
      throw new BundleError(`update ${i} does not apply: ${(error as Error).message}`);
    }
  });
  if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null) throw new BundleError('the updates depend on changes the bundle does not hold');
  try {
    new StudioDoc(doc).snapshot();
  } catch (error) {
    throw new BundleError(`the updates do not make a readable studio session: ${(error as Error).message}`);
  }
  return {
    id: wire.session.id,
    tenantId: wire.session.tenantId,
    title: wire.session.title,
    createdAt: Date.parse(wire.session.createdAt),
    exportedAt: Date.parse(wire.session.exportedAt),
    updates,
    ...(wire.midi ? { midi: new Uint8Array(Buffer.from(wire.midi, 'base64')) } : {}),
  };
}
