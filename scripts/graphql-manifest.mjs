// Writes the GraphQL operations manifest of the web client: every `/* GraphQL */` template string of
// web/src, in Apollo's persisted query manifest format, to web/dist/graphql-operations.json, where
// the server reads it (VEZA_GRAPHQL_MANIFEST) for its allow-list. Run by build-web-if-changed.mjs.
//   node scripts/graphql-manifest.mjs [--out <file>]
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';

const root = fileURLToPath(new URL('..', import.meta.url));
const at = process.argv.indexOf('--out');
const out = at > 0 ? path.resolve(process.argv[at + 1]) : path.join(root, 'web', 'dist', 'graphql-operations.json');
const sources = path.join(root, 'web', 'src');
const MARKED = /\/\*\s*GraphQL\s*\*\/\s*`([^`]*)`/g;

const operations = [];
for (const file of readdirSync(sources, { recursive: true }).map(String).filter((f) => f.endsWith('.ts')).sort()) {
  const text = readFileSync(path.join(sources, file), 'utf8');
  for (const match of text.matchAll(MARKED)) {
    const body = match[1];
    if (body.includes('${')) throw new Error(`web/src/${file}: a GraphQL operation must be a plain string (no \${} inside), so that its hash is known at build`);
    const document = parse(body);
    const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
    if (!operation?.name) throw new Error(`web/src/${file}: every GraphQL operation needs a name`);
    operations.push({ id: createHash('sha256').update(body).digest('hex'), name: operation.name.value, type: operation.operation, body });
  }
}
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations }, null, 2)}\n`);
process.stderr.write(`web client: ${operations.length} GraphQL operations in ${path.relative(root, out)}\n`);
