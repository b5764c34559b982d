// Events for the side modules while the collaboration benchmark runs: plays and likes POSTed to
// /api/v1/events at a steady rate, as players would report them, so the insights writer, the
// gamification engine (a rule counts plays) and recommendation signals work during every step.
// Runs as its own process (its CPU is not the generator's). Prints what it sent when stopped.
// Usage: node --import tsx bench/lib/side-events.ts BASE_URL RATE TOKEN...
import http from 'node:http';

const [base, rateArg, ...tokens] = process.argv.slice(2);
const rate = Number(rateArg);
if (!base || !(rate > 0) || tokens.length === 0) {
  process.stderr.write('usage: side-events.ts BASE_URL RATE TOKEN...\n');
  process.exit(2);
}

let sent = 0;
let failed = 0;
let inFlight = 0;
const started = performance.now();
const tracks = Array.from({ length: 200 }, (_, i) => `bench-track-${i}`);
const url = new URL('/api/v1/events', base);
// node:http with kept-alive sockets: this process shares the machine's cores with the server and the
// generator, so it should cost as little as a player's reports would (fetch costs several times more).
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function send(n: number): void {
  inFlight++;
  const type = n % 4 === 3 ? 'track.liked' : 'track.played';
  const payload = type === 'track.played' ? { trackId: tracks[n % tracks.length], startMs: 0, endMs: 30_000, durationMs: 180_000 } : { trackId: tracks[n % tracks.length] };
  const body = JSON.stringify({ type, payload });
  const done = (ok: boolean) => {
    inFlight--;
    if (ok) sent++;
    else failed++;
  };
  const req = http.request(
    url,
    { method: 'POST', agent, headers: { authorization: `Bearer ${tokens[n % tokens.length]}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
    (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 202));
      res.on('error', () => done(false));
    },
  );
  req.on('error', () => done(false));
  req.end(body);
}

let due = 0;
// One wake-up per report at these rates (every 5 ms at most), each sending what is due.
const timer = setInterval(
  () => {
    const target = Math.floor(((performance.now() - started) * rate) / 1000);
    // At most 32 requests in flight: a server that cannot keep up gets a backlog, not a flood.
    while (due < target && inFlight < 32) send(due++);
    due = Math.max(due, target - 32);
  },
  Math.max(5, 1000 / rate),
);

process.on('SIGTERM', () => {
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ sent, failed, seconds, perSecond: sent / seconds })}\n`);
  process.exit(0);
});
