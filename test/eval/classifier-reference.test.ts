// The ONNX evaluator (accuracy, macro-F1) on the encoder-classifier fixture against the numbers
// its generator computed in torch: base, every member and the uniform average, on dev, test and
// ood-test. Equal exactly, unless the reference records a near-tie of the two top logits
// (min_top2_margin < 1e-4) on that set: then one example may flip, i.e. accuracy within 1/n and
// macro-F1 within 4/n (one flipped example moves two labels' F1 by at most 2/support each).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { createOnnxEvaluator, type OnnxEvaluator } from '../../lib/eval/onnx.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { ROOT, tempDir } from '../helpers.js';

const CLASSIFIER = path.join(ROOT, 'examples', 'classifier');
const SETS = ['dev', 'test', 'ood-test'] as const;
type Scores = { accuracy: number; f1: number; min_top2_margin: number };
interface Reference { labels: string[]; members: Record<string, unknown>; models: Record<string, Record<(typeof SETS)[number], Scores>> }
const reference = JSON.parse(fs.readFileSync(path.join(CLASSIFIER, 'reference.json'), 'utf8')) as Reference;
const MEMBERS = Object.keys(reference.members);
const setFile = (s: string) => path.join(CLASSIFIER, 'data', `${s}.jsonl`);
const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').length;

/** The uniform average as the reference computes it: acc = 0; acc = acc + m (members in order); acc * 0.25, in float32. */
function averageFile(dir: string): string {
  const models = MEMBERS.map((m) => openWeights(path.join(CLASSIFIER, 'models', `${m}.safetensors`)));
  const file = path.join(dir, 'average.safetensors');
  const first = models[0]!;
  const writer = SafetensorsWriter.create(file, { tensors: first.names().map((n) => first.meta(n)) });
  const scale = Math.fround(1 / MEMBERS.length);
  for (const name of first.names()) {
    const dst = writer.view(name) as Float32Array;
    const xs = models.map((m) => m.view(name) as Float32Array);
    for (let i = 0; i < dst.length; i++) {
      let acc = 0;
      for (const x of xs) acc = Math.fround(acc + x[i]!);
      dst[i] = Math.fround(acc * scale);
    }
  }
  writer.commit();
  for (const m of models) m.close();
  return file;
}

describe('encoder-classifier fixture: ONNX evaluator agrees with the torch reference (accuracy, macro-F1)', function () {
  this.timeout(300_000);
  const evaluators = {} as Record<'accuracy' | 'f1', OnnxEvaluator>;
  const dir = tempDir();
  before(async () => {
    for (const metric of ['accuracy', 'f1'] as const) {
      evaluators[metric] = await createOnnxEvaluator({ graph: path.join(CLASSIFIER, 'classifier.onnx'), data: SETS.map(setFile), metric, batchSize: 32 });
    }
  });
  after(async () => {
    for (const e of Object.values(evaluators)) await e.close();
  });

  it('the sets are balanced over all labels', () => {
    for (const s of SETS) {
      const counts = new Map<number, number>();
      for (const line of fs.readFileSync(setFile(s), 'utf8').split('\n').filter((l) => l !== '')) {
        const label = (JSON.parse(line) as { label: number }).label;
        counts.set(label, (counts.get(label) ?? 0) + 1);
      }
      assert.equal(counts.size, reference.labels.length, s);
      assert.equal(new Set(counts.values()).size, 1, `${s}: ${JSON.stringify([...counts])}`);
    }
  });

  for (const name of ['base', ...MEMBERS, 'average']) {
    it(`${name}: accuracy and macro-F1 on dev, test, ood-test`, async () => {
      const file = name === 'average' ? averageFile(fs.mkdtempSync(path.join(dir, 'avg'))) : path.join(CLASSIFIER, 'models', `${name}.safetensors`);
      using weights = openWeights(file);
      for (const metric of ['accuracy', 'f1'] as const) {
        const got = await evaluators[metric].evaluateSets(weights);
        for (const s of SETS) {
          const want = reference.models[name]![s];
          const value = got[setFile(s)]!;
          const n = lines(setFile(s));
          const slack = want.min_top2_margin < 1e-4 ? (metric === 'accuracy' ? 1 / n : 4 / n) : 0;
          assert.ok(Math.abs(value - want[metric]) <= slack + 1e-12, `${name} ${s} ${metric}: ${value} vs reference ${want[metric]} (min top-2 margin ${want.min_top2_margin})`);
        }
      }
    });
  }
});
