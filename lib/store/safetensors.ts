/**
 * A safetensors file opened read-only: the header validated, the file mapped, every
 * tensor a zero-copy view of the mapped bytes.
 */

import { WeightFileError } from '../errors.js';
import type { AdviceHint, NativeMappedFile } from '../native.js';
import { type DType, type TensorArray, typedView } from './dtypes.js';
import { type ParsedHeader, type TensorEntry, parseHeader, readHeaderLength } from './header.js';
import { mapWeightFile } from './map-file.js';
import { MappedWeightFile } from './mapped-weight-file.js';
import { pickleMagicHint } from './refuse.js';

/** The most bytes one ArrayBuffer may span (Node 20 aborts on larger external buffers). */
export const MAX_VIEW_BYTES = 2 ** 32;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly elements: number;
  readonly byteLength: number;
  /** Absolute offset of the first byte in the file. */
  readonly fileOffset: number;
}

export class SafetensorsFile extends MappedWeightFile {
  readonly header: ParsedHeader;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly byName = new Map<string, TensorInfo>();

  private constructor(file: string, mapping: NativeMappedFile, header: ParsedHeader) {
    super(file, mapping);
    this.header = header;
    this.metadata = header.metadata;
    for (const t of header.tensors) this.byName.set(t.name, toInfo(t, header.dataStart));
  }

  /** Opens and validates `file`. Throws WeightFileError for anything but a sound file. */
  static open(file: string): SafetensorsFile {
    const mapping = mapWeightFile(file, 'a .safetensors file');
    try {
      const size = mapping.size;
      const first = size === 0 ? new Uint8Array(0) : new Uint8Array(mapping.region(0, Math.min(8, size)));
      let headerLength: number;
      try {
        headerLength = readHeaderLength(first, size, file);
      } catch (err) {
        if (err instanceof WeightFileError && size >= 4) err.message += pickleMagicHint(first);
        throw err;
      }
      // A copy of the header bytes only: the region view is dropped right away.
      const headerBytes = new Uint8Array(mapping.region(8, headerLength));
      const header = parseHeader(headerBytes, size, file);
      mapping.advise('willneed', 0, Math.min(size, 8 + headerLength));
      return new SafetensorsFile(file, mapping, header);
    } catch (err) {
      mapping.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.mapping.closed;
  }

  /** Tensor names in data order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  tensors(): TensorInfo[] {
    return [...this.byName.values()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (t === undefined) throw new WeightFileError('TENSOR_NOT_FOUND', this.path, 'no such tensor in this file', { tensor: name });
    return t;
  }

  /** The tensor's bytes as one zero-copy Uint8Array (tensors up to 4 GiB; see chunks()). */
  bytes(name: string): Uint8Array {
    const t = this.info(name);
    if (t.byteLength > MAX_VIEW_BYTES) {
      throw new WeightFileError('TENSOR_TOO_LARGE', this.path, `is ${t.byteLength} bytes, over the 4 GiB a single view can span; use chunks()`, { tensor: name });
    }
    return new Uint8Array(this.buffer(t));
  }

  /** The tensor's bytes as zero-copy views of at most `maxBytes` each (whole elements). */
  chunks(name: string, maxBytes = MAX_VIEW_BYTES): Uint8Array[] {
    const t = this.info(name);
    this.requireOpen(name);
    // One view when it fits: the same ArrayBuffer that view() and bytes() hand out.
    if (t.byteLength <= Math.min(maxBytes, MAX_VIEW_BYTES)) return [new Uint8Array(this.buffer(t))];
    return viewChunks(this.mapping, this.path, t.fileOffset, t.byteLength, maxBytes, t.byteLength / Math.max(1, t.elements) || 1);
  }

  /** A zero-copy typed array over the tensor (F16/BF16 as raw Uint16 bits). */
  view(name: string): TensorArray {
    const t = this.info(name);
    if (t.byteLength > MAX_VIEW_BYTES) {
      throw new WeightFileError('TENSOR_TOO_LARGE', this.path, `is ${t.byteLength} bytes, over the 4 GiB a single view can span; use chunks()`, { tensor: name });
    }
    return typedView(t.dtype, this.buffer(t), 0, t.elements);
  }

  private buffer(t: TensorInfo): ArrayBuffer {
    return this.tensorRegion(t.name, t.fileOffset, t.byteLength);
  }

  /** Tells the kernel how the tensor's pages will be used (e.g. 'populate' before reading all of it). */
  advise(name: string, hint: AdviceHint): void {
    const t = this.info(name);
    this.requireOpen(name);
    if (t.byteLength > 0) this.mapping.advise(hint, t.fileOffset, t.byteLength);
  }

  /** @internal A zero-copy view of [offset, offset + length) of the file. */
  region(offset: number, length: number): ArrayBuffer {
    this.requireOpen();
    return this.mapping.region(offset, length);
  }
}

function toInfo(t: TensorEntry, dataStart: number): TensorInfo {
  return {
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    elements: t.elements,
    byteLength: t.dataOffsets[1] - t.dataOffsets[0],
    fileOffset: dataStart + t.dataOffsets[0],
  };
}

/** Splits [offset, offset + length) of a mapping into views of at most maxBytes (a multiple of `unit`). */
export function viewChunks(mapping: NativeMappedFile, file: string, offset: number, length: number, maxBytes: number, unit: number): Uint8Array[] {
  if (mapping.closed) throw new WeightFileError('CLOSED', file, 'the file is closed');
  const step = Math.max(unit, Math.floor(Math.min(maxBytes, MAX_VIEW_BYTES) / unit) * unit);
  const out: Uint8Array[] = [];
  for (let at = 0; at < length; at += step) out.push(new Uint8Array(mapping.region(offset + at, Math.min(step, length - at))));
  if (out.length === 0) out.push(new Uint8Array(0));
  return out;
}
