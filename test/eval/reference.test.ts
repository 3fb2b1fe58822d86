// The ONNX evaluator against the fixtures' independent reference numbers (torch, float32):
// every model, f32 and bf16, and the two reference merges, on every dev and test set, within 1e-4.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { createOnnxEvaluator, type OnnxEvaluator } from '../../lib/eval/onnx.js';
import { openWeights, type WeightSet } from '../../lib/store/checkpoint.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { FORTUNES, tempDir } from '../helpers.js';

interface RefModel { file?: string; nll: Record<string, { dev: number; test: number }> }
const reference = JSON.parse(fs.readFileSync(path.join(FORTUNES, 'reference.json'), 'utf8')) as Record<string, { models: Record<string, RefModel> }>;
const CATEGORIES = ['computers', 'politics', 'science', 'songs-poems', 'people', 'work'];
const DOMAINS = ['computers', 'politics', 'science', 'songs-poems'];
const setFile = (c: string, split: 'dev' | 'test') => path.join(FORTUNES, 'data', c, `${split}.jsonl`);

/** The reference merges exactly as the fixture README computes them, in float32, written as an F32 file. */
function referenceMerge(kind: 'average' | 'task_arithmetic', folder: string, out: string): string {
  const models = DOMAINS.map((d) => openWeights(path.join(FORTUNES, folder, `${d}.safetensors`)));
  const base = openWeights(path.join(FORTUNES, folder, 'base.safetensors'));
  const asF32 = (w: WeightSet, name: string) => {
    const v = w.view(name);
    return v instanceof Float32Array ? v : Float32Array.from(v as Uint16Array, (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]!);
  };
  const file = path.join(out, `${kind}.safetensors`);
  const writer = SafetensorsWriter.create(file, { tensors: base.names().map((n) => ({ ...base.meta(n), dtype: 'F32' as const })) });
  for (const name of base.names()) {
    const dst = writer.view(name) as Float32Array;
    const b = asF32(base, name);
    const xs = models.map((m) => asF32(m, name));
    for (let i = 0; i < dst.length; i++) {
      let acc = 0;
      if (kind === 'average') {
        for (const x of xs) acc = Math.fround(acc + x[i]!);
        dst[i] = Math.fround(acc * 0.25);
      } else {
        for (const x of xs) acc = Math.fround(acc + Math.fround(x[i]! - b[i]!));
        dst[i] = Math.fround(b[i]! + Math.fround(0.5 * acc));
      }
    }
  }
  writer.commit();
  for (const m of [...models, base]) m.close();
  return file;
}

describe('ONNX evaluator agrees with the independent reference numbers (1e-4)', function () {
  this.timeout(300_000);
  let evaluator: OnnxEvaluator;
  const dir = tempDir();
  before(async () => {
    evaluator = await createOnnxEvaluator({ graph: path.join(FORTUNES, 'lm.onnx'), data: CATEGORIES.flatMap((c) => [setFile(c, 'dev'), setFile(c, 'test')]), batchSize: 32 });
  });
  after(async () => evaluator.close());

  for (const [group, folder] of [['float32', 'models'], ['bfloat16', 'models-bf16']] as const) {
    for (const name of Object.keys(reference[group]!.models)) {
      it(`${group} ${name}: 6 dev + 6 test sets`, async () => {
        const file = name === 'average' || name === 'task_arithmetic' ? referenceMerge(name, folder, fs.mkdtempSync(path.join(dir, 'm'))) : path.join(FORTUNES, folder, `${name}.safetensors`);
        using weights = openWeights(file);
        const got = await evaluator.evaluateSets(weights);
        for (const c of CATEGORIES) {
          for (const split of ['dev', 'test'] as const) {
            const want = reference[group]!.models[name]!.nll[c]![split];
            const value = got[setFile(c, split)]!;
            assert.ok(Math.abs(value - want) <= 1e-4, `${name} ${c} ${split}: ${value} vs reference ${want}`);
          }
        }
      });
    }
  }
});
