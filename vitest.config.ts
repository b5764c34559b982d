import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // *.e2e.test.ts load the machine (20 Chromium viewers, lip-sync measured at the receiver): they
    // run alone, one file at a time, in `npm run test:e2e` (VEZA_E2E=1), never next to the rest.
    exclude: process.env.VEZA_E2E === '1' ? configDefaults.exclude : [...configDefaults.exclude, 'test/**/*.e2e.test.ts'],
    // Real PGlite/PostgreSQL/Redis and spawned servers: give them room, and no parallel storm on 2 cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
    // Every JSON reply of every test is checked against its route's declared schema (http.ts).
    env: { VEZA_CHECK_RESPONSES: 'true' },
  },
});
