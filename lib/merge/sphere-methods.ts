/**
 * mergekit's spherical merges, in double over Gram matrices (see sphere.ts for why that is
 * exact): nuslerp, multislerp, karcher. Each follows mergekit's code step by step with vectors
 * replaced by their coefficient vectors; the final coefficients go to one native pass.
 */
import type { MergeMethod, TensorJob } from './methods.js';
import { combine, copyInput, gram, inner, vectorsOf } from './sphere.js';

const weightsOf = (j: TensorJob) => j.perModel.map((p) => p.weight!);

export const nuslerp: MergeMethod = {
  name: 'nuslerp',
  paper: 'mergekit\'s NuSLERP: SLERP of two models (or of their task vectors), t = w₁ / (w₀ + w₁); Shoemake 1985',
  needsBase: false,
  minModels: 2,
  maxModels: 2,
  params: [{ name: 'weight', perModel: true }, { name: 'nuslerp_flatten', default: true }, { name: 'nuslerp_row_wise', default: false }],
  async run(j) {
    if (j.global.nuslerp_flatten !== true) throw new Error('nuslerp_flatten: false (row-by-row interpolation) is not implemented here; only the whole-tensor form (mergekit\'s default)');
    const [w0, w1] = weightsOf(j) as [number, number];
    const t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
    const { views, dtype } = await vectorsOf(j, true);
    const g = await gram(views, dtype);
    // _normalize clamps each norm at 1e-7; colinear when |sin θ| < 1e-8 (then linear).
    const n0 = Math.max(Math.sqrt(g[0]![0]!), 1e-7), n1 = Math.max(Math.sqrt(g[1]![1]!), 1e-7);
    const theta = Math.acos(Math.min(1, Math.max(-1, g[0]![1]! / (n0 * n1))));
    const s = Math.sin(theta);
    await combine(j, Math.abs(s) < 1e-8 ? [1 - t, t] : [Math.sin((1 - t) * theta) / s, Math.sin(t * theta) / s], true);
  },
};

export const multislerp: MergeMethod = {
  name: 'multislerp',
  paper: 'Multi-SLERP, Goddard 2025 (goddard.blog/posts/multislerp-wow-what-a-cool-idea), as in mergekit',
  needsBase: false,
  minModels: 1,
  params: [{ name: 'weight', perModel: true }, { name: 'normalize_weights', default: true }, { name: 'eps', default: 1e-8, min: 0 }],
  async run(j) {
    const n = j.inputs.length;
    if (n === 1) return copyInput(j, 0);
    const eps = j.global.eps as number;
    let w = weightsOf(j);
    if (j.global.normalize_weights === true) {
      const sum = w.reduce((a, b) => a + b, 0);
      if (sum === 0) throw new Error('the weights sum to 0, so normalize_weights divides by zero');
      w = w.map((x) => x / sum);
    }
    const { views, dtype } = await vectorsOf(j, true);
    const g = await gram(views, dtype);
    const norms = g.map((row, i) => Math.sqrt(row[i]!));
    // mean = Σ wᵢ unitᵢ, unitᵢ = vᵢ / (‖vᵢ‖ + eps): coefficients over the vᵢ.
    const mean = w.map((x, i) => x / (norms[i]! + eps));
    const meanNorm = Math.sqrt(Math.max(0, inner(g, mean, mean)));
    if (meanNorm < eps) {
      if (n === 2) return combine(j, w, true);  // mergekit's fallback: linear interpolation
      throw new Error('the weighted sum of the normalized inputs is zero (antipodal inputs with balancing weights); try other weights');
    }
    const hat = mean.map((c) => c / meanNorm);
    // Tangent space at the mean: Σ wᵢ (unitᵢ − ⟨unitᵢ, mean̂⟩ mean̂) (zero in exact arithmetic; kept as mergekit computes it).
    const dots = norms.map((nv, i) => inner(g, w.map((_, b) => (b === i ? 1 : 0)), hat) / (nv + eps));
    const d = w.reduce((a, x, i) => a + x * dots[i]!, 0);
    const tangent = w.map((x, i) => x / (norms[i]! + eps) - d * hat[i]!);
    const tn = Math.sqrt(Math.max(0, inner(g, tangent, tangent))) + eps;
    const avgNorm = w.reduce((a, x, i) => a + x * norms[i]!, 0);
    await combine(j, hat.map((h, i) => (h * Math.cos(tn) + tangent[i]! * (Math.sin(tn) / tn)) * avgNorm), true);
  },
};

export const karcher: MergeMethod = {
  name: 'karcher',
  paper: 'Karcher (Riemannian) mean on the sphere, Karcher 1977; as mergekit\'s karcher',
  needsBase: false,
  minModels: 1,
  params: [{ name: 'max_iter', default: 10, min: 1 }, { name: 'tol', default: 1e-5, min: 0 }],
  async run(j) {
    // mergekit gathers the base model's tensor with the others: it is one more point here too.
    const points = j.base !== undefined ? [...j.inputs, j.base] : j.inputs;
    const n = points.length;
    if (n === 1) return copyInput(j, 0);
    const maxIter = Math.floor(j.global.max_iter as number), tol = j.global.tol as number;
    const alphas = points.map(() => 1 / n);  // mergekit: equal weights
    const g = await gram(points, j.inDtype);
    const norms = g.map((row, i) => Math.sqrt(row[i]!));
    const valid = norms.flatMap((x, i) => (x > tol ? [i] : []));
    if (valid.length === 0) return combine({ ...j, inputs: points }, alphas.map(() => 0), false);
    const alphaSum = valid.reduce((a, i) => a + alphas[i]!, 0);
    const a = valid.map((i) => alphas[i]! / alphaSum);
    // Gram matrix of the unit vectors; u and T are coefficient vectors over them.
    const gu = valid.map((p) => valid.map((q) => g[p]![q]! / (norms[p]! * norms[q]!)));
    const unit = (i: number) => valid.map((_, b) => (b === i ? 1 : 0));
    let u = a.slice();
    const normU = Math.sqrt(Math.max(0, inner(gu, u, u)));
    u = normU < tol ? unit(0) : u.map((c) => c / normU);
    for (let iter = 0; iter < maxIter; iter++) {
      const T = new Array<number>(valid.length).fill(0);
      for (let i = 0; i < valid.length; i++) {
        const dot = Math.min(1, Math.max(-1, inner(gu, u, unit(i))));
        const theta = Math.acos(dot);
        if (theta < tol) continue;
        const f = a[i]! * (theta / Math.sin(theta));
        for (let b = 0; b < T.length; b++) T[b]! += f * ((b === i ? 1 : 0) - dot * u[b]!);
      }
      const normT = Math.sqrt(Math.max(0, inner(gu, T, T)));
      if (normT < tol) break;
      u = u.map((c, b) => Math.cos(normT) * c + Math.sin(normT) * (T[b]! / normT));
      const un = Math.sqrt(Math.max(0, inner(gu, u, u)));
      if (un > tol) u = u.map((c) => c / un);
    }
    const scale = alphas.reduce((s, x, i) => s + x * norms[i]!, 0);
    const coef = points.map(() => 0);
    valid.forEach((i, b) => (coef[i] = (scale * u[b]!) / norms[i]!));
    await combine({ ...j, inputs: points }, coef, false);
  },
};
