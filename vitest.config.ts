import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Suites that take minutes rather than seconds: a local EVM chain (contracts, minting, the market,
 * the web client's ownership screens), ffmpeg mastering chains iterated to their target, bounces
 * rendered by fluidsynth, two server processes sharing PostgreSQL and Redis, and hundreds of
 * create-then-find cycles. They run in `npm run test:heavy` (VEZA_HEAVY=1), which CI runs after
 * `npm test`, so `npm test` stays a check of a few minutes' less.
 */
const HEAVY = [
  'test/contracts/**/*.test.ts',
  'test/nft/**/*.test.ts',
  'test/bounce/**/*.test.ts',
  'test/web/nft.test.ts',
  'test/mastering/chain.test.ts',
  'test/mastering/api.test.ts',
  'test/automerge/cluster.test.ts',
  'test/automerge/find-race.test.ts',
];
const heavy = process.env.VEZA_HEAVY === '1';
const e2e = process.env.VEZA_E2E === '1';

export default defineConfig({
  test: {
    include: heavy ? HEAVY : ['test/**/*.test.ts'],
    // *.e2e.test.ts load the machine (20 Chromium viewers, lip-sync measured at the receiver): they
    // run alone, one file at a time, in `npm run test:e2e` (VEZA_E2E=1), never next to the rest.
    exclude: [...configDefaults.exclude, ...(e2e ? [] : ['test/**/*.e2e.test.ts']), ...(heavy || e2e ? [] : HEAVY)],
    // Real PGlite/PostgreSQL/Redis and spawned servers: give them room, and no parallel storm on 2 cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A page or a server waited on without a timeout of its own gets 15 s, not vitest's 1 s: on a
    // loaded 2-core runner a click's request and the list drawn again took longer than a second.
    expect: { poll: { timeout: 15_000 } },
    // In CI only, a failed test runs once more before it fails the run: on a loaded 2-core runner a
    // page, a server or a retry loop can be slower than a test expects. A defect fails both runs;
    // .ci/run lists every test that passed only on its second run, so timing-sensitive tests stay
    // visible and get mended.
    retry: process.env.CI ? 1 : 0,
    fileParallelism: true,
    maxWorkers: 2,
    // An empty embedded database made once per run, which test servers copy (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    // Every JSON reply of every test is checked against its route's declared schema (http.ts).
    env: { VEZA_CHECK_RESPONSES: 'true' },
  },
});
