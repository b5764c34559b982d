// A CPU profile of another Node process over its inspector (started with --inspect=HOST:PORT), taken
// only while `run` runs: what a server does under load, without the profiler running through its
// start-up and its wait for quiet. The result opens in Chrome DevTools (Performance, "Load profile")
// or any .cpuprofile viewer.
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

/** Profiles the process listening for the inspector on `port` while `run` runs; writes the profile to `file`. */
export async function profileWhile<T>(port: number, file: string, run: () => Promise<T>, samplingIntervalUs = 200): Promise<T> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const pending = new Map<number, Pending>();
  let nextId = 1;
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    await send('Profiler.enable');
    await send('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
    await send('Profiler.start');
    const result = await run();
    const { profile } = (await send('Profiler.stop')) as { profile: unknown };
    writeFileSync(file, JSON.stringify(profile));
    return result;
  } finally {
    socket.close();
  }
}
