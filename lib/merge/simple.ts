/**
 * One-shot merges of whole checkpoints, tensor by tensor from the mapped inputs into a mapped
 * output file, by the native kernels: average, task arithmetic and TIES. Tensors the kernels do
 * not compute on (and those absent from the base) are carried from the first model.
 */
import * as k from '../kernels/index.js';
import type { BufferLike, KernelDType } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import { SafetensorsWriter } from '../store/writer.js';
import { depthGroups } from './depth-groups.js';

export type SimpleMerge =
  | { kind: 'average' }
  | { kind: 'task_arithmetic'; lambda: number; depth?: DepthWeights }
  | { kind: 'ties'; lambda: number; density: number };

/**
 * Task arithmetic with one weight per model and depth group (depth-groups.ts): tensor t of model
 * i enters as λ · weights[i][group(t)] · (θᵢ − θ_base). All ones is plain task arithmetic.
 */
export interface DepthWeights {
  /** Block groups asked for (depthGroups' `groups`). */
  groups: number;
  /** [model][group]: depthGroups(names, groups).count columns (the block groups, at most `groups`, then the one outside the blocks). */
  weights: number[][];
}

/** Which tensors a merge computes (the others are carried from the first model), and in which dtype. */
export function mergeComputes(models: readonly WeightSet[], base: WeightSet | undefined, merge: SimpleMerge, outDtype?: KernelDType): { computed: (name: string) => boolean; outOf: (name: string) => KernelDType } {
  const first = models[0]!;
  return {
    computed: (name) => isComputeDType(first.meta(name).dtype) && (merge.kind === 'average' || base?.has(name) === true),
    outOf: (name) => outDtype ?? (first.meta(name).dtype as KernelDType),
  };
}

/** `outDtype`: the computed tensors' dtype (default: each tensor's own, as in the first model). */
export async function mergeToFile(models: readonly WeightSet[], base: WeightSet | undefined, merge: SimpleMerge, file: string, outDtype?: KernelDType): Promise<void> {
  const first = models[0]!;
  const names = first.names();
  const { computed, outOf } = mergeComputes(models, base, merge, outDtype);
  const compute = computeTensor(models, base, merge, names);
  const writer = SafetensorsWriter.create(file, {
    tensors: names.map((n) => ({ ...first.meta(n), dtype: computed(n) ? outOf(n) : first.meta(n).dtype })),
    metadata: { format: 'pt', evolver_merge: JSON.stringify(merge) },
  });
  try {
    for (const name of names) {
      if (computed(name)) await compute(name, writer.view(name), outOf(name));
      else writer.write(name, first.chunks(name));
    }
    await writer.commitAsync();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/**
 * The computed tensors of a merge, written in place into `target`'s views (e.g. a trial slot laid
 * out like the first model, whose other tensors are already there): no file, no fsync. For merges
 * that are scored and thrown away, like the depth search's candidates.
 */
export async function mergeInto(models: readonly WeightSet[], base: WeightSet | undefined, merge: SimpleMerge, target: { chunks(name: string): Uint8Array[] }): Promise<void> {
  const names = models[0]!.names();
  const { computed, outOf } = mergeComputes(models, base, merge);
  const compute = computeTensor(models, base, merge, names);
  for (const name of names) {
    if (!computed(name)) continue;
    const views = target.chunks(name);
    if (views.length !== 1) throw new RangeError(`merge: tensor '${name}' is over 4 GiB; merges take it whole`);
    await compute(name, views[0]!, outOf(name));
  }
}

/** The kernel call that computes one merged tensor into `out`. */
function computeTensor(models: readonly WeightSet[], base: WeightSet | undefined, merge: SimpleMerge, names: readonly string[]) {
  const depth = merge.kind === 'task_arithmetic' && merge.depth !== undefined ? { w: merge.depth.weights, group: depthGroups(names, merge.depth.groups) } : undefined;
  if (depth !== undefined && (depth.w.length !== models.length || depth.w.some((row) => row.length !== depth.group.count))) {
    throw new RangeError(`task arithmetic by depth: expected ${models.length} rows of ${depth.group.count} weights (models × depth groups), got ${depth.w.map((r) => r.length).join(', ')}`);
  }
  return async (name: string, out: BufferLike, dtype: KernelDType): Promise<void> => {
    const inDtype = models[0]!.meta(name).dtype as KernelDType;
    const inputs = models.map((m) => m.view(name));
    const weights = models.map((_, i) => (merge.kind === 'average' ? 1 / models.length : depth !== undefined ? depth.w[i]![depth.group.of(name)]! : 1));
    if (merge.kind === 'average') await k.linear({ inputs, weights, inDtype, outDtype: dtype, out });
    else if (merge.kind === 'task_arithmetic') await k.taskArithmetic({ inputs, weights, base: base!.view(name), lambda: merge.lambda, inDtype, outDtype: dtype, out });
    else await k.ties({ inputs, weights, base: base!.view(name), lambda: merge.lambda, density: merge.density, inDtype, outDtype: dtype, out });
  };
}

/**
 * Parameter choice on the dev sets, as the held-out table and the initial merges do it: makes and
 * scores each candidate in order and keeps the one with the highest score (the first on ties),
 * dropping every other as soon as it is beaten, so at most two are on disk at once.
 */
export async function chooseOnDev<C, M>(
  candidates: readonly C[],
  make: (c: C) => Promise<M>,
  score: (made: M) => Promise<number>,
  drop: (made: M) => void,
): Promise<{ candidate: C; made: M; scores: number[] }> {
  if (candidates.length === 0) throw new RangeError('chooseOnDev: no candidate');
  let best: { candidate: C; made: M; score: number } | undefined;
  const scores: number[] = [];
  for (const c of candidates) {
    const made = await make(c);
    let s: number;
    try {
      s = await score(made);
    } catch (err) {
      drop(made);
      throw err;
    }
    scores.push(s);
    if (best === undefined || s > best.score) {
      if (best !== undefined) drop(best.made);
      best = { candidate: c, made, score: s };
    } else {
      drop(made);
    }
  }
  return { candidate: best!.candidate, made: best!.made, scores };
}
