// The genre classifier loads onnxruntime's native library with its first model, not when the
// mastering module is imported: a server that runs no mastering job does not hold it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildClassifierModel, GenreClassifier, trainSoftmax } from '../../src/mastering/classifier.js';

const onnxruntimeMapped = () => readFileSync('/proc/self/maps', 'utf8').includes('libonnxruntime');

describe.skipIf(process.platform !== 'linux')('the genre classifier loads onnxruntime when first needed', () => {
  it('is imported without onnxruntime, which its first model loads', async () => {
    expect(onnxruntimeMapped()).toBe(false);
    const model = trainSoftmax([[0, 1], [1, 0], [0, 0.9], [0.9, 0]], [0, 1, 0, 1], ['pop', 'rock'], { epochs: 50 });
    const classifier = await GenreClassifier.load(buildClassifierModel(model, { 'veza.classes': 'pop,rock' }));
    expect(onnxruntimeMapped()).toBe(true);
    const p = await classifier.classify([0, 1]);
    expect(Object.keys(p)).toEqual(['pop', 'rock']);
    expect(p.pop!).toBeGreaterThan(p.rock!);
    await classifier.release();
  });

  it('refuses a model that names no classes, with the fix', async () => {
    const model = trainSoftmax([[0], [1]], [0, 0], ['only'], { epochs: 1 });
    await expect(GenreClassifier.load(buildClassifierModel(model))).rejects.toThrow(/names no classes.*npm run train:mastering/);
  });
});
