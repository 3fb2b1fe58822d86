/** Argument checks for the kernels: tiny predicates, one error per field, the field named. */
import { EvolverArgumentError } from '../errors.js';
import { type KernelDType, type NativeDeviceTensor, native } from '../native.js';

export function isDeviceTensor(v: unknown): v is NativeDeviceTensor {
  return v instanceof native.cuda.DeviceTensor;
}

export const KERNEL_DTYPES: readonly KernelDType[] = ['F32', 'F16', 'BF16'];
export const DTYPE_BYTES: Record<KernelDType, number> = { F32: 4, F16: 2, BF16: 2 };

export class KernelArgumentError extends EvolverArgumentError {
  override readonly name = 'KernelArgumentError';
}

export function fail(message: string): never {
  throw new KernelArgumentError(message);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name} of ${v.byteLength} bytes`;
  if (typeof v === 'object') return v.constructor?.name ?? 'an object';
  return `${typeof v} ${String(v)}`;
}

export function dtypeArg(v: unknown, field: string): KernelDType {
  if (typeof v !== 'string' || !KERNEL_DTYPES.includes(v as KernelDType)) fail(`Expected one of F32, F16, BF16 for ${field} but received ${describe(v)}`);
  return v as KernelDType;
}

export function oneOf<T extends string>(v: unknown, allowed: readonly T[], field: string): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(`Expected one of ${allowed.join(', ')} for ${field} but received ${describe(v)}`);
  return v as T;
}

export function finiteNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`Expected a finite number for ${field} but received ${describe(v)}`);
  return v;
}

export function numberBetween(v: unknown, min: number, max: number, field: string): number {
  const n = finiteNumber(v, field);
  if (n < min || n > max) fail(`Expected a number between ${min} and ${max} for ${field} but received ${n}`);
  return n;
}

/** A number shared by every model, or one per model (`field[i]` named in errors), each in [min, max]. */
export function perModelBetween(v: unknown, models: number, min: number, max: number, field: string): number | number[] {
  if (!Array.isArray(v)) return numberBetween(v, min, max, field);
  if (v.length !== models) fail(`Expected one ${field} per input (${models}) but received ${v.length}`);
  return v.map((x, i) => numberBetween(x, min, max, `${field}[${i}]`));
}

export function positiveInteger(v: unknown, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) fail(`Expected a positive integer for ${field} but received ${describe(v)}`);
  return v as number;
}

export function uint64(v: unknown, field: string): bigint {
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  if (Number.isSafeInteger(v) && (v as number) >= 0) return BigInt(v as number);
  fail(`Expected a non-negative integer below 2^64 (number or bigint) for ${field} but received ${describe(v)}`);
}

/** A typed array or ArrayBuffer of exactly n elements of dtype; a detached buffer is refused here already. */
export function tensorBuffer(v: unknown, dtype: KernelDType, n: number, field: string): ArrayBufferView | ArrayBuffer | NativeDeviceTensor {
  if (isDeviceTensor(v)) {
    if (v.bytes !== n * DTYPE_BYTES[dtype]) fail(`Expected ${field} to hold ${n} ${dtype} elements (${n * DTYPE_BYTES[dtype]} bytes) but the DeviceTensor has ${v.bytes} bytes`);
    return v;
  }
  if (!(ArrayBuffer.isView(v) || v instanceof ArrayBuffer)) fail(`Expected a typed array or ArrayBuffer for ${field} but received ${describe(v)}`);
  const buffer = v instanceof ArrayBuffer ? v : v.buffer;
  if ((buffer as { detached?: boolean }).detached === true) fail(`${field} is detached (its file was closed)`);
  const bytes = v.byteLength;
  if (bytes !== n * DTYPE_BYTES[dtype]) fail(`Expected ${field} to hold ${n} ${dtype} elements (${n * DTYPE_BYTES[dtype]} bytes) but it has ${bytes} bytes`);
  if (ArrayBuffer.isView(v) && !(v instanceof Uint8Array)) {
    const ok = dtype === 'F32' ? v instanceof Float32Array || v instanceof Uint32Array || v instanceof Int32Array : v instanceof Uint16Array || v instanceof Int16Array;
    if (!ok) fail(`Expected ${field} to be a ${dtype === 'F32' ? 'Float32Array' : 'Uint16Array'} (or Uint8Array bytes) for ${dtype} but received ${describe(v)}`);
  }
  return v;
}

/** Element count of a tensor buffer given its dtype. */
export function elementsOf(v: unknown, dtype: KernelDType, field: string): number {
  if (isDeviceTensor(v)) return v.bytes / DTYPE_BYTES[dtype];
  if (!(ArrayBuffer.isView(v) || v instanceof ArrayBuffer)) fail(`Expected a typed array or ArrayBuffer for ${field} but received ${describe(v)}`);
  if (v.byteLength % DTYPE_BYTES[dtype] !== 0) fail(`${field} has ${v.byteLength} bytes, not a whole number of ${dtype} elements`);
  return v.byteLength / DTYPE_BYTES[dtype];
}
