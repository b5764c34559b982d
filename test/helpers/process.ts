import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

export const VEZA_BIN = path.resolve(import.meta.dirname, '../../bin/veza.js');

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `veza serve` as its own process and resolves once it logs the port it listens on. */
export async function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}, options: { listenTimeoutMs?: number } = {}): Promise<ServerProcess> {
  // A fresh embedded database is created first (initdb in WebAssembly): on a loaded runner, tens of seconds.
  const listenTimeoutMs = options.listenTimeoutMs ?? 90_000;
  const port = args.includes('--port') ? [] : ['--port', '0'];
  const child = spawn(process.execPath, [VEZA_BIN, 'serve', '--host', '127.0.0.1', ...port, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const listening = await new Promise<number>((resolve, reject) => {
    // It logs "veza listening" at info level: a quieter --log-level would leave us waiting. The timer
    // is cleared once it listens, so a server that started in time is not killed later in its test.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`veza serve did not report listening within ${listenTimeoutMs / 1000} s:\n${stderr}`));
    }, listenTimeoutMs);
    timer.unref();
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          logs.push(record);
          if (typeof record.port === 'number' && String(record.msg).startsWith('veza listening')) {
            clearTimeout(timer);
            resolve(record.port);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`veza serve exited with ${code} before listening:\n${stderr}`));
    });
  });
  return { child, port: listening, url: `http://127.0.0.1:${listening}`, logs, exited };
}

/** Runs a short `veza` command to completion. */
export async function runVeza(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [VEZA_BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
