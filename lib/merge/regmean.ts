/**
 * RegMean (Jin et al. 2023, "Dataless Knowledge Fusion by Merging Weights of Language Models",
 * arXiv 2212.09849): each linear layer y = x W is merged by the closed form
 * W* = (sum_i G~_i)^-1 sum_i G~_i W_i, with G_i the Gram matrix of the layer's inputs over model
 * i's data (`evolver stats regmean`) and G~ = alpha G + (1 - alpha) diag(G); every other tensor
 * is the plain average. The algebra runs in double with Eigen (cpp/napi_regmean.cc): a Cholesky
 * factor of the summed Grams, one term G~_i W_i per model, a triangular solve.
 *
 * Statistics are frozen (computed once from the original models, as the paper's code does), so
 * in evolution the factor is computed once per layer and a trial recomputes only the changed
 * member's term; the sum of terms is taken in member order every time, so the result depends on
 * the population alone (resume and replay are exact).
 */
import * as k from '../kernels/index.js';
import { WeightFileError } from '../errors.js';
import { native, type KernelDType, type RegmeanLayout } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';

/** The format tag `evolver stats regmean` writes into the statistics file's metadata. */
export const REGMEAN_STATS_FORMAT = 'regmean/1';

/** A relative residual above this after the solve is refused: the system was too ill-conditioned. */
export const REGMEAN_MAX_RESIDUAL = 1e-6;

/** The layouts recorded in a RegMean statistics file (tensor name -> layout). */
export function regmeanLayouts(stats: WeightSet): Record<string, RegmeanLayout> {
  const meta = stats.metadata ?? {};
  if (meta.evolver_stats !== REGMEAN_STATS_FORMAT) {
    throw new WeightFileError('BAD_METADATA', stats.path, `is not a RegMean statistics file (its metadata 'evolver_stats' is ${JSON.stringify(meta.evolver_stats)}, expected '${REGMEAN_STATS_FORMAT}'; make one with \`evolver stats regmean\`)`);
  }
  let layouts: unknown;
  try {
    layouts = JSON.parse(meta.layouts ?? '');
  } catch {
    layouts = undefined;
  }
  if (layouts === null || typeof layouts !== 'object' || Object.values(layouts).some((l) => l !== 'in_out' && l !== 'out_in')) {
    throw new WeightFileError('BAD_METADATA', stats.path, "metadata 'layouts' must be a JSON object of tensor name -> 'in_out' | 'out_in'");
  }
  return layouts as Record<string, RegmeanLayout>;
}

/** One linear layer's Grams, checked against the weight's shape. */
export interface LayerGrams {
  views: Float32Array[];
  layout: RegmeanLayout;
  /** Input width (the Gram is dim x dim) and output width. */
  dim: number;
  cols: number;
}

/**
 * The Grams of tensor `name` from every model's statistics file, or undefined when it is not a
 * linear layer (no file has it: it is averaged). A tensor some files have and others do not, a
 * layout that differs, or a shape that does not fit the weight is an error naming the file.
 */
export function layerGrams(stats: readonly WeightSet[], name: string, shape: readonly number[]): LayerGrams | undefined {
  const has = stats.map((s) => s.has(name));
  if (!has.some(Boolean)) return undefined;
  const missing = has.indexOf(false);
  if (missing >= 0) throw new WeightFileError('TENSOR_NOT_FOUND', stats[missing]!.path, `has no Gram matrix for '${name}' while ${stats[has.indexOf(true)]!.path} has one (were they made with the same graph?)`, { tensor: name });
  const layouts = stats.map((s) => regmeanLayouts(s)[name]);
  const layout = layouts[0];
  if (layout === undefined || layouts.some((l) => l !== layout)) throw new WeightFileError('BAD_METADATA', stats[0]!.path, `the statistics files disagree on (or lack) the layout of '${name}': ${JSON.stringify(layouts)}`, { tensor: name });
  if (shape.length !== 2) throw new WeightFileError('SIZE_MISMATCH', stats[0]!.path, `has a Gram matrix for '${name}', whose weight is ${JSON.stringify(shape)}, not a matrix`, { tensor: name });
  const [dim, cols] = layout === 'in_out' ? [shape[0]!, shape[1]!] : [shape[1]!, shape[0]!];
  for (const s of stats) {
    const m = s.meta(name);
    if (m.dtype !== 'F32' || m.shape.length !== 2 || m.shape[0] !== dim || m.shape[1] !== dim) {
      throw new WeightFileError('SIZE_MISMATCH', s.path, `Gram matrix '${name}' is ${m.dtype} ${JSON.stringify(m.shape)}; the weight ${JSON.stringify(shape)} (${layout}) needs F32 [${dim}, ${dim}]`, { tensor: name });
    }
  }
  return { views: stats.map((s) => s.view(name) as Float32Array), layout, dim, cols };
}

/** A weight in float32 (a view when it already is one). */
async function f32(view: Float32Array | Uint16Array, dtype: KernelDType): Promise<Float32Array> {
  if (dtype === 'F32') return view as Float32Array;
  const out = k.scratchF32(view.length);
  await k.convert({ src: view, inDtype: dtype, out, outDtype: 'F32' });
  return out;
}

/**
 * One linear layer under frozen statistics: the Cholesky factor of sum G~_i and one term G~_i W_i
 * per member. setMember replaces a member's term; setTrial computes a trial's term for member t
 * aside, used by the next solve only (the member's own term is kept for when it is rejected);
 * solve writes W*.
 */
export class RegmeanLayer {
  private readonly terms: Float64Array[];
  private trial: { t: number; term: Float64Array } | undefined;

  private constructor(
    readonly grams: LayerGrams,
    readonly alpha: number,
    private readonly factor: Float64Array,
    private readonly zeroRows: number[],
  ) {
    this.terms = grams.views.map(() => new Float64Array(grams.dim * grams.cols));
  }

  static async create(grams: LayerGrams, alpha: number): Promise<RegmeanLayer> {
    const factor = new Float64Array(grams.dim * grams.dim);
    const { zeroRows } = await native.regmeanFactor({ grams: grams.views, alpha, dim: grams.dim, factor });
    return new RegmeanLayer(grams, alpha, factor, zeroRows);
  }

  async setMember(i: number, weight: Float32Array | Uint16Array, dtype: KernelDType): Promise<void> {
    await this.term(i, weight, dtype, this.terms[i]!);
  }

  async setTrial(t: number, weight: Float32Array | Uint16Array, dtype: KernelDType): Promise<void> {
    const term = this.trial?.term ?? new Float64Array(this.grams.dim * this.grams.cols);
    await this.term(t, weight, dtype, term);
    this.trial = { t, term };
  }

  private async term(i: number, weight: Float32Array | Uint16Array, dtype: KernelDType, term: Float64Array): Promise<void> {
    const g = this.grams;
    await native.regmeanTerm({ gram: g.views[i]!, alpha: this.alpha, weight: await f32(weight, dtype), layout: g.layout, dim: g.dim, cols: g.cols, term });
  }

  /**
   * W* into `out` (float32, the weight's layout). `fallback` (the members' average) gives the
   * rows of input features no member's data ever reached. Returns the relative residual.
   */
  async solve(fallback: Float32Array, out: Float32Array): Promise<number> {
    const g = this.grams;
    const trial = this.trial;
    this.trial = undefined;
    const terms = this.terms.map((x, i) => (trial !== undefined && i === trial.t ? trial.term : x));
    const { residual } = await native.regmeanSolve({ factor: this.factor, terms, zeroRows: this.zeroRows, fallback, layout: g.layout, dim: g.dim, cols: g.cols, out });
    if (residual > REGMEAN_MAX_RESIDUAL) throw new Error(`RegMean's solve left a relative residual of ${residual.toExponential(2)} (> ${REGMEAN_MAX_RESIDUAL}): the summed Gram matrix is too ill-conditioned; lower alpha`);
    return residual;
  }
}

/** The uniform average of the members' tensors into `out` (float32 or the output dtype). */
export async function averageInto(inputs: (Float32Array | Uint16Array)[], inDtype: KernelDType, out: Float32Array | Uint16Array, outDtype: KernelDType): Promise<void> {
  await k.linear({ inputs, weights: inputs.map(() => 1 / inputs.length), inDtype, outDtype, out });
}

/** One-shot RegMean of one tensor (the merge method): grams undefined = not linear = averaged. */
export async function regmeanTensor(o: {
  grams: LayerGrams | undefined;
  alpha: number;
  inputs: (Float32Array | Uint16Array)[];
  inDtype: KernelDType;
  out: Float32Array | Uint16Array;
  outDtype: KernelDType;
}): Promise<void> {
  if (o.grams === undefined) return averageInto(o.inputs, o.inDtype, o.out, o.outDtype);
  const layer = await RegmeanLayer.create(o.grams, o.alpha);
  for (const [i, w] of o.inputs.entries()) await layer.setMember(i, w, o.inDtype);
  const fallback = k.scratchF32(o.inputs[0]!.length);
  await averageInto(o.inputs, o.inDtype, fallback, 'F32');
  const solved = o.outDtype === 'F32' ? (o.out as Float32Array) : k.scratchF32(o.out.length);
  await layer.solve(fallback, solved);
  if (solved !== o.out) await k.convert({ src: solved, inDtype: 'F32', out: o.out, outDtype: o.outDtype });
}
