import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collabModule } from '../../src/collab/module.js';
import type { SessionDiff } from '../../src/history/diff.js';
import { registerAuthorshipRoutes } from '../../src/history/routes.js';
import { HistoryService } from '../../src/history/service.js';
import { defineModule } from '../../src/modules/contract.js';
import type { LoggedUpdateRow } from '../../src/studio/replay-store.js';
import { studioModule } from '../../src/studio/module.js';
import { startModules, type TestNode } from '../helpers/modules.js';
import { playScript, STEPS } from './script.js';

/**
 * Moments named by saved versions: the routes resolve `fromVersion` / `toVersion` through the
 * resolver they are given (the versions module's), to the log id a version ends at.
 */
let node: TestNode;
let token: string;
let rows: LoggedUpdateRow[];
const doc = 'versioned-song';
const asked: string[] = [];

const historyWithVersions = defineModule({
  name: 'history',
  settings: null,
  async start(ctx) {
    const studio = ctx.use(studioModule);
    const history = new HistoryService(studio.replay, ctx.storage);
    // v-9 ends at step 9, v-21 at step 21.
    const resolveVersion = async (tenantId: string, sessionId: string, versionId: string) => {
      asked.push(`${tenantId}/${sessionId}/${versionId}`);
      const step = /^v-(\d+)$/.exec(versionId);
      const row = step ? rows[Number(step[1]) - 1] : undefined;
      return row ? { uptoId: row.id, at: row.at } : null;
    };
    return { api: { history }, routes: () => registerAuthorshipRoutes(ctx.http, { history, resolveVersion }) };
  },
});

beforeAll(async () => {
  node = await startModules(() => [collabModule, studioModule, historyWithVersions], { 'collab-flush-ms': '5' });
  token = await node.node.auth.sign({ sub: 'a', docs: { [doc]: 'editor' } });
  rows = await playScript(node.node.modules.api(collabModule), node.node.modules.api(studioModule).replay, doc, STEPS);
}, 60_000);
afterAll(() => node?.stop());

const get = (path: string) => fetch(`${node.url}/api/v1/sessions/${doc}/diff?${path}`, { headers: { authorization: `Bearer ${token}` } });

describe('diff between versions', () => {
  it('resolves both versions to the log ids they end at, and answers as for those moments', async () => {
    const byVersion = await get('fromVersion=v-9&toVersion=v-21');
    expect(byVersion.status).toBe(200);
    const versions = (await byVersion.json()) as SessionDiff & { from: unknown; to: unknown };
    expect(versions.from).toEqual({ at: rows[8]!.at, uptoId: rows[8]!.id });
    expect(versions.to).toEqual({ at: rows[20]!.at, uptoId: rows[20]!.id });
    const byTime = (await (await get(`from=${rows[8]!.at}&to=${rows[20]!.at}`)).json()) as SessionDiff;
    expect(versions.tracks).toEqual(byTime.tracks);
    expect(versions.summary).toEqual(byTime.summary);
    expect(asked).toEqual([`default/${doc}/v-9`, `default/${doc}/v-21`]);
  });

  it('mixes a version with a time, and refuses a version after the time', async () => {
    const mixed = await get(`fromVersion=v-20&to=${rows[20]!.at}`);
    expect(mixed.status).toBe(200);
    expect(((await mixed.json()) as SessionDiff).summary.tracksRemoved).toBe(1);
    const reversed = await get(`fromVersion=v-21&to=${rows[8]!.at}`);
    expect(reversed.status).toBe(400);
    expect(((await reversed.json()) as { detail: string }).detail).toMatch(/must not come after/);
    const unknown = await get('fromVersion=v-99');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { detail: string }).detail).toBe(`version v-99 of session ${doc} not found`);
  });
});
