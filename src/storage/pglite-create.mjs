// A short-lived process that creates the embedded database (initdb and a first start) in the
// directory given as its argument, closes it and exits: see pglite-open.mjs for why it runs apart.
import { PGlite } from '@electric-sql/pglite';

try {
  const pglite = new PGlite(process.argv[2]);
  await pglite.waitReady;
  await pglite.close();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
