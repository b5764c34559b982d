// A deleted tenant's content files: the audio and metadata its editions point at (kept by content
// id under nft/content) go into its export archive and are removed when it is purged, unless
// another tenant stored the same bytes (one file per content id), which stays for that tenant.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore } from '../../src/nft/content.js';
import { Storage } from '../../src/storage/database.js';
import { TenantLifecycle } from '../../src/tenants/lifecycle.js';
import { TenantRegistry } from '../../src/tenants/registry.js';
import { tempDir } from '../helpers/services.js';

describe('the content files of a deleted tenant', () => {
  const data = tempDir('nft-tenant-content');
  let storage: Storage;
  let content: ContentStore;
  let lifecycle: TenantLifecycle;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    storage = await Storage.open({ dataDir: data.dir, thread: false });
    await storage.migrate();
    const registry = new TenantRegistry(storage);
    for (const id of ['gone', 'stays']) await registry.create({ id, name: id });
    content = new ContentStore(storage, data.dir, logger);
    lifecycle = new TenantLifecycle({ storage, dataDir: data.dir, registry, logger, changed: async () => undefined });
  }, 240_000);
  afterAll(async () => {
    await storage?.close();
    data.remove();
  });

  it('exports them with the tenant, then removes those no other tenant holds', async () => {
    const own = await content.put('gone', Buffer.from('audio only the leaving tenant made'), 'audio/flac', 'own.flac');
    const meta = await content.put('gone', Buffer.from('{"name":"leaving"}'), 'application/json', 'own.json');
    const shared = await content.put('gone', Buffer.from('the same bytes in two tenants'), 'audio/flac', 'shared.flac');
    await content.put('stays', Buffer.from('the same bytes in two tenants'), 'audio/flac', 'shared.flac');
    const other = await content.put('stays', Buffer.from('audio of the tenant that stays'), 'audio/flac', 'other.flac');

    const { exported } = await lifecycle.request('gone', { by: 'operator', graceSeconds: 0 });
    const deletion = await exported;
    expect(deletion.state).toBe('purged');

    // The archive holds the tenant's content files, by content id, and none of the other tenant's.
    const out = path.join(data.dir, 'extracted');
    mkdirSync(out);
    execFileSync('tar', ['-xzf', path.join(data.dir, deletion.archive!), '-C', out]);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { files: { path: string }[] };
    const files = manifest.files.map((f) => f.path);
    for (const cid of [own.cid, meta.cid, shared.cid]) {
      expect(files).toContain(`nft/content/${cid}`);
      expect(existsSync(path.join(out, 'files', 'nft', 'content', cid))).toBe(true);
    }
    expect(files).not.toContain(`nft/content/${other.cid}`);
    expect(readFileSync(path.join(out, 'files', 'nft', 'content', own.cid), 'utf8')).toBe('audio only the leaving tenant made');

    // Purged: its own files are gone, the shared one and the other tenant's stay and are still served.
    expect(existsSync(content.pathOf(own.cid))).toBe(false);
    expect(existsSync(content.pathOf(meta.cid))).toBe(false);
    expect(existsSync(content.pathOf(shared.cid))).toBe(true);
    expect(existsSync(content.pathOf(other.cid))).toBe(true);
    expect(await content.get('gone', own.cid)).toBeNull();
    expect(await content.get('stays', shared.cid)).toMatchObject({ cid: shared.cid });
  }, 60_000);
});
