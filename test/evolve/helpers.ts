import fs from 'node:fs';
import path from 'node:path';

import * as kernels from '../../lib/kernels/index.js';
import { openWeights, type WeightSet } from '../../lib/store/checkpoint.js';
import { type EvolveConfig, resolvePaths, validateConfig } from '../../lib/evolve/config.js';
import type { Evaluator } from '../../lib/evolve/evaluator.js';
import { DOMAINS, FORTUNES, tempDir } from '../helpers.js';

export const BF16_MODELS = [...DOMAINS, 'base'].map((d) => path.join(FORTUNES, 'models-bf16', `${d}.safetensors`));

/** Minus the mean squared distance to the average of the four f32 domain models (a deterministic, weight-only fitness). */
export async function distanceEvaluator(): Promise<Evaluator & { calls: number }> {
  const sources = DOMAINS.map((d) => openWeights(path.join(FORTUNES, 'models', `${d}.safetensors`)));
  const target = new Map<string, Float32Array>();
  for (const name of sources[0]!.names()) {
    const out = new Float32Array(sources[0]!.meta(name).elements);
    await kernels.linear({ inputs: sources.map((s) => s.view(name)), weights: [0.25, 0.25, 0.25, 0.25], inDtype: 'F32', out });
    target.set(name, out);
  }
  for (const s of sources) s.close();
  const evaluator = async (weights: WeightSet) => {
    evaluator.calls++;
    let squares = 0, count = 0;
    for (const [name, t] of target) {
      const w = new Float32Array(t.length);
      await kernels.convert({ src: weights.view(name), inDtype: weights.meta(name).dtype as kernels.KernelDType, out: w, outDtype: 'F32' });
      await kernels.linear({ inputs: [w, t], weights: [1, -1], inDtype: 'F32', out: w });
      squares += (await kernels.stats(w, 'F32')).sumSquares;
      count += t.length;
    }
    return { score: -squares / count, metrics: { neg_mse_to_target: -squares / count } };
  };
  evaluator.calls = 0;
  return evaluator;
}

export function testConfig(overrides: Partial<Record<keyof EvolveConfig, unknown>> = {}): EvolveConfig {
  const raw = {
    models: BF16_MODELS,
    output: path.join(tempDir('evolver-run-'), 'run'),
    seed: 7,
    strategy: 'current/1',
    F: 0.1,
    CR: 0.9,
    generations: 3,
    fitness: { type: 'module', path: path.join(FORTUNES, 'fitness', 'weight-distance.mjs') },
    ...overrides,
  };
  return resolvePaths(validateConfig(raw, 'test-config'), FORTUNES);
}

export const readLines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
