/**
 * Writes a GGUF file the crash-safe way of the safetensors writer (sized temporary file, mapped,
 * filled in place, msync + fsync, atomic rename; writer.ts does all of it): v3 header from the
 * key/value pairs (typically an input GGUF's, see withKV), tensor infos, each tensor at a
 * multiple of general.alignment (default 32) with zero padding after it, as gguf-py and llama.cpp
 * write them. F32, F16 and BF16 tensors are the ones kernels compute; any other ggml type (a
 * quantized tensor carried from an input) is written as the bytes it is given.
 */
import { EvolverArgumentError, WeightFileError } from '../errors.js';
import type { DType } from './dtypes.js';
import { encodeGgufHeader, type GgufTensorHeader } from './gguf-encode.js';
import { type GgufKV, type GgufValue, alignUp } from './gguf-header.js';
import type { GgufFile } from './gguf.js';
import { GGUF_DEFAULT_ALIGNMENT, type GgmlType, type GgufValueType, ggmlTypeByName } from './gguf-types.js';
import { ScratchFileWriter } from './scratch-writer.js';
import { type Layout, type PlannedTensor, SafetensorsWriter, type WriterOptions } from './writer.js';

export interface GgufTensorPlan {
  readonly name: string;
  /** A ggml type name ('F32', 'F16', 'BF16', or a quantized type carried as bytes). */
  readonly type: string;
  /** Outermost first, like safetensors (written to the file reversed, innermost first). */
  readonly shape: readonly number[];
}

export interface GgufWritePlan {
  /** Key/value pairs in the order to write them. */
  readonly kv: readonly GgufKV[];
  /** Tensors in the order to write them (infos and data). */
  readonly tensors: readonly GgufTensorPlan[];
}

export interface GgufLayout extends Layout {
  readonly alignment: number;
}

/** Checks a plan and lays the file out: header, padding, tensors each at a multiple of the alignment. */
export function layoutGguf(plan: GgufWritePlan, file: string): GgufLayout {
  const alignment = alignmentOf(plan.kv, file);
  const seen = new Set<string>();
  const headers: GgufTensorHeader[] = [];
  const planned: PlannedTensor[] = [];
  let at = 0;
  for (const t of plan.tensors) {
    if (typeof t.name !== 'string' || t.name.length === 0) throw new EvolverArgumentError(`${file}: a tensor name must be a non-empty string`);
    if (seen.has(t.name)) throw new WeightFileError('DUPLICATE_TENSOR', file, 'the name appears twice in the plan', { tensor: t.name });
    seen.add(t.name);
    const type = ggmlTypeByName(t.type);
    if (type === undefined) throw new WeightFileError('UNKNOWN_TENSOR_TYPE', file, `unknown ggml type '${t.type}'`, { tensor: t.name });
    const byteLength = tensorBytes(type, t.shape, file, t.name);
    const dims = [...t.shape].reverse();
    headers.push({ name: t.name, type, dims, offset: at });
    const dtype: DType = type.dtype ?? 'U8';
    planned.push({ name: t.name, dtype, shape: type.dtype === undefined ? [byteLength] : t.shape, elements: type.dtype === undefined ? byteLength : byteLength / type.blockBytes, byteLength, fileOffset: at });
    at = alignUp(at + byteLength, alignment);
  }
  const raw = encodeGgufHeader(plan.kv, headers, file);
  const dataStart = alignUp(raw.length, alignment);
  const header = new Uint8Array(dataStart);
  header.set(raw);
  for (const p of planned) p.fileOffset += dataStart;
  // The last tensor is padded too (gguf-py and llama.cpp do): the file ends at a multiple of the alignment.
  return { header, tensors: planned, totalSize: dataStart + at, alignment };
}

function alignmentOf(kv: readonly GgufKV[], file: string): number {
  const e = kv.find((x) => x.key === 'general.alignment');
  if (e === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const a = e.value;
  if (e.type !== 'uint32' || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
    throw new WeightFileError('BAD_ALIGNMENT', file, 'must be a uint32 power of two', { key: e.key });
  }
  return a;
}

function tensorBytes(type: GgmlType, shape: readonly number[], file: string, name: string): number {
  if (shape.length > 4) throw new WeightFileError('BAD_SHAPE', file, `${shape.length} dimensions; ggml allows at most 4`, { tensor: name });
  let elements = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new WeightFileError('BAD_SHAPE', file, `shape ${JSON.stringify(shape)} must hold non-negative integers`, { tensor: name });
    elements *= d;
  }
  const inner = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (inner % type.blockSize !== 0) throw new WeightFileError('BAD_SHAPE', file, `${type.name} needs the innermost dimension (${inner}) to be a multiple of ${type.blockSize}`, { tensor: name });
  const bytes = (elements / type.blockSize) * type.blockBytes;
  if (!Number.isSafeInteger(bytes)) throw new WeightFileError('BAD_SHAPE', file, `shape ${JSON.stringify(shape)} is too large`, { tensor: name });
  return bytes;
}

/**
 * Sizes and maps a temporary file for the plan and writes its header; fill each tensor with
 * write(name, bytes) or through view()/chunks(), then commit() (fsync + rename).
 */
export function createGgufWriter(file: string, plan: GgufWritePlan, options: WriterOptions = {}): SafetensorsWriter {
  return SafetensorsWriter.fromLayout(file, layoutGguf(plan, file), options);
}

/** Writes a whole GGUF file from a plan and a function giving each tensor's bytes (in pieces). */
/**
 * `scratch`: the file is a throwaway read once (an offspring for llama.cpp): written in place
 * with pwrite() (scratch-writer.ts), much faster in /dev/shm, and not crash-safe.
 */
export interface GgufWriteOptions extends WriterOptions {
  scratch?: boolean;
}

/** The writer for `plan` at `file`: the crash-safe mapped one, or the scratch one. */
export function ggufWriterFor(file: string, plan: GgufWritePlan, options: GgufWriteOptions = {}): SafetensorsWriter | ScratchFileWriter {
  return options.scratch === true ? ScratchFileWriter.fromLayout(file, layoutGguf(plan, file)) : createGgufWriter(file, plan, options);
}

export function writeGguf(file: string, plan: GgufWritePlan, data: (name: string) => Uint8Array | readonly Uint8Array[], options: GgufWriteOptions = {}): void {
  const writer = ggufWriterFor(file, plan, options);
  try {
    for (const t of plan.tensors) writer.write(t.name, data(t.name));
    writer.commit();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/**
 * A template's key/value pairs with some replaced, added (at the end) or removed (value
 * `undefined`), order otherwise kept: metadata copied from an input GGUF.
 */
export function withKV(template: readonly GgufKV[], changes: readonly (GgufKV | { key: string; remove: true })[]): GgufKV[] {
  const out = [...template];
  for (const c of changes) {
    const i = out.findIndex((e) => e.key === c.key);
    if ('remove' in c) {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) {
      out[i] = c;
    } else {
      out.push(c);
    }
  }
  return out;
}

/** A KV pair. */
export function kv(key: string, type: GgufValueType, value: GgufValue): GgufKV {
  return { key, type, value };
}

/** Writes `source`'s tensors and key/value pairs unchanged to `file` (header order kept). */
export function copyGguf(source: GgufFile, file: string, options: WriterOptions = {}): void {
  const plan: GgufWritePlan = { kv: source.kv, tensors: source.tensors().map((t) => ({ name: t.name, type: t.ggmlType, shape: t.shape })) };
  writeGguf(file, plan, (name) => source.chunks(name), options);
}
