/**
 * One-shot merges of whole checkpoints, tensor by tensor from the mapped inputs into a mapped
 * output file, by the native kernels: average, task arithmetic and TIES. Tensors the kernels do
 * not compute on (and those absent from the base) are carried from the first model.
 */
import * as k from '../kernels/index.js';
import type { KernelDType } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import { SafetensorsWriter } from '../store/writer.js';

export type SimpleMerge =
  | { kind: 'average' }
  | { kind: 'task_arithmetic'; lambda: number }
  | { kind: 'ties'; lambda: number; density: number };

/** `outDtype`: the computed tensors' dtype (default: each tensor's own, as in the first model). */
export async function mergeToFile(models: readonly WeightSet[], base: WeightSet | undefined, merge: SimpleMerge, file: string, outDtype?: KernelDType): Promise<void> {
  const first = models[0]!;
  const names = first.names();
  const computed = (name: string) => isComputeDType(first.meta(name).dtype) && (merge.kind === 'average' || base?.has(name) === true);
  const outOf = (name: string) => outDtype ?? (first.meta(name).dtype as KernelDType);
  const writer = SafetensorsWriter.create(file, {
    tensors: names.map((n) => ({ ...first.meta(n), dtype: computed(n) ? outOf(n) : first.meta(n).dtype })),
    metadata: { format: 'pt', evolver_merge: JSON.stringify(merge) },
  });
  try {
    for (const name of names) {
      if (!computed(name)) {
        writer.write(name, first.chunks(name));
        continue;
      }
      const inDtype = first.meta(name).dtype as KernelDType;
      const inputs = models.map((m) => m.view(name));
      const out = writer.view(name);
      const dtype = outOf(name);
      const weights = models.map(() => (merge.kind === 'average' ? 1 / models.length : 1));
      if (merge.kind === 'average') await k.linear({ inputs, weights, inDtype, outDtype: dtype, out });
      else if (merge.kind === 'task_arithmetic') await k.taskArithmetic({ inputs, weights, base: base!.view(name), lambda: merge.lambda, inDtype, outDtype: dtype, out });
      else await k.ties({ inputs, weights, base: base!.view(name), lambda: merge.lambda, density: merge.density, inDtype, outDtype: dtype, out });
    }
    await writer.commitAsync();
  } catch (err) {
    writer.abort();
    throw err;
  }
}
