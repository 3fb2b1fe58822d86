/**
 * Whole-tensor spherical merges (mergekit's nuslerp, multislerp, karcher). Each is a linear
 * combination of the input vectors whose coefficients depend only on their inner products, so
 * the work is: the Gram matrix by the native deterministic dot reduction (double, fixed order),
 * mergekit's algorithm run in double on coefficient vectors (small: one entry per model), and
 * one native linear / task-arithmetic pass with the final coefficients (float32). No
 * per-element work in JavaScript, and the result is the same on every backend.
 */
import * as k from '../kernels/index.js';
import type { TensorJob } from './methods.js';

/** The vectors the algorithm works on: task vectors xᵢ − base as float32 scratch when there is a base, else the inputs. */
export async function vectorsOf(j: TensorJob, withBase: boolean): Promise<{ views: (Float32Array | Uint16Array)[]; dtype: k.KernelDType }> {
  if (!withBase || j.base === undefined) return { views: j.inputs, dtype: j.inDtype };
  const views = await Promise.all(j.inputs.map(async (x) => {
    const tau = k.scratchF32(x.length);
    // fma(-1, base, x): x − base rounded once, as the merge kernels compute τ.
    await k.linear({ inputs: [x, j.base!], weights: [1, -1], inDtype: j.inDtype, outDtype: 'F32', out: tau });
    return tau;
  }));
  return { views, dtype: 'F32' };
}

/** G[a][b] = ⟨vₐ, v_b⟩ in double (each pair once). */
export async function gram(views: readonly (Float32Array | Uint16Array)[], dtype: k.KernelDType): Promise<number[][]> {
  const n = views.length;
  const g = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let a = 0; a < n; a++) {
    for (let b = a; b < n; b++) g[a]![b] = g[b]![a] = await k.dot(views[a]!, views[b]!, dtype);
  }
  return g;
}

/** ⟨Σ cₐvₐ, Σ d_b v_b⟩ from the Gram matrix. */
export function inner(g: number[][], c: readonly number[], d: readonly number[]): number {
  let s = 0;
  for (let a = 0; a < c.length; a++) for (let b = 0; b < d.length; b++) s += c[a]! * g[a]![b]! * d[b]!;
  return s;
}

/** out = Σ coefᵢ vᵢ (+ base when the vectors are task vectors): one native pass over the inputs themselves. */
export async function combine(j: TensorJob, coef: readonly number[], withBase: boolean): Promise<void> {
  const bad = coef.findIndex((c) => !Number.isFinite(c));
  if (bad >= 0) throw new Error(`the coefficient of models[${bad}] is ${coef[bad]} (the tensor has NaN or infinite values, or its vectors are degenerate)`);
  const common = { inputs: j.inputs, weights: coef.map(Math.fround), inDtype: j.inDtype, outDtype: j.outDtype, out: j.out };
  if (withBase && j.base !== undefined) await k.taskArithmetic({ ...common, base: j.base, lambda: 1 });
  else await k.linear(common);
}

/** A copy of input i (mergekit returns the single tensor unchanged). */
export async function copyInput(j: TensorJob, i: number): Promise<void> {
  if (j.inDtype === j.outDtype) j.out.set(j.inputs[i]! as never);
  else await k.convert({ src: j.inputs[i]!, inDtype: j.inDtype, out: j.out, outDtype: j.outDtype });
}
