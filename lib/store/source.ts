/** What every set of named tensors offers, whatever holds it (mapped files, Arrow IPC, memory). */
import type { DType } from './dtypes.js';

export interface TensorMeta {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly elements: number;
  readonly byteLength: number;
  /**
   * The file format's own element type when no DType describes it (GGUF quantized blocks:
   * 'Q4_K', 'Q8_0', ...). Such a tensor is exposed as its raw bytes (dtype U8, shape
   * [byteLength]): carried unchanged, never computed on.
   */
  readonly storage?: string;
}

export interface WeightSource {
  /** Tensor names, sorted. */
  names(): string[];
  meta(name: string): TensorMeta;
  /** The tensor's bytes as zero-copy views of at most 4 GiB each. */
  chunks(name: string): Uint8Array[];
  /** Free-form string metadata (safetensors `__metadata__`). */
  readonly metadata: Readonly<Record<string, string>>;
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
