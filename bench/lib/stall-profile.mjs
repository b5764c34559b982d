// Preload for the server under test: times the main thread's timer callbacks and worker messages by
// the place that scheduled them, and writes the sites that took longest when the process exits.
// What a socket message costs is not here (uWS calls JavaScript directly); what runs beside the
// messages and may hold them back is.
//
//   BENCH_NODE_ARGS="--import ./bench/lib/stall-profile.mjs" npm run bench:collab -- --servers veza …
//
// The table goes to $STALL_PROFILE_DIR (default: the system's temporary directory), one file per
// process: stall-profile-<pid>.txt.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, MessagePort, Worker } from 'node:worker_threads';

if (isMainThread) {
  /** @type {Map<string, { calls: number, totalMs: number, maxMs: number, over05: number, over1: number }>} */
  const sites = new Map();
  const siteOf = () => {
    const frames = (new Error().stack ?? '').split('\n').slice(3).filter((line) => !line.includes('node:') && !line.includes('stall-profile.mjs'));
    return frames.slice(0, 2).map((line) => line.trim().replace(/\(.*\/(src|build|node_modules)\//, '($1/')).join(' < ');
  };
  const timed = (fn, site) =>
    function (...args) {
      const started = process.hrtime.bigint();
      try {
        return fn.apply(this, args);
      } finally {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        let s = sites.get(site);
        if (!s) sites.set(site, (s = { calls: 0, totalMs: 0, maxMs: 0, over05: 0, over1: 0 }));
        s.calls++;
        s.totalMs += ms;
        s.maxMs = Math.max(s.maxMs, ms);
        if (ms > 0.5) s.over05++;
        if (ms > 1) s.over1++;
      }
    };
  for (const name of ['setTimeout', 'setInterval', 'setImmediate']) {
    const original = globalThis[name];
    globalThis[name] = function (fn, ...rest) {
      return original.call(this, typeof fn === 'function' ? timed(fn, `${name} ${siteOf()}`) : fn, ...rest);
    };
  }
  for (const proto of [Worker.prototype, MessagePort.prototype]) {
    for (const method of ['on', 'addListener', 'once']) {
      const original = proto[method];
      proto[method] = function (event, fn) {
        return original.call(this, event, event === 'message' && typeof fn === 'function' ? timed(fn, `message ${siteOf()}`) : fn);
      };
    }
  }
  const started = Date.now();
  process.on('exit', () => {
    const rows = [...sites]
      .sort((a, b) => b[1].totalMs - a[1].totalMs)
      .slice(0, 25)
      .map(([site, s]) => `${s.totalMs.toFixed(1).padStart(8)} ms ${String(s.calls).padStart(7)} calls  max ${s.maxMs.toFixed(2).padStart(6)} ms  >0.5 ms ${String(s.over05).padStart(4)}  >1 ms ${String(s.over1).padStart(4)}  ${site}`);
    const file = join(process.env.STALL_PROFILE_DIR ?? tmpdir(), `stall-profile-${process.pid}.txt`);
    writeFileSync(file, `main thread, ${((Date.now() - started) / 1000).toFixed(1)} s: callbacks by where they were scheduled\n${rows.join('\n')}\n`);
  });
}
