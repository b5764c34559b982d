// Serving the ALS item factors as an ONNX graph, so that scoring a batch of users runs in
// onnxruntime's native Gemm + TopK instead of a JavaScript loop over every item. The graph takes
// the user vectors, an additive mask (0 keeps an item, EXCLUDED removes it) and k; the item matrix
// travels inside the model as an initializer, so a model file is the whole scorer.
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { RecommendationError, requireInteger } from './errors.js';

const { onnx } = onnxProto;

/** Mask value for an item that must not be recommended: near the float32 minimum, still finite. */
export const EXCLUDED = -3.4e38;

/** Masked scores below this are excluded items that TopK had to return because k exceeded the rest. */
const EXCLUDED_BELOW = -1e30;

const IR_VERSION = 8;
const OPSET = 13;
const PRODUCER = 'veza';

export interface ScoringModelOptions {
  /** Free-form version of the factors (e.g. the training run), kept in the model's metadata. */
  version?: string;
}

/**
 * An ONNX model scoring users against `items` rows of `factors` item factors (row-major):
 * inputs `user` [batch, factors], `mask` [batch, items], `k` int64 [1]; outputs the top-k
 * `scores` [batch, k] and `indices` int64 [batch, k] of user · item + mask, best first.
 */
export function buildScoringModel(itemFactors: Float32Array, items: number, factors: number, options: ScoringModelOptions = {}): Uint8Array {
  requireInteger('items', items, 1);
  requireInteger('factors', factors, 1);
  if (itemFactors.length !== items * factors) {
    throw new RecommendationError(`item factors hold ${itemFactors.length} values, expected ${items} × ${factors}`);
  }
  for (let i = 0; i < itemFactors.length; i++) {
    if (!Number.isFinite(itemFactors[i]!)) throw new RecommendationError(`item factor ${i} is ${itemFactors[i]}`);
  }
  const version = options.version ?? '';
  const { FLOAT, INT64 } = onnx.TensorProto.DataType;
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: PRODUCER,
    docString: `ALS top-k scorer: ${items} items × ${factors} factors, version ${version || '(none)'}`,
    metadataProps: [
      { key: 'veza.version', value: version },
      { key: 'veza.items', value: String(items) },
      { key: 'veza.factors', value: String(factors) },
    ],
    graph: {
      name: 'als_topk',
      input: [
        tensorInfo('user', FLOAT, ['batch', factors]),
        tensorInfo('mask', FLOAT, ['batch', items]),
        tensorInfo('k', INT64, [1]),
      ],
      initializer: [{ name: 'items', dataType: FLOAT, dims: [items, factors], rawData: littleEndianBytes(itemFactors) }],
      node: [
        { name: 'score', opType: 'Gemm', input: ['user', 'items'], output: ['similarity'], attribute: [intAttribute('transB', 1)] },
        { name: 'mask', opType: 'Add', input: ['similarity', 'mask'], output: ['masked'] },
        {
          name: 'topk',
          opType: 'TopK',
          input: ['masked', 'k'],
          output: ['scores', 'indices'],
          attribute: [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', 1)],
        },
      ],
      output: [tensorInfo('scores', FLOAT, ['batch', 'k']), tensorInfo('indices', INT64, ['batch', 'k'])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** An additive mask for one user: EXCLUDED for the items in `exclude` and those `allowed` refuses, else 0. */
export function maskFor(items: number, exclude: Iterable<number>, allowed?: (item: number) => boolean): Float32Array {
  requireInteger('items', items, 1);
  const mask = new Float32Array(items);
  for (const item of exclude) {
    requireInteger('excluded item', item, 0, items - 1);
    mask[item] = EXCLUDED;
  }
  if (allowed) {
    for (let item = 0; item < items; item++) if (!allowed(item)) mask[item] = EXCLUDED;
  }
  return mask;
}

export interface ScorerOptions {
  /** Threads one scoring call may use; 1 (the default) leaves the other cores to the server. */
  intraOpThreads?: number;
}

export interface TopKBatch {
  /** Per batch row, the recommended item ids, best first (fewer than k when the mask left fewer). */
  items: Int32Array[];
  /** Per batch row, the scores of those items. */
  scores: Float32Array[];
}

/** A loaded scoring model (see buildScoringModel) ready to answer top-k queries. */
export class OnnxScorer {
  private constructor(
    private readonly session: InferenceSession,
    private readonly tensor: typeof Tensor,
    readonly items: number,
    readonly factors: number,
    readonly version: string,
  ) {}

  /** Loads a model from its bytes or a file path. */
  static async load(modelBytesOrPath: Uint8Array | string, options: ScorerOptions = {}): Promise<OnnxScorer> {
    const threads = options.intraOpThreads ?? 1;
    requireInteger('intraOpThreads', threads, 1, 1024);
    const bytes = typeof modelBytesOrPath === 'string' ? new Uint8Array(await readFile(modelBytesOrPath)) : modelBytesOrPath;
    const metadata = new Map(onnx.ModelProto.decode(bytes).metadataProps.map((entry) => [entry.key, entry.value]));
    // The runtime (a native library of some 15 MB resident) loads with the first model, not with the server.
    const { InferenceSession, Tensor } = await import('onnxruntime-node');
    const session = await InferenceSession.create(bytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
    try {
      const items = fixedDimension(session, 'mask', 1);
      const factors = fixedDimension(session, 'user', 1);
      return new OnnxScorer(session, Tensor, items, factors, metadata.get('veza.version') ?? '');
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /**
   * The top-k items for each of a batch of users: `users` holds B rows of `factors` values and
   * `masks` B rows of `items` values (see maskFor), both row-major. k above the item count is
   * clamped to it, and excluded items never come back even when k exceeds the allowed ones.
   */
  async score(users: Float32Array, masks: Float32Array, k: number): Promise<TopKBatch> {
    requireInteger('k', k, 1);
    if (users.length === 0 || users.length % this.factors !== 0) {
      throw new RecommendationError(`users hold ${users.length} values, not a positive whole number of ${this.factors}-factor rows`);
    }
    const batch = users.length / this.factors;
    if (masks.length !== batch * this.items) {
      throw new RecommendationError(`masks hold ${masks.length} values, expected ${batch} × ${this.items}`);
    }
    const kept = Math.min(k, this.items);
    const outputs = await this.session.run({
      user: new this.tensor('float32', users, [batch, this.factors]),
      mask: new this.tensor('float32', masks, [batch, this.items]),
      k: new this.tensor('int64', BigInt64Array.of(BigInt(kept)), [1]),
    });
    const scores = outputs.scores!.data as Float32Array;
    const indices = outputs.indices!.data as BigInt64Array;
    const result: TopKBatch = { items: [], scores: [] };
    for (let row = 0; row < batch; row++) {
      const start = row * kept;
      let count = 0;
      // Sorted best first, so the excluded entries are all at the end of the row.
      while (count < kept && scores[start + count]! >= EXCLUDED_BELOW) count++;
      result.scores.push(scores.slice(start, start + count));
      result.items.push(Int32Array.from(indices.subarray(start, start + count), Number));
    }
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** An ONNX graph input or output: its name, element type and shape (a string is a named dimension). */
export function tensorInfo(name: string, elemType: number, shape: Array<string | number>): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}

/** An integer attribute of an ONNX node. */
export function intAttribute(name: string, value: number): InstanceType<typeof onnx.AttributeProto> {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
}

/** ONNX raw_data is little-endian whatever the host is. */
export function littleEndianBytes(values: Float32Array): Uint8Array {
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] === 1) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  }
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setFloat32(i * 4, value, true));
  return bytes;
}

/** The fixed size of dimension `axis` of an input, which the model must declare. */
function fixedDimension(session: InferenceSession, input: string, axis: number): number {
  const meta = session.inputMetadata.find((m) => m.name === input);
  const size = meta?.isTensor ? meta.shape[axis] : undefined;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
    throw new RecommendationError(`model input ${input} has no fixed dimension ${axis} (not a veza scoring model?)`);
  }
  return size;
}
