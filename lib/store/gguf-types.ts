/**
 * GGUF's two type tables: metadata value types and ggml tensor types (block size and bytes per
 * block, from gguf-py's GGML_QUANT_SIZES). Ids that ggml removed (4, 5, 31-33, 36-38) are unknown
 * on purpose: a file using them is refused rather than guessed at.
 */
import type { DType } from './dtypes.js';

export const GGUF_MAGIC = 0x46554747;  // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

export const VALUE_TYPES = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64', 'float64'] as const;
export type GgufValueType = (typeof VALUE_TYPES)[number];

/** Bytes of one fixed-size value (strings and arrays have none). */
export const VALUE_BYTES: Partial<Record<GgufValueType, number>> = {
  uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8,
};

export interface GgmlType {
  readonly id: number;
  readonly name: string;
  /** Elements per block (1 for plain types); the innermost dimension must be a multiple. */
  readonly blockSize: number;
  readonly blockBytes: number;
  /** The safetensors dtype holding the same elements, for plain types. */
  readonly dtype?: DType;
}

const QK_K = 256;
const TYPES: GgmlType[] = [
  { id: 0, name: 'F32', blockSize: 1, blockBytes: 4, dtype: 'F32' },
  { id: 1, name: 'F16', blockSize: 1, blockBytes: 2, dtype: 'F16' },
  { id: 2, name: 'Q4_0', blockSize: 32, blockBytes: 2 + 16 },
  { id: 3, name: 'Q4_1', blockSize: 32, blockBytes: 2 + 2 + 16 },
  { id: 6, name: 'Q5_0', blockSize: 32, blockBytes: 2 + 4 + 16 },
  { id: 7, name: 'Q5_1', blockSize: 32, blockBytes: 2 + 2 + 4 + 16 },
  { id: 8, name: 'Q8_0', blockSize: 32, blockBytes: 2 + 32 },
  { id: 9, name: 'Q8_1', blockSize: 32, blockBytes: 4 + 4 + 32 },
  { id: 10, name: 'Q2_K', blockSize: QK_K, blockBytes: 2 + 2 + QK_K / 16 + QK_K / 4 },
  { id: 11, name: 'Q3_K', blockSize: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 8 + 12 },
  { id: 12, name: 'Q4_K', blockSize: QK_K, blockBytes: 2 + 2 + QK_K / 2 + 12 },
  { id: 13, name: 'Q5_K', blockSize: QK_K, blockBytes: 2 + 2 + QK_K / 2 + QK_K / 8 + 12 },
  { id: 14, name: 'Q6_K', blockSize: QK_K, blockBytes: 2 + QK_K / 2 + QK_K / 4 + QK_K / 16 },
  { id: 15, name: 'Q8_K', blockSize: QK_K, blockBytes: 4 + QK_K + QK_K / 8 },
  { id: 16, name: 'IQ2_XXS', blockSize: QK_K, blockBytes: 2 + QK_K / 4 },
  { id: 17, name: 'IQ2_XS', blockSize: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 32 },
  { id: 18, name: 'IQ3_XXS', blockSize: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 8 },
  { id: 19, name: 'IQ1_S', blockSize: QK_K, blockBytes: 2 + QK_K / 8 + QK_K / 16 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, blockBytes: 2 + 16 },
  { id: 21, name: 'IQ3_S', blockSize: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4 },
  { id: 22, name: 'IQ2_S', blockSize: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 16 },
  { id: 23, name: 'IQ4_XS', blockSize: QK_K, blockBytes: 2 + 2 + QK_K / 2 + QK_K / 64 },
  { id: 24, name: 'I8', blockSize: 1, blockBytes: 1, dtype: 'I8' },
  { id: 25, name: 'I16', blockSize: 1, blockBytes: 2, dtype: 'I16' },
  { id: 26, name: 'I32', blockSize: 1, blockBytes: 4, dtype: 'I32' },
  { id: 27, name: 'I64', blockSize: 1, blockBytes: 8, dtype: 'I64' },
  { id: 28, name: 'F64', blockSize: 1, blockBytes: 8, dtype: 'F64' },
  { id: 29, name: 'IQ1_M', blockSize: QK_K, blockBytes: QK_K / 8 + QK_K / 16 + QK_K / 32 },
  { id: 30, name: 'BF16', blockSize: 1, blockBytes: 2, dtype: 'BF16' },
  { id: 34, name: 'TQ1_0', blockSize: QK_K, blockBytes: 2 + 4 * 13 },
  { id: 35, name: 'TQ2_0', blockSize: QK_K, blockBytes: 2 + 64 },
  { id: 39, name: 'MXFP4', blockSize: 32, blockBytes: 1 + 16 },
  { id: 40, name: 'NVFP4', blockSize: 64, blockBytes: 4 + 32 },
  { id: 41, name: 'Q1_0', blockSize: 128, blockBytes: 2 + 16 },
];

const BY_ID = new Map(TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeByName(name: string): GgmlType | undefined {
  return BY_NAME.get(name);
}

/** The ggml type of a safetensors dtype, where GGUF has one (F32, F16, BF16, I8..I64, F64). */
export function ggmlTypeOfDType(d: DType): GgmlType | undefined {
  return TYPES.find((t) => t.dtype === d);
}

/** Whether kernels compute on the type (the GGUF side of isComputeDType). */
export function isEvolvableGgml(t: GgmlType): boolean {
  return t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16';
}

/** llama_ftype (general.file_type) of a file whose matrices are all in `d`. */
export const FILE_TYPE_OF: Record<'F32' | 'F16' | 'BF16', number> = { F32: 0, F16: 1, BF16: 32 };
