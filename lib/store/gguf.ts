/**
 * A GGUF file (llama.cpp's format) opened read-only: the header validated (gguf-header.ts), the
 * file mapped with the same native mapping as safetensors, every tensor a zero-copy view.
 *
 * Shapes: GGUF stores dims innermost first (ggml's ne[0] is the contiguous one); `shape` here is
 * outermost first, like safetensors and PyTorch, so a [rows, cols] matrix reads the same in both
 * formats. `dims` keeps the file's order.
 *
 * As a WeightSource: F32, F16 and BF16 tensors (and I8..I64, F64) keep their dtype; quantized
 * tensors (Q4_0, Q8_0, K-quants, IQ*) have no DType, so they are exposed as their raw bytes
 * (dtype U8, shape [byteLength], `storage` = the ggml type): carried unchanged, never evolved.
 */
import fs from 'node:fs';

import { WeightFileError } from '../errors.js';
import type { AdviceHint, NativeMappedFile } from '../native.js';
import { type TensorArray, typedView } from './dtypes.js';
import { type GgufKV, type GgufTensorEntry, type GgufValue, type ParsedGguf, parseGgufHeader } from './gguf-header.js';
import { isEvolvableGgml } from './gguf-types.js';
import { MAX_VIEW_BYTES, viewChunks } from './safetensors.js';
import { mapWeightFile } from './map-file.js';
import { MappedWeightFile } from './mapped-weight-file.js';
import { type TensorMeta, type WeightSource, compareNames } from './source.js';

export interface GgufTensorInfo extends GgufTensorEntry {
  /** The ggml type's name: 'F32', 'BF16', 'Q4_K', ... */
  readonly ggmlType: string;
  /** Absolute offset of the first byte in the file. */
  readonly fileOffset: number;
  /** F32, F16 or BF16: kernels can compute on it. */
  readonly evolvable: boolean;
}

export class GgufFile extends MappedWeightFile implements WeightSource {
  readonly version: number;
  readonly alignment: number;
  /** The typed key/value pairs, in file order (a writer's template). */
  readonly kv: readonly GgufKV[];
  /** Scalar and string values as strings (arrays, e.g. the vocabulary, are left out). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly dataStart: number;
  private readonly byName = new Map<string, GgufTensorInfo>();
  private readonly headerOrder: string[];

  private constructor(file: string, mapping: NativeMappedFile, parsed: ParsedGguf) {
    super(file, mapping);
    this.version = parsed.version;
    this.alignment = parsed.alignment;
    this.kv = parsed.kv;
    this.dataStart = parsed.dataStart;
    this.metadata = stringMetadata(parsed.kv);
    this.headerOrder = parsed.tensors.map((t) => t.name);
    for (const t of parsed.tensors) {
      this.byName.set(t.name, { ...t, ggmlType: t.type.name, fileOffset: parsed.dataStart + t.offset, evolvable: isEvolvableGgml(t.type) });
    }
  }

  /** Opens and validates `file`. Throws WeightFileError for anything but a sound file. */
  static open(file: string): GgufFile {
    const mapping = mapWeightFile(file, 'a .gguf file');
    try {
      const size = mapping.size;
      if (size === 0) throw new WeightFileError('EMPTY_FILE', file, 'the file is empty, expected a GGUF file');
      // The parser reads the header in place; strings and arrays are copied out of it, so this
      // view is dropped when open returns.
      const parsed = parseGgufHeader(new Uint8Array(mapping.region(0, Math.min(size, MAX_VIEW_BYTES))), size, file);
      return new GgufFile(file, mapping, parsed);
    } catch (err) {
      mapping.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.mapping.closed;
  }

  /** general.architecture ('llama', 'gpt2', ...), when the file says. */
  get architecture(): string | undefined {
    const v = this.value('general.architecture');
    return typeof v === 'string' ? v : undefined;
  }

  /** The typed value of a key, or undefined. */
  value(key: string): GgufValue | undefined {
    return this.kv.find((e) => e.key === key)?.value;
  }

  /** Tensor names, sorted (WeightSource). */
  names(): string[] {
    return [...this.headerOrder].sort(compareNames);
  }

  /** Tensor names in the header's order. */
  headerNames(): string[] {
    return [...this.headerOrder];
  }

  tensors(): GgufTensorInfo[] {
    return this.headerOrder.map((n) => this.byName.get(n)!);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (t === undefined) throw new WeightFileError('TENSOR_NOT_FOUND', this.path, 'no such tensor in this file', { tensor: name });
    return t;
  }

  /** WeightSource view of a tensor: quantized ones as raw bytes (see the module comment). */
  meta(name: string): TensorMeta {
    const t = this.info(name);
    if (t.type.dtype !== undefined) return { name, dtype: t.type.dtype, shape: t.shape, elements: t.elements, byteLength: t.byteLength };
    return { name, dtype: 'U8', shape: [t.byteLength], elements: t.byteLength, byteLength: t.byteLength, storage: t.ggmlType };
  }

  /** Throws NOT_EVOLVABLE, naming the tensor and its type, unless kernels can compute on it. */
  requireEvolvable(name: string): void {
    const t = this.info(name);
    if (!t.evolvable) {
      throw new WeightFileError('NOT_EVOLVABLE', this.path, `${t.ggmlType} tensors cannot be evolved or merged (F32, F16 and BF16 can); exclude it and it is carried unchanged`, { tensor: name });
    }
  }

  /** The tensor's bytes as one zero-copy Uint8Array (up to 4 GiB; see chunks()). */
  bytes(name: string): Uint8Array {
    const t = this.info(name);
    if (t.byteLength > MAX_VIEW_BYTES) throw new WeightFileError('TENSOR_TOO_LARGE', this.path, `is ${t.byteLength} bytes, over the 4 GiB a single view can span; use chunks()`, { tensor: name });
    return new Uint8Array(this.buffer(t));
  }

  /** A zero-copy typed array over the tensor (F16/BF16 as raw Uint16 bits; quantized as bytes). */
  view(name: string): TensorArray {
    const m = this.meta(name);
    return typedView(m.dtype, this.bytes(name).buffer as ArrayBuffer, 0, m.elements);
  }

  /** The tensor's bytes as zero-copy views of at most `maxBytes` each (whole elements or blocks). */
  chunks(name: string, maxBytes = MAX_VIEW_BYTES): Uint8Array[] {
    const t = this.info(name);
    this.requireOpen(name);
    if (t.byteLength <= Math.min(maxBytes, MAX_VIEW_BYTES)) return [new Uint8Array(this.buffer(t))];
    return viewChunks(this.mapping, this.path, t.fileOffset, t.byteLength, maxBytes, t.type.blockBytes);
  }

  advise(name: string, hint: AdviceHint): void {
    const t = this.info(name);
    this.requireOpen(name);
    if (t.byteLength > 0) this.mapping.advise(hint, t.fileOffset, t.byteLength);
  }

  private buffer(t: GgufTensorInfo): ArrayBuffer {
    return this.tensorRegion(t.name, t.fileOffset, t.byteLength);
  }
}

/** Whether a path names a GGUF file: by extension, else by its first four bytes. */
export function isGgufPath(file: string): boolean {
  if (file.toLowerCase().endsWith('.gguf')) return true;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(4);
      return fs.readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'GGUF';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

function stringMetadata(kv: readonly GgufKV[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of kv) {
    if (e.type === 'array') continue;  // vocabularies and merges: megabytes, not metadata strings
    out[e.key] = String(e.value);
  }
  return out;
}
