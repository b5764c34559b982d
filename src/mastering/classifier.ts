// The genre classifier: softmax regression over a mix's spectral and dynamics features, trained in
// TypeScript (trainSoftmax) and served as an ONNX graph through onnxruntime-node. The graph holds the
// features' standardisation too: Sub(mean), Div(std), MatMul(W), Add(b), Softmax.
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
// Loaded with the first model (onnxruntime's native library is some 15 MiB that a server without a mastering job does not need).
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Analysis } from './analysis.js';
import { BANDS } from './spectrum.js';

const { onnx } = onnxProto;

export const FEATURE_NAMES = [
  ...BANDS.map((b) => `mid ${b.name} (dB of total)`),
  'spectral centroid (log2 kHz)',
  'crest factor (dB / 10)',
  'loudness range (LU / 10)',
  'stereo width',
  'correlation',
  'side to mid (dB / 10)',
];

/** The classifier's inputs for one analysed mix (no feature depends on gated loudness, so short clips work). */
export function featuresOf(analysis: Analysis): number[] {
  const sideToMid = Object.values(analysis.spectrum.sideToMid).map((v) => Math.max(-40, Math.min(10, v)));
  return [
    ...BANDS.map((b) => Math.max(-60, analysis.spectrum.mid[b.name])),
    Math.log2(Math.max(20, analysis.spectrum.centroidHz) / 1000),
    analysis.crestFactorDb / 10,
    analysis.loudness.range / 10,
    Math.min(2, analysis.stereoWidth),
    analysis.correlation,
    sideToMid.reduce((a, b) => a + b, 0) / sideToMid.length / 10,
  ];
}

export interface SoftmaxModel {
  classes: string[];
  mean: number[];
  std: number[];
  /** weights[feature][class] */
  weights: number[][];
  bias: number[];
}

/** Multinomial logistic regression by full-batch gradient descent with L2 regularisation and class weights. */
export function trainSoftmax(rows: number[][], labels: number[], classes: string[], options: { epochs?: number; rate?: number; l2?: number } = {}): SoftmaxModel {
  const d = rows[0]!.length, k = classes.length, n = rows.length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / n);
  const std = Array.from({ length: d }, (_, j) => Math.sqrt(rows.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / n) || 1);
  const x = rows.map((r) => r.map((v, j) => (v - mean[j]!) / std[j]!));
  const counts = classes.map((_, c) => labels.filter((l) => l === c).length);
  const classWeight = counts.map((c) => (c ? n / (k * c) : 0));
  const weights = Array.from({ length: d }, () => new Array<number>(k).fill(0));
  const bias = new Array<number>(k).fill(0);
  const { epochs = 2000, rate = 0.5, l2 = 1e-3 } = options;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const gw = Array.from({ length: d }, () => new Array<number>(k).fill(0));
    const gb = new Array<number>(k).fill(0);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const p = softmax(x[i]!, weights, bias);
      const w = classWeight[labels[i]!]!;
      total += w;
      for (let c = 0; c < k; c++) {
        const g = w * (p[c]! - (labels[i] === c ? 1 : 0));
        gb[c]! += g;
        for (let j = 0; j < d; j++) gw[j]![c]! += g * x[i]![j]!;
      }
    }
    for (let c = 0; c < k; c++) {
      bias[c]! -= (rate * gb[c]!) / total;
      for (let j = 0; j < d; j++) weights[j]![c]! -= rate * (gw[j]![c]! / total + l2 * weights[j]![c]!);
    }
  }
  return { classes, mean, std, weights, bias };
}

function softmax(x: number[], weights: number[][], bias: number[]): number[] {
  const z = bias.map((b, c) => x.reduce((s, v, j) => s + v * weights[j]![c]!, b));
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** The same model's prediction in TypeScript (to check the ONNX graph against). */
export function predictSoftmax(model: SoftmaxModel, features: number[]): number[] {
  return softmax(features.map((v, j) => (v - model.mean[j]!) / model.std[j]!), model.weights, model.bias);
}

const floats = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

/** The ONNX graph: input `features` [batch, d], output `probabilities` [batch, classes]; classes in the metadata. */
export function buildClassifierModel(model: SoftmaxModel, metadata: Record<string, string> = {}): Uint8Array {
  const d = model.mean.length, k = model.classes.length;
  const { FLOAT } = onnx.TensorProto.DataType;
  const info = (name: string, dims: Array<string | number>) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })) } } } });
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'veza',
    docString: `genre classifier: softmax regression over ${d} features into ${k} genre families`,
    metadataProps: [{ key: 'veza.classes', value: model.classes.join(',') }, ...Object.entries(metadata).map(([key, value]) => ({ key, value }))],
    graph: {
      name: 'genre_softmax',
      input: [info('features', ['batch', d])],
      initializer: [
        { name: 'mean', dataType: FLOAT, dims: [d], rawData: floats(model.mean) },
        { name: 'std', dataType: FLOAT, dims: [d], rawData: floats(model.std) },
        { name: 'W', dataType: FLOAT, dims: [d, k], rawData: floats(model.weights.flat()) },
        { name: 'b', dataType: FLOAT, dims: [k], rawData: floats(model.bias) },
      ],
      node: [
        { name: 'centre', opType: 'Sub', input: ['features', 'mean'], output: ['centred'] },
        { name: 'scale', opType: 'Div', input: ['centred', 'std'], output: ['scaled'] },
        { name: 'project', opType: 'MatMul', input: ['scaled', 'W'], output: ['projected'] },
        { name: 'bias', opType: 'Add', input: ['projected', 'b'], output: ['logits'] },
        { name: 'softmax', opType: 'Softmax', input: ['logits'], output: ['probabilities'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      ],
      output: [info('probabilities', ['batch', k])],
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** The shipped model, made by `npm run train:mastering`. */
export const MODEL_PATH = new URL('../../models/mastering-genres.onnx', import.meta.url);

/** A loaded classifier: genre id → probability for a mix's features. */
export class GenreClassifier {
  private constructor(
    private readonly session: InferenceSession,
    private readonly TensorOf: typeof Tensor,
    readonly classes: string[],
    readonly metadata: Map<string, string>,
  ) {}

  static async load(source: Uint8Array | URL = MODEL_PATH): Promise<GenreClassifier> {
    const bytes = source instanceof Uint8Array ? source : new Uint8Array(await readFile(source));
    const metadata = new Map(onnx.ModelProto.decode(bytes).metadataProps.map((e) => [e.key ?? '', e.value ?? '']));
    const classes = (metadata.get('veza.classes') ?? '').split(',').filter(Boolean);
    if (classes.length < 2) throw new Error('the genre model names no classes (veza.classes); run npm run train:mastering');
    const { InferenceSession, Tensor } = await import('onnxruntime-node');
    const session = await InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    return new GenreClassifier(session, Tensor, classes, metadata);
  }

  async classify(features: number[]): Promise<Record<string, number>> {
    const out = await this.session.run({ features: new this.TensorOf('float32', Float32Array.from(features), [1, features.length]) });
    const p = out.probabilities!.data as Float32Array;
    return Object.fromEntries(this.classes.map((c, i) => [c, p[i]!]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
