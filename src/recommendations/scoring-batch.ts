// Micro-batching of ONNX scoring across concurrent requests. The item matrix (100 000 × 64 floats is
// 25 MB) is read once per Gemm whatever the batch, so one call for the rows of every request that
// arrived within the same turn of the event loop costs little more than one call for one request.
// A request takes rows in the pending batch and writes its user vectors and masks straight into
// them (no copy), then asks for its top k; the batch runs on the next `setImmediate`. Buffers are
// pooled: a batch in flight keeps its own until its results are split.
import type { OnnxScorer, TopKBatch } from './onnx-model.js';

export interface BatchRows {
  /** rows × factors, to fill with the query vectors. */
  users: Float32Array;
  /** rows × items, to fill entirely with the additive masks (the buffer is reused, not zeroed). */
  masks: Float32Array;
  /** Queues the rows for scoring; call once, in the same synchronous stretch as `open`. */
  score(k: number): Promise<TopKBatch>;
}

interface Batch {
  users: Float32Array;
  masks: Float32Array;
  rows: number;
  requests: { first: number; rows: number; k: number; resolve: (result: TopKBatch) => void; reject: (error: unknown) => void }[];
  scheduled: boolean;
  /** Its rows are being scored: a late `score` scores a copy of its rows alone. */
  started: boolean;
}

export class ScoringBatcher {
  private open_: Batch | null = null;
  private readonly pool: Batch[] = [];
  /** Scoring calls made and rows scored: rows / calls is the mean batch. */
  calls = 0;
  rowsScored = 0;

  constructor(
    private readonly scorer: OnnxScorer,
    private readonly maxRows = 32,
  ) {}

  /** Rows in the next batch for one request's queries. */
  open(rows: number): BatchRows {
    const { factors, items } = this.scorer;
    if (rows > this.maxRows) {
      // Too big to share a batch: a batch of its own.
      const users = new Float32Array(rows * factors);
      const masks = new Float32Array(rows * items);
      return { users, masks, score: (k) => this.scorer.score(users, masks, k) };
    }
    let batch = this.open_;
    if (!batch || batch.rows + rows > this.maxRows) {
      if (batch) this.schedule(batch, true);
      batch = this.open_ = this.take();
    }
    const first = batch.rows;
    batch.rows += rows;
    const target = batch;
    const users = target.users.subarray(first * factors, (first + rows) * factors);
    const masks = target.masks.subarray(first * items, (first + rows) * items);
    return {
      users,
      masks,
      score: (k) =>
        target.started
          ? this.scorer.score(users.slice(), masks.slice(), k)
          : new Promise<TopKBatch>((resolve, reject) => {
              target.requests.push({ first, rows, k, resolve, reject });
              this.schedule(target, false);
            }),
    };
  }

  private take(): Batch {
    const reused = this.pool.pop();
    if (reused) return reused;
    const { factors, items } = this.scorer;
    return { users: new Float32Array(this.maxRows * factors), masks: new Float32Array(this.maxRows * items), rows: 0, requests: [], scheduled: false, started: false };
  }

  private schedule(batch: Batch, sealed: boolean): void {
    if (sealed && this.open_ === batch) this.open_ = null;
    if (batch.scheduled) return;
    batch.scheduled = true;
    setImmediate(() => void this.run(batch));
  }

  private async run(batch: Batch): Promise<void> {
    if (this.open_ === batch) this.open_ = null;
    batch.started = true;
    const { factors, items } = this.scorer;
    const requests = batch.requests;
    try {
      if (requests.length > 0) {
        const k = Math.max(...requests.map((r) => r.k));
        this.calls++;
        this.rowsScored += batch.rows;
        const result = await this.scorer.score(batch.users.subarray(0, batch.rows * factors), batch.masks.subarray(0, batch.rows * items), k);
        for (const request of requests) {
          const part: TopKBatch = { items: [], scores: [] };
          for (let row = request.first; row < request.first + request.rows; row++) {
            part.items.push(result.items[row]!.subarray(0, request.k));
            part.scores.push(result.scores[row]!.subarray(0, request.k));
          }
          request.resolve(part);
        }
      }
    } catch (error) {
      for (const request of requests) request.reject(error);
    } finally {
      batch.rows = 0;
      batch.requests = [];
      batch.scheduled = false;
      batch.started = false;
      if (this.pool.length < 2) this.pool.push(batch);
    }
  }
}
