// GraphQL: requests/s and p99 for the mobile home screen (me + my sessions with their tracks + a
// leaderboard) on our uWS server, on mercurius (Fastify) and on graphql-yoga (node:http), side by
// side in one run. All three serve the same schema object with the same resolvers over the same
// storage (one embedded database, the same services), and verify the same bearer token per request.
// Sessions' track lists are cached between requests (dropped on change), for every server alike.
// Then: graphql-js vs graphql-jit on the execution alone (and graphql-js with that cache emptied each run), and the bytes of the screen's request
// before/after persisted queries and of its answer raw/gzip/brotli (computed with node:zlib).
// Usage: node --import tsx bench/graphql.ts [--seconds 5] [--connections 10] [--sessions 20]
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { execute, parse } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import mercurius from 'mercurius';
import pino from 'pino';
import { collabModule } from '../src/collab/module.js';
import { loadConfig } from '../src/config.js';
import { gamificationModule } from '../src/gamification/module.js';
import { graphqlModule } from '../src/graphql/module.js';
import { sha256 } from '../src/graphql/persisted.js';
import { startNode } from '../src/main.js';
import { StudioDoc } from '../src/studio/model.js';
import { studioModule } from '../src/studio/module.js';
import { tempDir } from '../test/helpers/services.js';
import { gitDescribe } from './lib/servers.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '10' }, sessions: { type: 'string', default: '20' } } });
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const SESSIONS = Number(values.sessions);
const log = (line: string) => process.stderr.write(`${line}\n`);

const HOME = 'query Home { me { userId tenantId } sessions(limit: 20) { id title updates lastUpdateAt tracks { id name kind color volume pan } } leaderboard(limit: 10) { metric period entries { rank member value } } }';

const data = tempDir('bench-graphql');
const config = loadConfig({}, { host: '127.0.0.1', port: '0', 'log-level': 'silent', 'data-dir': data.dir, 'rate-limit-requests-per-minute': '0', 'graphql-max-cost': '100000' });
const node = await startNode(config, [collabModule, studioModule, gamificationModule, graphqlModule], { logger: pino({ level: 'silent' }) });
const collab = node.modules.api(collabModule);
for (let i = 0; i < SESSIONS; i++) {
  await collab.edit('default', `bench-${i}`, 'ada', (doc) => {
    const studio = new StudioDoc(doc);
    studio.updateSettings({ title: `Bench session ${i}` });
    for (let t = 0; t < 4; t++) studio.addTrack({ name: `Track ${t}` });
  });
}
await collab.writer.flush('default');
const token = await node.auth.sign({ sub: 'ada', docs: { '*': 'owner' } });
const { engine, services } = node.modules.api(graphqlModule);
const contextOf = async (authorization: string | undefined) => engine.context(await node.auth.verify(authorization?.replace(/^Bearer /i, '') ?? null), services);

// mercurius on Fastify
const fastify = Fastify({ logger: false });
await fastify.register(mercurius, { schema: engine.schema, context: (request) => contextOf(request.headers.authorization) });
await fastify.listen({ host: '127.0.0.1', port: 0 });
const fastifyPort = (fastify.server.address() as { port: number }).port;
// mercurius again with its own graphql-jit compilation on (jit: 1 compiles a query from its second
// run, as ours does): the strongest configuration it offers.
const fastifyJit = Fastify({ logger: false });
await fastifyJit.register(mercurius, { schema: engine.schema, jit: 1, context: (request) => contextOf(request.headers.authorization) });
await fastifyJit.listen({ host: '127.0.0.1', port: 0 });
const fastifyJitPort = (fastifyJit.server.address() as { port: number }).port;

// graphql-yoga on node:http. Loaded by a name the type checker does not follow: its types pull the
// DOM's into the whole program, where Node's fetch would then be typed as the browser's.
type YogaContext = { request: { headers: { get(name: string): string | null } } };
type CreateYoga = (options: { schema: unknown; context: (c: YogaContext) => unknown; logging: boolean; maskedErrors: boolean; graphiql: boolean }) => Parameters<typeof createServer>[1];
const yogaPackage = 'graphql-yoga';
const { createYoga } = (await import(yogaPackage)) as { createYoga: CreateYoga };
const yoga = createYoga({ schema: engine.schema, context: ({ request }) => contextOf(request.headers.get('authorization') ?? undefined), logging: false, maskedErrors: false, graphiql: false });
const yogaServer: Server = createServer(yoga);
await new Promise<void>((resolve) => yogaServer.listen(0, '127.0.0.1', resolve));
const yogaPort = (yogaServer.address() as { port: number }).port;

const body = JSON.stringify({ query: HOME });
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
// Every server answers the same data first.
const answers = await Promise.all(
  [`http://127.0.0.1:${node.port}/graphql`, `http://127.0.0.1:${fastifyPort}/graphql`, `http://127.0.0.1:${fastifyJitPort}/graphql`, `http://127.0.0.1:${yogaPort}/graphql`].map(async (url) => {
    const json = (await (await fetch(url, { method: 'POST', headers, body })).json()) as { data?: unknown; errors?: unknown };
    if (json.errors || !json.data) throw new Error(`${url} answered ${JSON.stringify(json).slice(0, 300)}`);
    return JSON.stringify(json.data);
  }),
);
if (new Set(answers).size !== 1) throw new Error('the servers answered different data');
const responseBytes = Buffer.byteLength(JSON.stringify({ data: JSON.parse(answers[0]!) }));

async function load(name: string, options: { url: string; method?: 'GET' | 'POST'; body?: string }) {
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({ url: options.url, method: options.method ?? 'POST', headers, ...(options.body ? { body: options.body } : {}), connections: CONNECTIONS, duration: SECONDS });
  const cpu = process.cpuUsage(cpuBefore);
  // The process's CPU (server and load generator together, the generator's share alike for every server) per answered request.
  const cpuUsPerRequest = Math.round((cpu.user + cpu.system) / Math.max(1, result.requests.total));
  const row = { server: name, requestsPerSecond: Math.round(result.requests.average), p50Ms: result.latency.p50, p99Ms: result.latency.p99, cpuUsPerRequest, non2xx: result.non2xx, errors: result.errors };
  log(JSON.stringify(row));
  return row;
}

const hash = sha256(HOME);
const apqQuery = `extensions=${encodeURIComponent(JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } }))}`;
await fetch(`http://127.0.0.1:${node.port}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: HOME, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }) });

log(`load average before: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const rows = [];
for (const round of [1, 2]) {
  log(`round ${round}`);
  rows.push({ round, ...(await load('veza (uWS) POST', { url: `http://127.0.0.1:${node.port}/graphql`, body })) });
  rows.push({ round, ...(await load('veza (uWS) GET persisted', { url: `http://127.0.0.1:${node.port}/graphql?${apqQuery}`, method: 'GET' })) });
  rows.push({ round, ...(await load('mercurius 16 (Fastify 5)', { url: `http://127.0.0.1:${fastifyPort}/graphql`, body })) });
  rows.push({ round, ...(await load('mercurius 16 (Fastify 5), jit: 1', { url: `http://127.0.0.1:${fastifyJitPort}/graphql`, body })) });
  rows.push({ round, ...(await load('graphql-yoga 5 (node:http)', { url: `http://127.0.0.1:${yogaPort}/graphql`, body })) });
}
const loadAfter = os.loadavg();

// graphql-js vs graphql-jit: the execution alone, same context kind, RUNS runs each.
const RUNS = 100;
const document = parse(HOME);
const compiled = compileQuery(engine.schema, document, 'Home');
if (!isCompiledQuery(compiled)) throw new Error('graphql-jit could not compile the query');
const principal = await node.auth.verify(token);
async function timeRuns(run: () => unknown): Promise<number> {
  for (let i = 0; i < 10; i++) await run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < RUNS; i++) await run();
  return Number(process.hrtime.bigint() - started) / 1e6 / RUNS;
}
const jsMs = await timeRuns(() => execute({ schema: engine.schema, document, contextValue: engine.context(principal, services) }));
const jitMs = await timeRuns(() => compiled.query(undefined, engine.context(principal, services), {}));
// The same with the session content cache emptied before every run: what a screen costs when every one of its sessions changed.
const coldMs = await timeRuns(async () => {
  for (let i = 0; i < SESSIONS; i++) services.contents.changed('default', `bench-${i}`);
  await execute({ schema: engine.schema, document, contextValue: engine.context(principal, services) });
});

const requestBytes = {
  postFullQuery: Buffer.byteLength(body),
  postHashOnly: Buffer.byteLength(JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } })),
  getHashUrl: Buffer.byteLength(`/graphql?${apqQuery}`),
};
const response = Buffer.from(JSON.stringify({ data: JSON.parse(answers[0]!) }));
const wire = { responseRaw: responseBytes, responseGzip: gzipSync(response).byteLength, responseBrotli: brotliCompressSync(response).byteLength };

const out = { commit: gitDescribe(), node: process.version, cpus: os.cpus().length, seconds: SECONDS, connections: CONNECTIONS, sessions: SESSIONS, loadAfter: loadAfter.map((x) => +x.toFixed(2)), rows, executeMs: { graphqlJs: +jsMs.toFixed(3), graphqlJit: +jitMs.toFixed(3), graphqlJsContentUncached: +coldMs.toFixed(3) }, contentCache: { hits: services.contents.hits, misses: services.contents.misses }, sessionLists: { hits: services.lists.hits, misses: services.lists.misses }, requestBytes, wire };
console.log(JSON.stringify(out, null, 2));

await fastify.close();
await fastifyJit.close();
await new Promise((resolve) => yogaServer.close(resolve));
await node.shutdown();
data.remove();
