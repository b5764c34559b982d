// Scoring for the API: the rows of every request that arrived in the same turn of the event loop go
// to onnxruntime in one call, a matrix–matrix product that reads the 100 000 × 64 item matrix once
// for all of them (one user at a time reads it once per user, and memory is the bound). The graph
// holds the items grouped by kind, tracks first, so one row per user answers both "best tracks" and
// "best samples": Gemm, then a TopK on each kind's columns. What comes back to JavaScript is k ids
// and scores per row, not a score per item. The creators' unit vectors ride along (5 % more columns),
// so the collaboration shortlist costs no JavaScript scan.
//
// Unfiltered rows send no mask (a [rows, 1] zero column the Add broadcasts); the items a user already
// has are left out by asking for that many more and dropping them (recommend.ts). Filtered rows go in
// a call of their own with a dense additive mask (0 keeps an item, EXCLUDED removes it).
import onnxProto from 'onnx-proto';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { RecommendationError } from './errors.js';
import { intAttribute, littleEndianBytes, tensorInfo } from './onnx-model.js';

const { onnx } = onnxProto;

/** Masked scores below this are excluded items that TopK had to return because k exceeded the rest. */
const EXCLUDED_BELOW = -1e30;

export interface ScoreRow {
  /** The query vector (user, fold-in or seed centroid), `factors` values. */
  vector: Float32Array;
  /** How many of the best tracks and of the best samples the row needs (0: none). */
  tracks: number;
  samples: number;
  /** An additive mask in item order (0 keeps, EXCLUDED removes), or null to score every item. */
  mask: Float32Array | null;
  /** How many creators with the highest vector · creator (float32) the row needs; 0 or absent: none. */
  creators?: number;
}

export interface RowTopK {
  /** Item indices (the model's order), best first; fewer than asked when the mask left fewer. */
  tracks: Int32Array;
  trackScores: Float32Array;
  samples: Int32Array;
  sampleScores: Float32Array;
  /** Positions in the creators table, highest float32 dot product first, and those products. */
  creators: Int32Array;
  creatorDots: Float32Array;
}

interface Pending {
  row: ScoreRow;
  resolve: (result: RowTopK) => void;
  reject: (error: unknown) => void;
}

export class ServingScorer {
  /** Scoring calls made and rows scored: rows / calls is the mean batch. */
  calls = 0;
  rowsScored = 0;
  private pending: Pending[] = [];
  private scheduled = false;
  private readonly zeroMask: Float32Array;

  private constructor(
    private readonly session: InferenceSession,
    private readonly tensor: typeof Tensor,
    /** order[p]: the item at column p of the graph (tracks, then samples, each in item order). */
    private readonly order: Int32Array,
    private readonly trackCount: number,
    private readonly creatorCount: number,
    readonly factors: number,
    private readonly maxRows: number,
  ) {
    this.zeroMask = new Float32Array(maxRows);
  }

  /**
   * A scorer over `itemFactors` (items × factors, row-major); kinds[i] is 0 for a track, 1 for a
   * sample. `creators` (rows of `factors`), when given, are scored in the same call for the rows that
   * ask (the collaboration shortlist).
   */
  static async create(
    itemFactors: Float32Array,
    kinds: ArrayLike<number>,
    factors: number,
    options: { intraOpThreads?: number; maxRows?: number; creators?: Float32Array } = {},
  ): Promise<ServingScorer> {
    const items = kinds.length;
    if (itemFactors.length !== items * factors) throw new RecommendationError(`item factors hold ${itemFactors.length} values, expected ${items} × ${factors}`);
    const order = new Int32Array(items);
    let at = 0;
    for (const kind of [0, 1]) for (let i = 0; i < items; i++) if ((kinds[i] === 1 ? 1 : 0) === kind) order[at++] = i;
    let trackCount = 0;
    while (trackCount < items && kinds[order[trackCount]!] !== 1) trackCount++;
    const grouped = new Float32Array(items * factors);
    for (let p = 0; p < items; p++) grouped.set(itemFactors.subarray(order[p]! * factors, (order[p]! + 1) * factors), p * factors);
    const { InferenceSession, Tensor } = await import('onnxruntime-node');
    const creators = options.creators ?? new Float32Array(0);
    const session = await InferenceSession.create(servingGraph(grouped, items, factors, trackCount, creators), {
      intraOpNumThreads: options.intraOpThreads ?? 1,
      graphOptimizationLevel: 'all',
    });
    return new ServingScorer(session, Tensor, order, trackCount, creators.length / factors, factors, options.maxRows ?? 64);
  }

  get items(): number {
    return this.order.length;
  }

  /** The best tracks and samples for one row; rows asked for in the same turn share a call. */
  score(row: ScoreRow): Promise<RowTopK> {
    if (row.vector.length !== this.factors) return Promise.reject(new RecommendationError(`a query vector holds ${this.factors} values, got ${row.vector.length}`));
    if (row.mask && row.mask.length !== this.items) return Promise.reject(new RecommendationError(`a mask holds ${this.items} values, got ${row.mask.length}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = [];
    this.scheduled = false;
    const plain = pending.filter((p) => !p.row.mask);
    const masked = pending.filter((p) => p.row.mask);
    for (const group of [plain, masked]) {
      for (let first = 0; first < group.length; first += this.maxRows) void this.run(group.slice(first, first + this.maxRows));
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      const rows = batch.length;
      const { factors, items, trackCount } = this;
      const users = new Float32Array(rows * factors);
      batch.forEach(({ row }, r) => users.set(row.vector, r * factors));
      let mask: Float32Array;
      if (batch[0]!.row.mask) {
        // Filtered rows: the masks in the graph's column order.
        mask = new Float32Array(rows * items);
        batch.forEach(({ row }, r) => {
          const source = row.mask!;
          const offset = r * items;
          for (let p = 0; p < items; p++) mask[offset + p] = source[this.order[p]!]!;
        });
      } else mask = this.zeroMask.subarray(0, rows);
      const wantTracks = Math.min(trackCount, Math.max(1, ...batch.map((p) => p.row.tracks)));
      const wantSamples = Math.min(items - trackCount, Math.max(1, ...batch.map((p) => p.row.samples)));
      const feeds: Record<string, Tensor> = {
        user: new this.tensor('float32', users, [rows, factors]),
        mask: new this.tensor('float32', mask, [rows, mask.length / rows]),
      };
      if (trackCount > 0) feeds.kTracks = new this.tensor('int64', BigInt64Array.of(BigInt(wantTracks)), [1]);
      if (trackCount < items) feeds.kSamples = new this.tensor('int64', BigInt64Array.of(BigInt(wantSamples)), [1]);
      const wantCreators = Math.min(this.creatorCount, Math.max(1, ...batch.map((p) => p.row.creators ?? 0)));
      if (this.creatorCount > 0) feeds.kCreators = new this.tensor('int64', BigInt64Array.of(BigInt(wantCreators)), [1]);
      this.calls++;
      this.rowsScored += rows;
      const out = await this.session.run(feeds);
      batch.forEach(({ row, resolve }, r) => {
        const tracks = this.rowOf(out.trackScores, out.trackIndices, r, wantTracks, row.tracks, 0);
        const samples = this.rowOf(out.sampleScores, out.sampleIndices, r, wantSamples, row.samples, trackCount);
        const creators = this.rowOf(out.creatorDots, out.creatorIndices, r, wantCreators, row.creators ?? 0, -1);
        resolve({ tracks: tracks.items, trackScores: tracks.scores, samples: samples.items, sampleScores: samples.scores, creators: creators.items, creatorDots: creators.scores });
      });
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }

  /**
   * Row r's first `wanted` entries of a [rows, k] TopK output, excluded items dropped, as item
   * indices (columnOffset -1: the creators' output, whose indices are table positions already).
   */
  private rowOf(scores: Tensor | undefined, indices: Tensor | undefined, r: number, k: number, wanted: number, columnOffset: number): { items: Int32Array; scores: Float32Array } {
    if (!scores || !indices || wanted <= 0) return { items: new Int32Array(0), scores: new Float32Array(0) };
    const values = scores.data as Float32Array;
    const columns = indices.data as BigInt64Array;
    const start = r * k;
    let count = 0;
    const limit = Math.min(k, wanted);
    // Sorted best first, so the excluded entries are all at the end of the row.
    while (count < limit && values[start + count]! >= EXCLUDED_BELOW) count++;
    const items = new Int32Array(count);
    for (let j = 0; j < count; j++) items[j] = columnOffset < 0 ? Number(columns[start + j]!) : this.order[columnOffset + Number(columns[start + j]!)]!;
    return { items, scores: values.slice(start, start + count) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Gemm of the query rows against the grouped items, the mask added, then TopK per kind's columns. */
function servingGraph(grouped: Float32Array, items: number, factors: number, trackCount: number, creators: Float32Array): Uint8Array {
  const { FLOAT, INT64 } = onnx.TensorProto.DataType;
  const sampleCount = items - trackCount;
  const topK = (input: string, k: string, scores: string, indices: string) => ({
    opType: 'TopK',
    input: [input, k],
    output: [scores, indices],
    attribute: [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', 1)],
  });
  const node: object[] = [
    { opType: 'Gemm', input: ['user', 'items'], output: ['similarity'], attribute: [intAttribute('transB', 1)] },
    { opType: 'Add', input: ['similarity', 'mask'], output: ['masked'] },
  ];
  const input = [tensorInfo('user', FLOAT, ['rows', factors]), tensorInfo('mask', FLOAT, ['rows', 'maskColumns'])];
  const output = [];
  const initializer: object[] = [{ name: 'items', dataType: FLOAT, dims: [items, factors], rawData: littleEndianBytes(grouped) }];
  let tracksFrom = 'masked';
  let samplesFrom = 'masked';
  if (trackCount > 0 && sampleCount > 0) {
    initializer.push({ name: 'split', dataType: INT64, dims: [2], int64Data: [trackCount, sampleCount] });
    node.push({ opType: 'Split', input: ['masked', 'split'], output: ['trackColumns', 'sampleColumns'], attribute: [intAttribute('axis', 1)] });
    tracksFrom = 'trackColumns';
    samplesFrom = 'sampleColumns';
  }
  if (trackCount > 0) {
    input.push(tensorInfo('kTracks', INT64, [1]));
    node.push(topK(tracksFrom, 'kTracks', 'trackScores', 'trackIndices'));
    output.push(tensorInfo('trackScores', FLOAT, ['rows', 'kt']), tensorInfo('trackIndices', INT64, ['rows', 'kt']));
  }
  if (sampleCount > 0) {
    input.push(tensorInfo('kSamples', INT64, [1]));
    node.push(topK(samplesFrom, 'kSamples', 'sampleScores', 'sampleIndices'));
    output.push(tensorInfo('sampleScores', FLOAT, ['rows', 'ks']), tensorInfo('sampleIndices', INT64, ['rows', 'ks']));
  }
  if (creators.length > 0) {
    initializer.push({ name: 'creators', dataType: FLOAT, dims: [creators.length / factors, factors], rawData: littleEndianBytes(creators) });
    input.push(tensorInfo('kCreators', INT64, [1]));
    node.push({ opType: 'Gemm', input: ['user', 'creators'], output: ['creatorSimilarity'], attribute: [intAttribute('transB', 1)] });
    node.push(topK('creatorSimilarity', 'kCreators', 'creatorDots', 'creatorIndices'));
    output.push(tensorInfo('creatorDots', FLOAT, ['rows', 'kc']), tensorInfo('creatorIndices', INT64, ['rows', 'kc']));
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'veza',
    graph: { name: 'als_serving', input, output, initializer, node },
  });
  return onnx.ModelProto.encode(model).finish();
}
