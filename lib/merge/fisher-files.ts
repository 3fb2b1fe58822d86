/** Diagonal Fisher files (one per model, the models' tensor names and shapes) as kernel inputs. */
import { WeightFileError } from '../errors.js';
import type { KernelDType } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';

/**
 * Every file's tensor `name` (`elements` values), checked: present, the model's size, and one
 * compute dtype (F32, F16 or BF16) in all files. Errors name the file and the tensor.
 */
export function fisherViews(files: readonly WeightSet[], name: string, elements: number): { views: (Float32Array | Uint16Array)[]; dtype: KernelDType } {
  const first = files[0]!;
  for (const f of files) {
    if (!f.has(name)) throw new WeightFileError('TENSOR_NOT_FOUND', f.path, `the Fisher file has no tensor '${name}'`, { tensor: name });
    const m = f.meta(name);
    if (m.elements !== elements || !first.has(name) || m.dtype !== first.meta(name).dtype || !isComputeDType(m.dtype)) {
      throw new WeightFileError('SIZE_MISMATCH', f.path, `Fisher tensor '${name}' is ${m.dtype} ${JSON.stringify(m.shape)}; it must match the model's shape (${elements} values), in F32, F16 or BF16 (the same in every Fisher file)`, { tensor: name });
    }
  }
  return { views: files.map((f) => f.view(name) as Float32Array | Uint16Array), dtype: first.meta(name).dtype as KernelDType };
}
