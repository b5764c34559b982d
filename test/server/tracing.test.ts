import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const exporter = new InMemorySpanExporter();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({}, { spanExporter: exporter });
});
afterAll(() => server?.stop());

it('records a span per request with route, status and request id', async () => {
  await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'span-1' } });
  await fetch(`${server.url}/nowhere`, { headers: { 'x-request-id': 'span-2' } });
  const spans = await waitFor(() => (exporter.getFinishedSpans().length >= 2 ? exporter.getFinishedSpans() : undefined), 'two spans');
  const ok = spans.find((s) => s.attributes['veza.request_id'] === 'span-1');
  const missing = spans.find((s) => s.attributes['veza.request_id'] === 'span-2');
  expect(ok?.name).toBe('GET /healthz');
  expect(ok?.attributes['http.response.status_code']).toBe(200);
  expect(ok?.status.code).not.toBe(SpanStatusCode.ERROR);
  expect(missing?.name).toBe('GET unmatched');
  expect(missing?.attributes['http.response.status_code']).toBe(404);
  expect(missing?.status.code).toBe(SpanStatusCode.ERROR);
});
