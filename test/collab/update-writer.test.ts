// The group commit: updates wait at most flushMs, and a full batch goes at once.
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DocumentStore } from '../../src/collab/document-store.js';
import { CollabMetrics } from '../../src/collab/metrics.js';
import { UpdateWriter } from '../../src/collab/update-writer.js';
import { waitFor } from '../helpers/wait.js';

function recordingStore(): { store: DocumentStore; commits: number[] } {
  const commits: number[] = [];
  let id = 0;
  const store = {
    append: async (_tenant: string, batches: { docId: string; updates: unknown[] }[]) => {
      commits.push(batches.reduce((n, b) => n + b.updates.length, 0));
      return new Map(batches.map((b) => [b.docId, String((id += b.updates.length))]));
    },
  } as unknown as DocumentStore;
  return { store, commits };
}

describe('UpdateWriter', () => {
  it('commits a full batch at once, and the rest after flushMs', async () => {
    const { store, commits } = recordingStore();
    const writer = new UpdateWriter(store, { flushMs: 60_000, maxPendingBytes: 1 << 20, logger: pino({ level: 'silent' }), metrics: new CollabMetrics(new Registry()), maxBatch: 10 });
    const persisted: number[] = [];
    const append = (i: number) => writer.append(`t/d${i % 3}`, 't', `d${i % 3}`, { update: new Uint8Array([i]), author: 'a', at: new Date() }, (_id, n) => persisted.push(n));
    for (let i = 0; i < 12; i++) append(i);
    // Nothing waits a minute: a full batch goes at once (with what joined it in the same turn).
    await waitFor(() => commits.length === 1, 'the full batch', 2000);
    expect(commits).toEqual([12]);
    for (let i = 12; i < 15; i++) append(i);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(commits).toEqual([12]);
    expect(writer.isPending('t/d0')).toBe(true);
    // Under a batch, the rest waits for the flush (here: the shutdown drain), each update once.
    expect(await writer.drain(Date.now() + 1000)).toBe(true);
    expect(commits).toEqual([12, 3]);
    expect(persisted.reduce((a, b) => a + b, 0)).toBe(15);
  });
});
