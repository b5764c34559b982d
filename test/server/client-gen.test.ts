import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { tsType } from '../../src/server/client-gen.js';
import { matchesIfNoneMatch, strongEtag, variantEtag } from '../../src/server/compression.js';
import { openApiPath, operationId } from '../../src/server/openapi.js';

describe('the typed client generator', () => {
  it('turns zod\'s JSON Schemas into TypeScript types: nullables, enums, records, optional fields', () => {
    const schema = z.toJSONSchema(
      z.object({ id: z.string(), at: z.number().nullable(), kind: z.enum(['track', 'sample']), docs: z.record(z.string(), z.boolean()), note: z.string().optional(), tags: z.array(z.string()) }),
      { target: 'draft-2020-12', io: 'output' },
    );
    const type = tsType(schema).replace(/\s+/g, ' ');
    expect(type).toBe('{ id: string; at: number | null; kind: "track" | "sample"; docs: { [key: string]: boolean | undefined; }; note?: string; tags: Array<string>; }');
  });

  it('names operations and paths as the spec does', () => {
    expect(openApiPath('/api/v1/sessions/:id/history')).toBe('/api/v1/sessions/{id}/history');
    expect(operationId({ method: 'GET', pattern: '/api/v1/sessions/:id/export.mid' })).toBe('getApiV1SessionsByIdExportMid');
  });
});

describe('validators', () => {
  it('a strong ETag is matched by If-None-Match in any coding, in a list, or by *', () => {
    const etag = strongEtag('{"a":1}');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(strongEtag('{"a":2}')).not.toBe(etag);
    expect(matchesIfNoneMatch(variantEtag(etag, 'br'), etag)).toBe(true);
    expect(matchesIfNoneMatch(`"other", ${variantEtag(etag, 'gzip')}`, etag)).toBe(true);
    expect(matchesIfNoneMatch('*', etag)).toBe(true);
    expect(matchesIfNoneMatch('"other"', etag)).toBe(false);
    expect(matchesIfNoneMatch(undefined, etag)).toBe(false);
  });
});
