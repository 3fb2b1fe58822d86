/**
 * A deterministic coordinate search for per-depth task-arithmetic weights (simple.ts,
 * DepthWeights), on a score to maximize (the dev fitness).
 *
 * Why: one λ for every tensor and model leaves most of the merge's quality unused. Measured on
 * the bundled fortunes models, weights per model and transformer block, fitted on the dev sets,
 * bring the in-domain test NLL from 1.7585 (one λ) to about 1.751 (README: "The quality study").
 * The gradient is not available (ONNX Runtime does no backward pass), and the score is smooth in
 * these few weights, so a coordinate search with a parabolic step finds them in a few dozen
 * evaluations.
 *
 * The search: from all weights 1 (the plain task arithmetic chosen before), each sweep visits
 * every (model, group) in order and scores the weight moved by +step and -step; when the three
 * points bend down it also scores the parabola's vertex (clipped to ±2 steps). The best point
 * replaces the current weight only when strictly better. The step halves after each sweep. No
 * random numbers: the same scores give the same weights.
 */

export interface DepthSearchOptions {
  models: number;
  /** Columns per model: depth groups, the one outside the blocks included. */
  groups: number;
  sweeps: number;
  /** First sweep's move, in units of the weight (1 = the chosen λ). */
  step: number;
  /** Called after each sweep (1-based) with the best score so far and the scores computed. */
  onSweep?: (sweep: number, score: number, evaluations: number) => void;
}

export interface DepthSearchResult {
  weights: number[][];
  score: number;
  /** Scores computed (the start's not included: the caller knows it). */
  evaluations: number;
}

/** `startScore`: the score of all weights 1. `score` may be called with a weights array it must not keep. */
export async function searchDepthWeights(o: DepthSearchOptions, startScore: number, score: (weights: number[][]) => Promise<number>): Promise<DepthSearchResult> {
  if (!(o.step > 0) || !Number.isInteger(o.sweeps) || o.sweeps < 0) throw new RangeError(`depth search: step must be > 0 and sweeps a whole number >= 0 (got ${o.step}, ${o.sweeps})`);
  const w = Array.from({ length: o.models }, () => new Array<number>(o.groups).fill(1));
  let best = startScore;
  let evaluations = 0;
  const at = async (i: number, g: number, value: number) => {
    const old = w[i]![g]!;
    w[i]![g] = value;
    try {
      evaluations++;
      return await score(w.map((row) => [...row]));
    } finally {
      w[i]![g] = old;
    }
  };
  let step = o.step;
  for (let sweep = 0; sweep < o.sweeps; sweep++, step /= 2) {
    for (let i = 0; i < o.models; i++) {
      for (let g = 0; g < o.groups; g++) {
        const x = w[i]![g]!;
        const up = await at(i, g, x + step);
        const down = await at(i, g, x - step);
        const tried = [{ value: x + step, s: up }, { value: x - step, s: down }];
        // f(x + t·step) ≈ best + b·t + a·t²: a maximum inside when a < 0.
        const a = (up + down - 2 * best) / 2, b = (up - down) / 2;
        if (a < 0) {
          const t = Math.max(-2, Math.min(2, -b / (2 * a)));
          if (Math.abs(Math.abs(t) - 1) > 1e-6 && Math.abs(t) > 1e-6) tried.push({ value: x + t * step, s: await at(i, g, x + t * step) });
        }
        for (const c of tried) {
          if (c.s > best) {
            best = c.s;
            w[i]![g] = c.value;
          }
        }
      }
    }
    o.onSweep?.(sweep + 1, best, evaluations);
  }
  return { weights: w, score: best, evaluations };
}
