import { locateMediaWorker } from '../../src/media/worker-binary.js';

/** The built mediasoup worker, or null (a printed skip; a failure with REQUIRE_SERVICES=1, as in CI). */
export function builtWorker(): string | null {
  const found = locateMediaWorker();
  if (found.available) return found.path;
  const reason = `no mediasoup worker: ${found.reason}; build it with \`${found.fix}\``;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${reason} (REQUIRE_SERVICES=1)`);
  console.warn(`SKIP: ${reason}`);
  return null;
}
