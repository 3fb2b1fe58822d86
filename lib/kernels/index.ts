/**
 * The kernels as a library API: DE mutation + crossover, merges, dtype conversion and
 * reductions over typed arrays or mapped tensors. Every call validates its arguments here,
 * then runs natively off the JS thread and returns a Promise. Outputs are bit-identical
 * whatever the backend, the SIMD level, the thread count or the chunk size.
 */
import { backends } from '../backends.js';
import { type BufferLike, type KernelDType, type NativeDeOptions, type NativeReduceResult, native } from '../native.js';
import { type Granularity, type Strategy, GRANULARITIES, STRATEGIES, STRATEGY_NAMES, streamFor } from './strategies.js';
import { KernelArgumentError, dtypeArg, elementsOf, fail, finiteNumber, numberBetween, oneOf, perModelBetween, positiveInteger, tensorBuffer, uint64 } from './validate.js';

export { STRATEGIES, STRATEGY_NAMES, GRANULARITIES, streamFor, type Strategy, type Granularity } from './strategies.js';
export { KernelArgumentError } from './validate.js';
export type { KernelDType } from '../native.js';

export type Backend = 'auto' | 'cpu' | 'cuda';
export type CpuIsa = 'auto' | 'scalar' | 'avx2' | 'avx512';

export interface RunOptions {
  /** 'auto' prefers CUDA only when it is available; 'cpu' and 'cuda' insist. */
  backend?: Backend;
  /** CPU kernel variant (for benchmarking and tests); 'auto' picks the best this CPU runs. */
  isa?: CpuIsa;
  /** Threads for this call (default: setThreads(), initially the online cores). */
  threads?: number;
  /** Elements per work chunk (default 65536). Results never depend on it. */
  chunk?: number;
}

/** Whether this binary has CUDA kernels and a GPU to run them, and why not. */
export function cudaStatus(): { available: boolean; reason?: string } {
  return native.cuda.status();
}

/** The backend a call with `backend` runs on: 'auto' prefers CUDA only when it is available. */
export function resolveBackend(backend: Backend = 'auto'): 'cpu' | 'cuda' {
  const b = oneOf(backend, ['auto', 'cpu', 'cuda'] as const, 'backend');
  if (b === 'cpu') return 'cpu';
  const cuda = cudaStatus();
  if (b === 'cuda' && !cuda.available) fail(`backend 'cuda' is not available: ${cuda.reason}`);
  return cuda.available ? 'cuda' : 'cpu';
}

/** A tensor resident in GPU memory: upload once, run many kernels on it, download the result. */
export const DeviceTensor = native.cuda.DeviceTensor;
export type DeviceTensor = InstanceType<typeof native.cuda.DeviceTensor>;

function runArgs(o: RunOptions): { threads?: number; chunk?: number; backend: string; device: 'cpu' | 'cuda' } {
  const device = resolveBackend(o.backend);
  const isa = oneOf(o.isa ?? 'auto', ['auto', 'scalar', 'avx2', 'avx512'] as const, 'isa');
  if (isa !== 'auto' && native.kernels.tableName(isa) === null) {
    fail(`isa '${isa}' is not available: ${backends().find((b) => b.name === isa)?.reason ?? 'unknown'}`);
  }
  const out: { threads?: number; chunk?: number; backend: string; device: 'cpu' | 'cuda' } = { backend: isa, device };
  if (o.threads !== undefined) out.threads = positiveInteger(o.threads, 'threads');
  if (o.chunk !== undefined) out.chunk = positiveInteger(o.chunk, 'chunk');
  return out;
}

/**
 * A float32 scratch array in native memory (an anonymous mapping): kernels use it in place,
 * while a JS-heap array is worked on as a native copy (so that a detach mid-call cannot free
 * memory a kernel thread writes). Arrays over 4 GiB fall back to the JS heap.
 */
export function scratchF32(elements: number): Float32Array {
  const bytes = elements * 4;
  return bytes > 0 && bytes <= 2 ** 32 ? new Float32Array(native.allocate(bytes)) : new Float32Array(elements);
}

/** Sets the default thread count of kernel calls (0 or less: the online cores). */
export function setThreads(n: number): void {
  if (!Number.isInteger(n)) fail(`Expected an integer for threads but received ${n}`);
  native.kernels.setThreads(n);
}

export function getThreads(): number {
  return native.kernels.getThreads();
}

/** The CPU kernel variant `isa: 'auto'` runs on this machine. */
export function bestIsa(): 'scalar' | 'avx2' | 'avx512' {
  return native.kernels.tableName('auto') as 'scalar' | 'avx2' | 'avx512';
}

export interface DeOptions extends RunOptions {
  strategy: Strategy;
  granularity?: Granularity;
  dtype: KernelDType;
  /** The target x (read) and the child (written; may be the target itself, in place). */
  target: BufferLike;
  out: BufferLike;
  /** Two other distinct members (all strategies but interp). */
  a?: BufferLike;
  b?: BufferLike;
  /** The third member, by its role: r0 (rand/1), best (best/1, current-to-best/1), ref (interp). */
  r0?: BufferLike;
  best?: BufferLike;
  ref?: BufferLike;
  F: number;
  CR: number;
  /** Run seed (the Philox key). */
  seed: bigint | number;
  /** Philox stream; default streamFor(trial, tensorIndex). */
  stream?: bigint | number;
  trial?: number;
  tensorIndex?: number;
  /** Elements per row for row granularity (the product of the shape after its first dimension). */
  rowLength?: number;
  /** The buffers are a piece of a larger tensor starting at this element (tensors over 4 GiB). */
  offset?: number;
}

/** Fused mutation + binomial crossover of one tensor (docs/design.md), in one pass over memory. */
export async function de(o: DeOptions): Promise<void> {
  return native.kernels.de(deArgs(o));
}

/**
 * de() for several tensors at once, on the CPU: one thread-pool pass over all of them, so that
 * the pool is not started and drained once per tensor (the bits are those of de() on each). An
 * output may not overlap any buffer of another call. With the cuda backend the calls run one
 * after another.
 */
export async function deBatch(calls: readonly DeOptions[]): Promise<void> {
  if (!Array.isArray(calls)) fail(`Expected an array of de() options but received ${typeof calls}`);
  const args = calls.map((o, i) => {
    try {
      return deArgs(o);
    } catch (err) {
      if (err instanceof KernelArgumentError) err.message = `calls[${i}]: ${err.message}`;
      throw err;
    }
  });
  if (args.some((a) => a.device === 'cuda')) {
    for (const a of args) await native.kernels.de(a);
    return;
  }
  if (args.length > 0) await native.kernels.deBatch(args);
}

function deArgs(o: DeOptions): NativeDeOptions {
  const strategy = oneOf(o.strategy, STRATEGY_NAMES, 'strategy');
  const spec = STRATEGIES[strategy];
  const granularity = oneOf(o.granularity ?? 'element', GRANULARITIES, 'granularity');
  const dtype = dtypeArg(o.dtype, 'dtype');
  const n = elementsOf(o.target, dtype, 'target');
  const target = tensorBuffer(o.target, dtype, n, 'target');
  const out = tensorBuffer(o.out, dtype, n, 'out');
  const args: NativeDeOptions = {
    ...runArgs(o),
    strategy,
    granularity,
    dtype,
    n,
    rowLength: 1,
    F: finiteNumber(o.F, 'F'),
    CR: numberBetween(o.CR, 0, 1, 'CR'),
    seed: uint64(o.seed, 'seed'),
    stream: 0n,
    x: target,
    out,
  };
  if (o.stream !== undefined) args.stream = uint64(o.stream, 'stream');
  else {
    if (o.trial === undefined || o.tensorIndex === undefined) fail('Expected stream, or trial and tensorIndex (stream = trial * 2^20 + tensorIndex)');
    if (!Number.isSafeInteger(o.trial) || o.trial < 0) fail(`Expected a non-negative integer for trial but received ${o.trial}`);
    checkTensorIndex(o.tensorIndex);
    args.stream = streamFor(o.trial, o.tensorIndex);
  }
  if (o.offset !== undefined) {
    if (!Number.isSafeInteger(o.offset) || o.offset < 0) fail(`Expected a non-negative integer for offset but received ${o.offset}`);
    args.offset = o.offset;
  }
  if (granularity === 'row') {
    const rowLength = positiveInteger(o.rowLength, 'rowLength');
    if (o.offset === undefined && n % rowLength !== 0) fail(`rowLength ${rowLength} does not divide the ${n} elements`);
    args.rowLength = rowLength;
  }
  if (spec.usesDifference) {
    args.a = tensorBuffer(o.a, dtype, n, 'a');
    args.b = tensorBuffer(o.b, dtype, n, 'b');
  }
  if (spec.third !== null) args.c = tensorBuffer(o[spec.third], dtype, n, spec.third);
  return args;
}

interface MergeCommon extends RunOptions {
  inputs: readonly BufferLike[];
  weights: readonly number[];
  inDtype: KernelDType;
  /** Defaults to inDtype. */
  outDtype?: KernelDType;
  out: BufferLike;
}

function mergeArgs(o: MergeCommon, kind: string) {
  const inDtype = dtypeArg(o.inDtype, 'inDtype');
  const outDtype = dtypeArg(o.outDtype ?? inDtype, 'outDtype');
  if (!Array.isArray(o.inputs) || o.inputs.length < 1 || o.inputs.length > 64) fail(`Expected 1 to 64 inputs for ${kind} but received ${o.inputs?.length}`);
  if (!Array.isArray(o.weights) || o.weights.length !== o.inputs.length) fail(`Expected one weight per input (${o.inputs.length}) but received ${o.weights?.length}`);
  const n = elementsOf(o.inputs[0], inDtype, 'inputs[0]');
  return {
    ...runArgs(o),
    kind,
    sparsify: 'none',
    inDtype,
    outDtype,
    n,
    inputs: o.inputs.map((x, i) => tensorBuffer(x, inDtype, n, `inputs[${i}]`)),
    weights: o.weights.map((w, i) => finiteNumber(w, `weights[${i}]`)),
    out: tensorBuffer(o.out, outDtype, n, 'out'),
    lambda: 1,
    density: 1 as number | number[],
    rescale: 'none',
    seed: 0n,
    tensorIndex: 0,
  };
}

/** out = Σ wᵢ xᵢ (fma, in input order). Pass weights that sum to 1 for a weighted mean. */
export async function linear(o: MergeCommon): Promise<void> {
  return native.kernels.merge(mergeArgs(o, 'linear'));
}

export interface TaskArithmeticOptions extends MergeCommon {
  base: BufferLike;
  lambda?: number;
}

/** out = base + λ Σ wᵢ (xᵢ − base). */
export async function taskArithmetic(o: TaskArithmeticOptions): Promise<void> {
  const args = mergeArgs(o, 'task_arithmetic');
  return native.kernels.merge({ ...args, base: tensorBuffer(o.base, args.inDtype, args.n, 'base'), lambda: finiteNumber(o.lambda ?? 1, 'lambda') });
}

/**
 * How kept task-vector entries are rescaled: `'none'`; `'density'` divides by the model's density
 * (the DARE paper); `'l1'` multiplies by L1(τᵢ) / L1(kept τᵢ), so each task vector keeps its L1
 * norm (mergekit's `rescale: true`).
 */
export type Rescale = 'none' | 'density' | 'l1';

function rescaleArg(v: unknown, allowed: readonly Rescale[], density: number | number[]): Rescale {
  const r = oneOf(v, allowed, 'rescale');
  const zero = (Array.isArray(density) ? density : [density]).findIndex((d) => d === 0);
  if (r === 'density' && zero >= 0) fail(`density 0${Array.isArray(density) ? ` (density[${zero}])` : ''} with rescale 'density' divides by zero; use rescale 'none' or 'l1', or density > 0`);
  return r;
}

export interface TiesOptions extends TaskArithmeticOptions {
  /** Fraction of each task vector kept, by magnitude (exact top-k, k = floor(density × n)); one for all models or one per model. */
  density: number | readonly number[];
  /** Divide the agreeing sum by the agreeing weights (default true, as mergekit's ties). */
  normalize?: boolean;
  /** 'none' (default) or 'l1' (mergekit's rescale). */
  rescale?: 'none' | 'l1';
}

/** TIES: trim each task vector to its top-density magnitudes, elect signs, weighted mean of agreeing entries. */
export async function ties(o: TiesOptions): Promise<void> {
  const args = mergeArgs(o, 'ties');
  const density = perModelBetween(o.density, args.inputs.length, 0, 1, 'density');
  return native.kernels.merge({
    ...args,
    sparsify: 'magnitude',
    density,
    rescale: rescaleArg(o.rescale ?? 'none', ['none', 'l1'], density),
    normalize: o.normalize ?? true,
    base: tensorBuffer(o.base, args.inDtype, args.n, 'base'),
    lambda: finiteNumber(o.lambda ?? 1, 'lambda'),
  });
}

export interface BreadcrumbsOptions extends TaskArithmeticOptions {
  /** Fraction of each task vector kept below the dropped outliers (one, or one per model). */
  density: number | readonly number[];
  /** Fraction of the largest magnitudes dropped first (mergekit's default 0.01; one, or one per model). */
  gamma?: number | readonly number[];
  /** 'none' (default) or 'l1' (mergekit's rescale). */
  rescale?: 'none' | 'l1';
  /** Sum the kept entries (breadcrumbs) or elect signs first (breadcrumbs_ties). */
  combine?: 'linear' | 'ties';
  /** ties only: divide by the agreeing weights (default false, as mergekit's breadcrumbs_ties). */
  normalize?: boolean;
}

/** Model Breadcrumbs: drop the largest gamma and the smallest entries of each task vector, keep density. */
export async function breadcrumbs(o: BreadcrumbsOptions): Promise<void> {
  const combine = oneOf(o.combine ?? 'linear', ['linear', 'ties'] as const, 'combine');
  const args = mergeArgs(o, combine === 'ties' ? 'ties' : 'task_arithmetic');
  const density = perModelBetween(o.density, args.inputs.length, 0, 1, 'density');
  return native.kernels.merge({
    ...args,
    sparsify: 'magnitude_band',
    density,
    gamma: perModelBetween(o.gamma ?? 0.01, args.inputs.length, 0, 1, 'gamma'),
    rescale: rescaleArg(o.rescale ?? 'none', ['none', 'l1'], density),
    normalize: o.normalize ?? false,
    base: tensorBuffer(o.base, args.inDtype, args.n, 'base'),
    lambda: finiteNumber(o.lambda ?? 1, 'lambda'),
  });
}

export interface DareOptions extends TaskArithmeticOptions {
  /** Probability of keeping each task-vector entry (one, or one per model). */
  density: number | readonly number[];
  /** How the sparsified task vectors combine: a weighted sum (dare_linear) or TIES (dare_ties). */
  combine?: 'linear' | 'ties';
  /** 'density' (default; true means it too, false means 'none'), 'l1' (mergekit's) or 'none'. */
  rescale?: boolean | Rescale;
  /** ties only: divide by the agreeing weights (default false, as mergekit's dare_ties). */
  normalize?: boolean;
  seed: bigint | number;
  /** Position of the tensor in the sorted list of merged tensors (j of the Philox stream i·2^20 + j). */
  tensorIndex: number;
}

/** j of the Philox stream i·2^20 + j: an integer in [0, 2^20). */
function checkTensorIndex(j: number): void {
  if (!Number.isSafeInteger(j) || j < 0 || j >= 2 ** 20) fail(`Expected an integer in [0, 2^20) for tensorIndex but received ${j}`);
}

/** DARE: keep each task-vector entry with probability density (Philox, stream i·2^20 + j), rescale, combine. */
export async function dare(o: DareOptions): Promise<void> {
  const combine = oneOf(o.combine ?? 'linear', ['linear', 'ties'] as const, 'combine');
  const args = mergeArgs(o, combine === 'ties' ? 'ties' : 'task_arithmetic');
  checkTensorIndex(o.tensorIndex);
  const density = perModelBetween(o.density, args.inputs.length, 0, 1, 'density');
  const rescale = o.rescale === undefined || o.rescale === true ? 'density' : o.rescale === false ? 'none' : o.rescale;
  return native.kernels.merge({
    ...args,
    sparsify: 'random',
    density,
    rescale: rescaleArg(rescale, ['none', 'density', 'l1'], density),
    normalize: o.normalize ?? false,
    seed: uint64(o.seed, 'seed'),
    tensorIndex: o.tensorIndex,
    base: tensorBuffer(o.base, args.inDtype, args.n, 'base'),
    lambda: finiteNumber(o.lambda ?? 1, 'lambda'),
  });
}

export interface NearSwapOptions extends RunOptions {
  /** The other model (mergekit: the one non-base model). */
  x: BufferLike;
  base: BufferLike;
  /** Similarity threshold: entries closer than t to the base take x, far ones keep the base. */
  t: number;
  inDtype: KernelDType;
  outDtype?: KernelDType;
  out: BufferLike;
}

/** NearSwap: w = clamp(t / max(|base − x|, 1e-6), 0, 1); out = w·x + (1 − w)·base, element by element. */
export async function nearswap(o: NearSwapOptions): Promise<void> {
  const args = mergeArgs({ ...o, inputs: [o.x], weights: [1] }, 'nearswap');
  return native.kernels.merge({ ...args, base: tensorBuffer(o.base, args.inDtype, args.n, 'base'), t: finiteNumber(o.t, 't') });
}

export interface DellaOptions extends TaskArithmeticOptions {
  /** Mean keep probability (one, or one per model). */
  density: number | readonly number[];
  /** Spread of the keep probabilities around density: from density − epsilon (smallest) to density + epsilon (largest); one, or one per model. */
  epsilon: number | readonly number[];
  /** Elements per row: magnitudes are ranked within rows (a 1-D tensor is one row). */
  rowLength: number;
  combine?: 'linear' | 'ties';
  /** 'l1' (mergekit's default for della) or 'none'. */
  rescale?: 'none' | 'l1';
  normalize?: boolean;
  seed: bigint | number;
  tensorIndex: number;
}

/**
 * DELLA (MagPrune): keep each task-vector entry with probability (density − ε) + 2ε·r/(C − 1),
 * r its ascending magnitude rank in its row of C (Philox draws, stream i·2²⁰ + j), rescale, then
 * sum or TIES.
 */
export async function della(o: DellaOptions): Promise<void> {
  const combine = oneOf(o.combine ?? 'linear', ['linear', 'ties'] as const, 'combine');
  const args = mergeArgs(o, combine === 'ties' ? 'ties' : 'task_arithmetic');
  checkTensorIndex(o.tensorIndex);
  const density = perModelBetween(o.density, args.inputs.length, 0, 1, 'density');
  const epsilon = perModelBetween(o.epsilon, args.inputs.length, 0, 1, 'epsilon');
  const rowLength = positiveInteger(o.rowLength, 'rowLength');
  if (args.n % rowLength !== 0) fail(`Expected rowLength to divide the element count ${args.n} but received ${rowLength}`);
  const at = (v: number | number[], i: number) => (Array.isArray(v) ? v[i]! : (v as number));
  args.inputs.forEach((_, i) => {
    const d = at(density, i), e = at(epsilon, i);
    // mergekit refuses probabilities outside (0, 1) (della_magprune's ValueError).
    if (d > 0 && d < 1 && (d + e >= 1 || d - e <= 0)) fail(`density ± epsilon must stay inside (0, 1) for input ${i}: density ${d}, epsilon ${e}`);
  });
  return native.kernels.merge({
    ...args,
    sparsify: 'della',
    density,
    dellaEpsilon: epsilon,
    rowLength,
    rescale: rescaleArg(o.rescale ?? 'l1', ['none', 'l1'], density),
    normalize: o.normalize ?? false,
    seed: uint64(o.seed, 'seed'),
    tensorIndex: o.tensorIndex,
    base: tensorBuffer(o.base, args.inDtype, args.n, 'base'),
    lambda: finiteNumber(o.lambda ?? 1, 'lambda'),
  });
}

export interface RamOptions extends MergeCommon {
  base: BufferLike;
  /** A task-vector entry counts when |τ| > epsilon (default 1e-5). */
  epsilon?: number;
  /** RAM+ tensor-local: scale each model's unique entries by 1 + r·clamp(shared/unique, 0, alpha). */
  plus?: boolean;
  r?: number;
  alpha?: number;
}

/**
 * RAM (Reinforced Agent Merging): per element, entries only one model changed (|τ| > ε) are
 * taken whole (RAM+: times that model's λᵢ), entries several changed are averaged over them;
 * base + the sum. `weights` are ignored (RAM has none; pass 1s).
 */
export async function ram(o: RamOptions): Promise<void> {
  const args = mergeArgs(o, 'ram');
  const epsilon = finiteNumber(o.epsilon ?? 1e-5, 'epsilon');
  if (epsilon < 0) fail(`Expected a non-negative epsilon but received ${epsilon}`);
  return native.kernels.merge({
    ...args,
    base: tensorBuffer(o.base, args.inDtype, args.n, 'base'),
    ramEpsilon: epsilon,
    ramPlus: o.plus === true,
    ramR: finiteNumber(o.r ?? 0.1, 'r'),
    ramAlpha: numberBetween(o.alpha ?? 0.2, 0, Number.MAX_VALUE, 'alpha'),
  });
}

export interface SceOptions extends MergeCommon {
  base: BufferLike;
  /** Fraction of the elements with nonzero variance across models kept, largest variance first (mergekit's select_topk, default 1). */
  selectTopk?: number;
}

/**
 * SCE (FuseChat): keep the top selectTopk fraction of elements by variance across the task
 * vectors, weight model i by the mean of its kept squared entries (normalized), elect signs from
 * the unweighted sum, and take the weighted mean of the agreeing entries; base + that.
 * `weights` are ignored (SCE computes its own; pass 1s).
 */
export async function sce(o: SceOptions): Promise<void> {
  const args = mergeArgs(o, 'sce');
  return native.kernels.merge({ ...args, base: tensorBuffer(o.base, args.inDtype, args.n, 'base'), density: numberBetween(o.selectTopk ?? 1, 0, 1, 'selectTopk') });
}

export interface ArceeFusionOptions extends RunOptions {
  /** The other model. */
  x: BufferLike;
  base: BufferLike;
  /** Elements per row of the last dimension (softmax and KL are per row; a 1-D tensor is one row). */
  rowLength: number;
  inDtype: KernelDType;
  outDtype?: KernelDType;
  out: BufferLike;
}

/**
 * Arcee Fusion: importance = |x − base| · KL(softmax(x_row) ‖ softmax(base_row)); where it is at
 * least median + 1.5·IQR of all importances the output is x (as base + (x − base)), else the base.
 */
export async function arceeFusion(o: ArceeFusionOptions): Promise<void> {
  const args = mergeArgs({ ...o, inputs: [o.x], weights: [1] }, 'task_arithmetic');
  const rowLength = positiveInteger(o.rowLength, 'rowLength');
  if (args.n % rowLength !== 0) fail(`Expected rowLength to divide the element count ${args.n} but received ${rowLength}`);
  return native.kernels.merge({ ...args, sparsify: 'fusion', rowLength, base: tensorBuffer(o.base, args.inDtype, args.n, 'base') });
}

export interface FisherOptions extends MergeCommon {
  /** One diagonal Fisher (per-element importance) per input, same shape. */
  fisher: readonly BufferLike[];
  fisherDtype: KernelDType;
  /** Added to every Fisher value (default 1e-8), so the denominator is never 0. */
  epsilon?: number;
}

/** Fisher merging (Matena & Raffel 2022): out = Σ wᵢ(Fᵢ + ε)xᵢ / Σ wᵢ(Fᵢ + ε), element by element. */
export async function fisher(o: FisherOptions): Promise<void> {
  const args = mergeArgs(o, 'fisher');
  const fisherDtype = dtypeArg(o.fisherDtype, 'fisherDtype');
  if (!Array.isArray(o.fisher) || o.fisher.length !== args.inputs.length) fail(`Expected one fisher buffer per input (${args.inputs.length}) but received ${o.fisher?.length}`);
  const epsilon = finiteNumber(o.epsilon ?? 1e-8, 'epsilon');
  if (epsilon < 0) fail(`Expected a non-negative epsilon but received ${epsilon}`);
  return native.kernels.merge({ ...args, fisher: o.fisher.map((f, i) => tensorBuffer(f, fisherDtype, args.n, `fisher[${i}]`)), fisherDtype, epsilon });
}

export interface SlerpOptions extends RunOptions {
  x: BufferLike;
  y: BufferLike;
  t: number;
  inDtype: KernelDType;
  outDtype?: KernelDType;
  out: BufferLike;
}

/** Spherical interpolation of two tensors (mergekit's rule: linear when |cos| > 0.9995). */
export async function slerp(o: SlerpOptions): Promise<{ lerp: boolean; cosine: number; c0: number; c1: number }> {
  const inDtype = dtypeArg(o.inDtype, 'inDtype');
  const outDtype = dtypeArg(o.outDtype ?? inDtype, 'outDtype');
  const n = elementsOf(o.x, inDtype, 'x');
  return native.kernels.slerp({
    ...runArgs(o),
    inDtype,
    outDtype,
    n,
    t: numberBetween(o.t, 0, 1, 't'),
    x: tensorBuffer(o.x, inDtype, n, 'x'),
    y: tensorBuffer(o.y, inDtype, n, 'y'),
    out: tensorBuffer(o.out, outDtype, n, 'out'),
  });
}

export interface ConvertOptions extends RunOptions {
  src: BufferLike;
  inDtype: KernelDType;
  out: BufferLike;
  outDtype: KernelDType;
}

/** dtype conversion: exact widening, round-to-nearest-even narrowing, NaN canonical. */
export async function convert(o: ConvertOptions): Promise<void> {
  const inDtype = dtypeArg(o.inDtype, 'inDtype');
  const outDtype = dtypeArg(o.outDtype, 'outDtype');
  const n = elementsOf(o.src, inDtype, 'src');
  return native.kernels.convert({ ...runArgs(o), inDtype, outDtype, n, src: tensorBuffer(o.src, inDtype, n, 'src'), out: tensorBuffer(o.out, outDtype, n, 'out') });
}

export type TensorStats = Omit<NativeReduceResult, 'dot'>;

/** NaN / ±Inf counts, finite min and max, sum and sum of squares (fixed summation order). */
export async function stats(x: BufferLike, dtype: KernelDType, o: RunOptions = {}): Promise<TensorStats> {
  const d = dtypeArg(dtype, 'dtype');
  const n = elementsOf(x, d, 'x');
  return native.kernels.reduce({ ...runArgs(o), dtype: d, n, x: tensorBuffer(x, d, n, 'x') });
}

/** Σ xᵢ yᵢ in double, fixed summation order. */
export async function dot(x: BufferLike, y: BufferLike, dtype: KernelDType, o: RunOptions = {}): Promise<number> {
  const d = dtypeArg(dtype, 'dtype');
  const n = elementsOf(x, d, 'x');
  const r = await native.kernels.reduce({ ...runArgs(o), dtype: d, n, x: tensorBuffer(x, d, n, 'x'), y: tensorBuffer(y, d, n, 'y') });
  return r.dot!;
}
