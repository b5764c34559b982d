// A trained model on disk: a folder per version under <dataDir>/recommendations/<tenant>/, holding
// the ONNX scoring graph (model.onnx), the user and item factors as raw little-endian float32
// (users.f32, items.f32: fold-in, reasons and similarities need them in JavaScript too), and
// model.json with the ids and what serving needs to know about every item (kind, artist, tags,
// popularity). Files are written to a temporary folder and renamed into place, so a reader never
// sees half a model.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildScoringModel } from './onnx-model.js';

export interface ModelMeta {
  version: string;
  tenantId: string;
  trainedAt: string;
  factors: number;
  users: string[];
  items: string[];
  /** Per item: 0 track, 1 sample. */
  kinds: number[];
  /** Per item: index into `artists`, or -1. */
  artistOf: number[];
  artists: string[];
  /** Per item: its tags. */
  tags: string[][];
  /** Per item: titles (null when unknown). */
  titles: (string | null)[];
  /** Per item: how many users have it. */
  popularity: number[];
  /** Items with no interactions, whose vectors were borrowed from their artist's or tags' items. */
  coldItems: number;
  summary: Record<string, unknown>;
}

export interface ModelArtifacts {
  meta: ModelMeta;
  userFactors: Float32Array;
  itemFactors: Float32Array;
}

/** The folder of a version, relative to the data directory (stored in rec_models.path). */
export function modelPath(tenantId: string, version: string): string {
  return path.join('recommendations', tenantId, version);
}

export async function writeModel(dataDir: string, artifacts: ModelArtifacts): Promise<string> {
  const relative = modelPath(artifacts.meta.tenantId, artifacts.meta.version);
  const target = path.join(dataDir, relative);
  const staging = `${target}.tmp`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const { meta, userFactors, itemFactors } = artifacts;
  await writeFile(path.join(staging, 'model.onnx'), buildScoringModel(itemFactors, meta.items.length, meta.factors, { version: meta.version }));
  await writeFile(path.join(staging, 'users.f32'), bytesOf(userFactors));
  await writeFile(path.join(staging, 'items.f32'), bytesOf(itemFactors));
  await writeFile(path.join(staging, 'model.json'), JSON.stringify(meta));
  await rename(staging, target);
  return relative;
}

export async function readModel(dataDir: string, relative: string): Promise<ModelArtifacts & { onnx: Uint8Array }> {
  const folder = path.join(dataDir, relative);
  const meta = JSON.parse(await readFile(path.join(folder, 'model.json'), 'utf8')) as ModelMeta;
  const userFactors = floats(await readFile(path.join(folder, 'users.f32')));
  const itemFactors = floats(await readFile(path.join(folder, 'items.f32')));
  if (userFactors.length !== meta.users.length * meta.factors || itemFactors.length !== meta.items.length * meta.factors) {
    throw new Error(`model ${relative} is inconsistent: factor files do not match model.json`);
  }
  const onnx = new Uint8Array(await readFile(path.join(folder, 'model.onnx')));
  return { meta, userFactors, itemFactors, onnx };
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Copies into an aligned buffer (a Buffer from readFile may start at any offset of its pool). */
function floats(buffer: Buffer): Float32Array {
  const out = new Float32Array(buffer.byteLength / 4);
  new Uint8Array(out.buffer).set(buffer);
  return out;
}
