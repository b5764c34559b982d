// One delivery attempt: a POST of the message's body with its signed headers, to the address the
// guard allowed, within the attempt's time limit (connection, request and response together). A
// 2xx answer is a success; anything else, a redirect included, is a failure, as is a timeout.
import http from 'node:http';
import https from 'node:https';
import { AddressRefused, guardedLookup, literalRefused } from './address-guard.js';

/** What the delivery log keeps of a receiver's answer. */
const KEPT_BODY_BYTES = 1024;

export interface AttemptResult {
  ok: boolean;
  /** The response's status; null when none came (refused, unreachable, timed out). */
  status: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

export interface AttemptOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
}

export function attemptDelivery(options: AttemptOptions): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const url = new URL(options.url);
  // A literal address is connected to without a lookup: judged here.
  if (literalRefused(url, options.allowPrivate)) return Promise.resolve({ ok: false, status: null, durationMs: 0, error: new AddressRefused(url.hostname).message, responseBody: null });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<AttemptResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, durationMs: elapsed() });
    };
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(
      url,
      {
        method: 'POST',
        lookup: guardedLookup(options.allowPrivate),
        headers: { 'content-type': 'application/json', 'user-agent': 'Veza-Webhooks/1', 'content-length': Buffer.byteLength(options.body), ...options.headers },
        // One attempt, one connection: no pooled socket outlives the attempt's time limit.
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept < KEPT_BODY_BYTES) chunks.push(chunk.subarray(0, KEPT_BODY_BYTES - kept));
          kept += chunk.length;
        });
        response.on('error', (error) => finish({ ok: false, status: response.statusCode ?? null, error: error.message, responseBody: null }));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          finish({ ok, status, error: ok ? null : `the endpoint answered ${status}`, responseBody: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, status: null, error: `no answer within ${options.timeoutMs} ms`, responseBody: null });
      request.destroy();
    }, options.timeoutMs);
    request.on('error', (error) => finish({ ok: false, status: null, error: error.message, responseBody: null }));
    request.end(options.body);
  });
}
