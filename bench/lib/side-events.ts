// Events for the side modules while the collaboration benchmark runs: plays and likes POSTed to
// /api/v1/events at a steady rate, as players would report them, so the insights writer, the
// gamification engine (a rule counts plays) and recommendation signals work during every step.
// Runs as its own process (its CPU is not the generator's). Prints what it sent when stopped.
// Usage: node --import tsx bench/lib/side-events.ts BASE_URL RATE TOKEN...
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

async function send(n: number): Promise<void> {
  inFlight++;
  const type = n % 4 === 3 ? 'track.liked' : 'track.played';
  const payload = type === 'track.played' ? { trackId: tracks[n % tracks.length], startMs: 0, endMs: 30_000, durationMs: 180_000 } : { trackId: tracks[n % tracks.length] };
  try {
    const res = await fetch(`${base}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[n % tokens.length]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type, payload }),
    });
    await res.arrayBuffer();
    if (res.status === 202) sent++;
    else failed++;
  } catch {
    failed++;
  } finally {
    inFlight--;
  }
}

let due = 0;
const timer = setInterval(() => {
  const target = Math.floor(((performance.now() - started) * rate) / 1000);
  // At most 32 requests in flight: a server that cannot keep up gets a backlog, not a flood.
  while (due < target && inFlight < 32) void send(due++);
  due = Math.max(due, target - 32);
}, 5);

process.on('SIGTERM', () => {
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ sent, failed, seconds, perSecond: sent / seconds })}\n`);
  process.exit(0);
});
