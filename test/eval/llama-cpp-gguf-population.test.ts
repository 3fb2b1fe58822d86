// A GGUF population with the llama.cpp fitness: two bundled f32 members exported to GGUF are
// evolved for a few trials; each offspring is written as the GGUF it already is (no export)
// and each member file is loaded as it is. Every score must equal the score of the same weights
// taken through the safetensors path (Hugging Face names and layout, exported to GGUF by the
// evaluator) within 1e-5.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { createLlamaCppEvaluator } from '../../lib/eval/llama-cpp.js';
import type { Evaluator } from '../../lib/evolve/evaluator.js';
import { validateConfig } from '../../lib/evolve/config.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { llamaCppEvaluatorFor } from '../../lib/evolve/llama-cpp-fitness.js';
import { ARCHITECTURES } from '../../lib/export/architectures.js';
import { exportGguf } from '../../lib/export/gguf-export.js';
import { type WeightSet, openWeights } from '../../lib/store/checkpoint.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { FORTUNES, tempDir, writeTemp } from '../helpers.js';
import { skipWithoutLlamaCpp } from './llama-cpp-available.js';

const quiet = () => {};
const CONFIG = path.join(FORTUNES, 'config.json');

/**
 * The weights of a gpt2 GGUF weight set as a Hugging Face checkpoint: the export's renaming
 * undone and its Conv1D transposes transposed back (test-only: the reverse of gguf-export).
 */
function hfCheckpoint(weights: WeightSet, file: string): string {
  const rules = ARCHITECTURES.find((a) => a.name === 'gpt2')!.tensors;
  const plan = weights.names().map((name) => {
    for (const r of rules) {
      const m = new RegExp(`^${r.gguf.replace(/\./g, '\\.').replace('{i}', '(\\d+)')}$`).exec(name);
      if (m === null) continue;
      const shape = weights.meta(name).shape;
      const transpose = r.rearrange === 'transpose';
      return { name, hf: r.hf.replace('{i}', m[1] ?? ''), transpose, shape: transpose ? [shape[1]!, shape[0]!] : [...shape] };
    }
    throw new Error(`${name}: no gpt2 rule`);
  });
  const w = SafetensorsWriter.create(file, { tensors: plan.map((p) => ({ name: p.hf, dtype: 'F32', shape: p.shape })) });
  for (const p of plan) {
    const src = weights.view(p.name) as Float32Array;
    const dst = w.view(p.hf) as Float32Array;
    if (!p.transpose) dst.set(src);
    else {
      const [rows, cols] = p.shape as [number, number];  // HF [in, out] from GGUF [out, in]
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[r * cols + c] = src[c * rows + r]!;
    }
  }
  w.commit();
  return file;
}

describe('llama.cpp fitness for a GGUF population', function () {
  this.timeout(600_000);

  before(skipWithoutLlamaCpp);

  it('evolves two GGUF members; every score equals the safetensors path\'s for the same weights (1e-5)', async () => {
    const dir = tempDir('evolver-gguf-pop-');
    const members: string[] = [];
    for (const m of ['computers', 'politics']) {
      const out = path.join(dir, `${m}.gguf`);
      await exportGguf(path.join(FORTUNES, 'models', `${m}.safetensors`), out, { config: CONFIG });
      members.push(out);
    }
    const lines = fs.readFileSync(path.join(FORTUNES, 'data', 'computers', 'dev.jsonl'), 'utf8').trim().split('\n').slice(0, 12);
    const data = writeTemp(dir, 'dev.jsonl', lines.join('\n') + '\n');
    const config = validateConfig({
      models: members, output: path.join(dir, 'run'), seed: 11, strategy: 'interp', F: 0.5, CR: 0.9, generations: 2,
      fitness: { type: 'llama.cpp', data: [data], threads: 2, gpu_layers: 0 },
    }, 'gguf-population-test');
    const logLines: string[] = [];
    const llama = await llamaCppEvaluatorFor(config.fitness as Parameters<typeof llamaCppEvaluatorFor>[0], config, 'gguf-population-test', (l) => logLines.push(l));
    // Every evaluation's score, with the weights kept as a Hugging Face checkpoint to score again.
    const scored: { score: number; hf: string; format: string }[] = [];
    const recording: Evaluator = async (weights, ctx) => {
      const f = await llama(weights, ctx);
      scored.push({ score: f.score, format: weights.format, hf: hfCheckpoint(weights, path.join(dir, `hf-${scored.length}.safetensors`)) });
      return f;
    };
    try {
      const report = await new EvolutionRun({ config, evaluator: recording }).run();
      assert.ok(report.trials >= 2, `trials: ${report.trials}`);
    } finally {
      await llama.close();
    }
    // The members were loaded from their own files; the offspring (trial slots) were written like them.
    assert.deepEqual(scored.slice(0, 2).map((s) => s.format), ['gguf', 'gguf']);
    assert.ok(scored.slice(2).every((s) => s.format !== 'gguf') && scored.length >= 4, JSON.stringify(scored.map((s) => s.format)));
    assert.ok(logLines.some((l) => l.includes('offspring GGUFs are written to')), logLines.join('\n'));
    assert.deepEqual(fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`evolver-llama-${process.pid}-`)), []);

    const viaSafetensors = createLlamaCppEvaluator({ data: [data], modelFolder: FORTUNES, threads: 2, gpuLayers: 0, log: quiet });
    try {
      const scores = new Set<number>();
      for (const s of scored) {
        using weights = openWeights(s.hf);
        const nll = (await viaSafetensors.evaluateSets(weights))[data]!;
        assert.ok(Math.abs(-nll - s.score) <= 1e-5, `GGUF path ${s.score}, safetensors path ${-nll}`);
        scores.add(s.score);
      }
      assert.ok(scores.size >= 3, 'the offspring differ from the members');
    } finally {
      await viaSafetensors.close();
    }
  });
});
