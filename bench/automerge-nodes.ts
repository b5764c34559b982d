// Automerge across nodes: changes per second and propagation latency between unmodified
// automerge-repo clients (reference WebSocket adapter), with writer and observer on one node, then
// on two nodes that share PostgreSQL and Redis. Each server is its own process.
// Usage: npm run bench:automerge -- [--docs N] [--rate R] [--seconds S]
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Repo, type DocHandle, type PeerId, type StorageId } from '@automerge/automerge-repo';
import { WebSocketClientAdapter } from '@automerge/automerge-repo-network-websocket';
import { runVeza, spawnServer, type ServerProcess } from '../test/helpers/process.js';
import { createTestDatabase, REDIS_URL, redisPrefix, tempDir } from '../test/helpers/services.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
  },
});
const DOCS = Number(values.docs);
/** Changes per second per document (one writer each). */
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const SECRET = 'automerge-bench-secret-automerge-bench-secret';

interface Beat {
  n: number;
  at: number;
}

interface Result {
  setup: string;
  sent: number;
  received: number;
  perSecond: number;
  p50: number;
  p99: number;
}

async function run(setup: 'one node' | 'two nodes'): Promise<Result> {
  const db = await createTestDatabase();
  const data = tempDir('automerge-bench');
  const env = { DATABASE_URL: db.url, VEZA_JWT_SECRET: SECRET, VEZA_LOG_LEVEL: 'warn', VEZA_RATE_LIMIT_CONNECTIONS_PER_MINUTE: '0', VEZA_WS_MESSAGES_PER_SECOND: '0', ...(setup === 'two nodes' ? { REDIS_URL, VEZA_COLLAB_STREAM_PREFIX: `${redisPrefix('automerge-bench')}:` } : {}) };
  const token = (await runVeza(['token', '--sub', 'bench', '--doc', '*', '--role', 'editor'], env)).stdout.trim();
  const nodes: ServerProcess[] = [await spawnServer(['--data-dir', data.dir, '--log-level', 'info'], env)];
  if (setup === 'two nodes') nodes.push(await spawnServer(['--data-dir', data.dir, '--log-level', 'info'], env));
  const url = (node: ServerProcess) => `${node.url.replace('http', 'ws')}/automerge?token=${token}`;
  const closes: string[] = [];
  const adapter = (u: string) => {
    const a = new WebSocketClientAdapter(u, 500);
    const onClose = a.onClose;
    a.onClose = () => {
      closes.push('closed');
      onClose();
    };
    const socketClose = (e: { code: number; reason: string }) => closes.push(`${e.code} ${e.reason}`);
    const connect = a.connect.bind(a);
    a.connect = (...args: Parameters<typeof a.connect>) => {
      connect(...args);
      a.socket?.addEventListener('close', socketClose);
    };
    return a;
  };
  const writerRepo = new Repo({ network: [adapter(url(nodes[0]!))] });
  const observerRepo = new Repo({ network: [adapter(url(nodes[nodes.length - 1]!))] });
  const latencies: number[] = [];
  let received = 0;
  let sent = 0;
  try {
    const writers: DocHandle<Beat>[] = [];
    for (let i = 0; i < DOCS; i++) {
      const handle = writerRepo.create<Beat>({ n: 0, at: Date.now() });
      writers.push(handle);
    }
    // The observer asks once the server has acknowledged each document (it is stored then).
    const deadline = Date.now() + 60_000;
    while (!writers.every((w) => acknowledged(writerRepo, w))) {
      if (Date.now() > deadline) throw new Error('the server did not acknowledge the new documents within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const observers = await Promise.all(writers.map((w) => observerRepo.find<Beat>(w.url)));
    let measuring = false;
    for (const handle of observers) {
      let last = handle.doc().n;
      handle.on('change', ({ doc }) => {
        if (!measuring || doc.n === last) return;
        received += doc.n - last;
        last = doc.n;
        latencies.push(Date.now() - doc.at);
      });
    }
    measuring = true;
    const interval = 1000 / RATE;
    const started = Date.now();
    const timer = setInterval(() => {
      for (const w of writers) {
        w.change((d) => {
          d.n += 1;
          d.at = Date.now();
        });
        sent++;
      }
    }, interval);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    clearInterval(timer);
    const elapsed = (Date.now() - started) / 1000;
    // Stragglers: what is on its way arrives within a second.
    await new Promise((r) => setTimeout(r, 1000));
    measuring = false;
    latencies.sort((a, b) => a - b);
    const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    if (closes.length > 0) console.error(`client sockets closed: ${closes.join('; ')}`);
    return { setup, sent, received, perSecond: Math.round(received / elapsed), p50: pick(0.5), p99: pick(0.99) };
  } finally {
    await Promise.all([writerRepo.shutdown(), observerRepo.shutdown()]).catch(() => undefined);
    for (const node of nodes) {
      for (const line of node.logs.filter((l) => Number(l.level) >= 30 && !String(l.msg).startsWith("veza listening") && !String(l.msg).includes("JWT") && !String(l.msg).includes("test-mode")).slice(0, 12)) console.error(`server: ${String(line.msg)} ${JSON.stringify(line.err ?? '')}`.slice(0, 400));
      node.child.kill('SIGTERM');
      await node.exited;
    }
    await db.drop();
    data.remove();
  }
}

function acknowledged(repo: Repo, handle: DocHandle<unknown>): boolean {
  const storageId = repo.peerMetadataByPeerId['veza-server:default' as PeerId]?.storageId as StorageId | undefined;
  const heads = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
  return heads !== undefined && heads.length === handle.heads().length && heads.every((h) => handle.heads().includes(h));
}

const commit = execSync('git rev-parse --short HEAD').toString().trim();
console.log(`automerge-nodes: ${DOCS} documents, one writer and one observer each, ${RATE} changes/s per document, ${SECONDS} s; commit ${commit}`);
console.log('| setup | changes sent | changes received | received per s | p50 ms | p99 ms |');
console.log('|---|---|---|---|---|---|');
for (const setup of ['one node', 'two nodes'] as const) {
  const r = await run(setup);
  console.log(`| ${r.setup} | ${r.sent} | ${r.received} | ${r.perSecond} | ${r.p50} | ${r.p99} |`);
}
process.exit(0);
