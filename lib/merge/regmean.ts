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
import { BadInputError, WeightFileError } from '../errors.js';
import { native, type KernelDType, type RegmeanLayout } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';

/** The format tag `evolver stats regmean` writes into the statistics file's metadata. */
export const REGMEAN_STATS_FORMAT = 'regmean/1';

/** A relative residual above this after the solve is refused: the system was too ill-conditioned. */
export const REGMEAN_MAX_RESIDUAL = 1e-6;

/**
 * RegMean's algebra failed on one layer: Grams that are not finite or not symmetric (ENONFINITE,
 * ENOTSYM, naming the statistics file), a summed matrix that is not positive definite or
 * numerically singular (ENOTPD), a solve that did not hold (ENUMERIC).
 */
export class RegmeanError extends BadInputError {
  override readonly name = 'RegmeanError';
  override readonly code: string;
  constructor(code: string, readonly tensor: string, readonly file: string | undefined, message: string) {
    super(message);
    this.code = code;
  }
}

const layoutCache = new WeakMap<WeightSet, Record<string, RegmeanLayout>>();

/** The layouts recorded in a RegMean statistics file (tensor name -> layout). */
export function regmeanLayouts(stats: WeightSet): Record<string, RegmeanLayout> {
  const cached = layoutCache.get(stats);
  if (cached !== undefined) return cached;
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
  layoutCache.set(stats, layouts as Record<string, RegmeanLayout>);
  return layouts as Record<string, RegmeanLayout>;
}

/** One linear layer's Grams, checked against the weight's shape. */
export interface LayerGrams {
  /** The weight tensor, and the statistics files the Grams come from (for errors). */
  name: string;
  files: string[];
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
  return { name, files: stats.map((s) => s.path), views: stats.map((s) => s.view(name) as Float32Array), layout, dim, cols };
}

/** A weight in float32 (a view when it already is one). */
export async function f32(view: Float32Array | Uint16Array, dtype: KernelDType): Promise<Float32Array> {
  if (dtype === 'F32') return view as Float32Array;
  const out = k.scratchF32(view.length);
  await k.convert({ src: view, inDtype: dtype, out, outDtype: 'F32' });
  return out;
}

/**
 * One linear layer under frozen statistics: the Cholesky factor of sum G~_i and one term G~_i W_i
 * per member. setMember replaces a member's term; setTrial computes a trial's term for member t
 * into a buffer of its own, used by the next solve only (the member's own term is kept for when
 * the trial is rejected); solve writes W*. The factor and the terms live in native memory, which
 * the native calls use in place (no copy on the JS thread).
 */
export class RegmeanLayer {
  private readonly terms: Float64Array[];
  private readonly trialTerm: Float64Array;
  private trial: number | undefined;

  private constructor(
    readonly grams: LayerGrams,
    readonly alpha: number,
    private readonly factor: Float64Array,
    private readonly zeroRows: number[],
  ) {
    const size = grams.dim * grams.cols;
    this.terms = grams.views.map(() => nativeF64(size));
    this.trialTerm = nativeF64(size);
  }

  static async create(grams: LayerGrams, alpha: number): Promise<RegmeanLayer> {
    const factor = nativeF64(grams.dim * grams.dim);
    const { zeroRows } = await typed(grams, native.regmeanFactor({ grams: grams.views, alpha, dim: grams.dim, factor }));
    return new RegmeanLayer(grams, alpha, factor, zeroRows);
  }

  /** Whether some input feature reached no data: then solve() needs the members' average. */
  get needsFallback(): boolean {
    return this.zeroRows.length > 0;
  }

  async setMember(i: number, weight: Float32Array | Uint16Array, dtype: KernelDType): Promise<void> {
    await this.term(i, weight, dtype, this.terms[i]!);
  }

  async setTrial(t: number, weight: Float32Array | Uint16Array, dtype: KernelDType): Promise<void> {
    await this.term(t, weight, dtype, this.trialTerm);
    this.trial = t;
  }

  private async term(i: number, weight: Float32Array | Uint16Array, dtype: KernelDType, term: Float64Array): Promise<void> {
    const g = this.grams;
    await typed(g, native.regmeanTerm({ gram: g.views[i]!, alpha: this.alpha, weight: await f32(weight, dtype), layout: g.layout, dim: g.dim, cols: g.cols, term }));
  }

  /**
   * W* into `out` (float32, the weight's layout). `fallback` (the members' plain average) gives
   * the rows of input features no member's data ever reached; it is not read (and may be
   * NO_FALLBACK) when needsFallback is false. Returns the relative residual of the solve.
   */
  async solve(fallback: Float32Array, out: Float32Array): Promise<number> {
    const g = this.grams;
    const trial = this.trial;
    this.trial = undefined;
    const terms = this.terms.map((x, i) => (i === trial ? this.trialTerm : x));
    const { residual } = await typed(g, native.regmeanSolve({ factor: this.factor, terms, zeroRows: this.zeroRows, fallback, layout: g.layout, dim: g.dim, cols: g.cols, out }));
    if (residual > REGMEAN_MAX_RESIDUAL) throw new RegmeanError('ENUMERIC', g.name, undefined, `'${g.name}': RegMean's solve left a relative residual of ${residual.toExponential(2)} (> ${REGMEAN_MAX_RESIDUAL}); lower alpha`);
    return residual;
  }
}

/** The fallback to pass when a layer has no dead feature. */
export const NO_FALLBACK = new Float32Array(0);

function nativeF64(elements: number): Float64Array {
  return new Float64Array(native.allocate(Math.max(1, elements) * 8), 0, elements);
}

/** A native RegMean error as a RegmeanError naming the tensor and, for one Gram, its file. */
async function typed<T>(g: LayerGrams, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === undefined || !['ENONFINITE', 'ENOTSYM', 'ENOTPD', 'ENUMERIC'].includes(e.code)) throw err;
    // The native messages name a Gram by its index (grams[i]): name its file instead.
    const index = /grams\[(\d+)\]/.exec(e.message ?? '');
    const file = index ? g.files[Number(index[1])] : e.code === 'ENONFINITE' || e.code === 'ENOTSYM' ? g.files[0] : undefined;
    const message = (e.message ?? '').replace(/grams\[(\d+)\]|\bgram\b/, file === undefined ? 'a Gram' : `the Gram in ${file}`);
    throw new RegmeanError(e.code, g.name, file, `'${g.name}': ${message}`);
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
  let fallback: Float32Array = NO_FALLBACK;
  if (layer.needsFallback) {
    fallback = k.scratchF32(o.inputs[0]!.length);
    await averageInto(o.inputs, o.inDtype, fallback, 'F32');
  }
  const solved = o.outDtype === 'F32' ? (o.out as Float32Array) : k.scratchF32(o.out.length);
  await layer.solve(fallback, solved);
  if (solved !== o.out) await k.convert({ src: solved, inDtype: 'F32', out: o.out, outDtype: o.outDtype });
}
