// A deterministic fitness computed from the weights themselves, for trying the engine without
// a model runtime: minus the mean squared distance to a hidden target, the element-wise average
// of the four f32 domain models. Higher is better (it is a negated loss, named as such).
//
//   fitness: { type: module, path: fitness/weight-distance.mjs, options: { target: [...] } }
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { kernels, openWeights } from 'evolver';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOMAINS = ['computers', 'politics', 'science', 'songs-poems'].map((d) => path.join(here, '..', 'models', `${d}.safetensors`));

export default async function createEvaluator(options = {}) {
  const targets = (options.target ?? DOMAINS).map((p) => path.resolve(here, '..', p));
  const sources = targets.map((p) => openWeights(p));
  const target = new Map();
  for (const name of sources[0].names()) {
    const out = new Float32Array(sources[0].meta(name).elements);
    await kernels.linear({ inputs: sources.map((s) => s.view(name)), weights: sources.map(() => 1 / sources.length), inDtype: 'F32', out });
    target.set(name, out);
  }
  for (const s of sources) s.close();

  // delay_ms simulates a slower evaluator (tests of kill/resume use it).
  const delay = Number(options.delay_ms ?? 0);
  return async (weights, { signal } = {}) => {
    // Like a real runtime, an evaluation honours the abort signal.
    if (delay > 0) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, delay);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('evaluation aborted'));
        });
      });
    }
    let squares = 0;
    let count = 0;
    for (const [name, t] of target) {
      if (!weights.has(name)) continue;
      const dtype = weights.meta(name).dtype;
      const w = new Float32Array(t.length);
      await kernels.convert({ src: weights.view(name), inDtype: dtype, out: w, outDtype: 'F32' });
      await kernels.linear({ inputs: [w, t], weights: [1, -1], inDtype: 'F32', out: w });
      squares += (await kernels.stats(w, 'F32')).sumSquares;
      count += t.length;
    }
    const mse = squares / count;
    return { score: -mse, metrics: { neg_mse_to_target: -mse } };
  };
}
