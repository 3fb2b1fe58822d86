/** safetensors element types: size, the typed array that views them, and whether kernels compute on them. */

export const DTYPES = {
  F64: { bytes: 8, compute: false },
  F32: { bytes: 4, compute: true },
  F16: { bytes: 2, compute: true },
  BF16: { bytes: 2, compute: true },
  I64: { bytes: 8, compute: false },
  U64: { bytes: 8, compute: false },
  I32: { bytes: 4, compute: false },
  U32: { bytes: 4, compute: false },
  I16: { bytes: 2, compute: false },
  U16: { bytes: 2, compute: false },
  I8: { bytes: 1, compute: false },
  U8: { bytes: 1, compute: false },
  BOOL: { bytes: 1, compute: false },
  F8_E4M3: { bytes: 1, compute: false },
  F8_E5M2: { bytes: 1, compute: false },
} as const;

export type DType = keyof typeof DTYPES;
/** The dtypes kernels compute on; every other dtype is carried through untouched. */
export type ComputeDType = 'F32' | 'F16' | 'BF16';

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

export function isComputeDType(s: DType): s is ComputeDType {
  return DTYPES[s].compute;
}

export function dtypeBytes(d: DType): number {
  return DTYPES[d].bytes;
}

export type TensorArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

/** A typed array over `buffer` for dtype `d` (F16 and BF16 are raw Uint16 bits). No copy. */
export function typedView(d: DType, buffer: ArrayBuffer, byteOffset: number, elements: number): TensorArray {
  switch (d) {
    case 'F32': return new Float32Array(buffer, byteOffset, elements);
    case 'F64': return new Float64Array(buffer, byteOffset, elements);
    case 'F16':
    case 'BF16':
    case 'U16': return new Uint16Array(buffer, byteOffset, elements);
    case 'I16': return new Int16Array(buffer, byteOffset, elements);
    case 'I32': return new Int32Array(buffer, byteOffset, elements);
    case 'U32': return new Uint32Array(buffer, byteOffset, elements);
    case 'I64': return new BigInt64Array(buffer, byteOffset, elements);
    case 'U64': return new BigUint64Array(buffer, byteOffset, elements);
    case 'I8': return new Int8Array(buffer, byteOffset, elements);
    case 'U8':
    case 'BOOL':
    case 'F8_E4M3':
    case 'F8_E5M2': return new Uint8Array(buffer, byteOffset, elements);
  }
}
