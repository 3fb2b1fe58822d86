/**
 * GGUF header bytes from key/value pairs and tensor infos: the inverse of gguf-header.ts, and
 * pure (the writer and the tests both build files with it). Always writes version 3.
 */
import { WeightFileError } from '../errors.js';
import type { GgufArray, GgufKV, GgufValue } from './gguf-header.js';
import { GGML_MAX_DIMS, GGML_MAX_NAME } from './gguf-header.js';
import { GGUF_MAGIC, type GgmlType, type GgufValueType, VALUE_BYTES, VALUE_TYPES } from './gguf-types.js';

export interface GgufTensorHeader {
  readonly name: string;
  readonly type: GgmlType;
  /** ggml order: innermost first. */
  readonly dims: readonly number[];
  /** Relative to the data section. */
  readonly offset: number;
}

const encoder = new TextEncoder();

/** A growable little-endian byte buffer. */
class Out {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // room() first: it may replace this.view / this.buf, which must be read after it.
  u32(v: number): void { const at = this.room(4); this.view.setUint32(at, v, true); }
  u64(v: number | bigint): void { const at = this.room(8); this.view.setBigUint64(at, BigInt(v), true); }
  bytes(b: Uint8Array): void { const at = this.room(b.length); this.buf.set(b, at); }
  string(s: string): void {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  scalar(type: GgufValueType, v: GgufValue): void {
    const at = this.room(VALUE_BYTES[type]!);
    const d = this.view;
    switch (type) {
      case 'uint8': d.setUint8(at, v as number); break;
      case 'int8': d.setInt8(at, v as number); break;
      case 'uint16': d.setUint16(at, v as number, true); break;
      case 'int16': d.setInt16(at, v as number, true); break;
      case 'uint32': d.setUint32(at, v as number, true); break;
      case 'int32': d.setInt32(at, v as number, true); break;
      case 'float32': d.setFloat32(at, v as number, true); break;
      case 'float64': d.setFloat64(at, v as number, true); break;
      case 'uint64': d.setBigUint64(at, BigInt(v as bigint), true); break;
      case 'int64': d.setBigInt64(at, BigInt(v as bigint), true); break;
      case 'bool': d.setUint8(at, v === true ? 1 : 0); break;
      default: throw new Error(`not a scalar type: ${type}`);
    }
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function typeId(t: GgufValueType): number {
  return VALUE_TYPES.indexOf(t);
}

function writeValue(out: Out, type: GgufValueType, value: GgufValue, key: string, file: string): void {
  const bad = (why: string) => new WeightFileError('BAD_KV', file, why, { key });
  if (VALUE_BYTES[type] !== undefined) {
    const ok = type === 'bool' ? typeof value === 'boolean'
      : type === 'uint64' || type === 'int64' ? typeof value === 'bigint' || Number.isSafeInteger(value)
        : typeof value === 'number';
    if (!ok) throw bad(`a ${type} value cannot be ${typeof value}`);
    out.scalar(type, value);
  } else if (type === 'string') {
    if (typeof value !== 'string') throw bad(`a string value cannot be ${typeof value}`);
    out.string(value);
  } else if (type === 'array') {
    if (typeof value !== 'object' || value === null || !('itemType' in value)) throw bad('an array value must be {itemType, items}');
    writeArray(out, value, key, file);
  } else {
    throw bad(`unknown value type '${String(type)}'`);
  }
}

function writeArray(out: Out, a: GgufArray, key: string, file: string): void {
  const id = typeId(a.itemType);
  if (id < 0) throw new WeightFileError('BAD_KV', file, `unknown array item type '${String(a.itemType)}'`, { key });
  out.u32(id);
  out.u64(a.items.length);
  const size = VALUE_BYTES[a.itemType];
  if (size !== undefined && ArrayBuffer.isView(a.items)) {
    // Typed arrays go out as their bytes: float bits (NaN payloads too) are kept exactly.
    const items = a.items;
    if (items.BYTES_PER_ELEMENT !== size) throw new WeightFileError('BAD_KV', file, `${a.itemType} items given as ${items.constructor.name}`, { key });
    out.bytes(new Uint8Array(items.buffer, items.byteOffset, items.byteLength));
    return;
  }
  for (const item of a.items as readonly GgufValue[]) writeValue(out, a.itemType, item, key, file);
}

/** The header up to the end of the tensor infos (no padding). */
export function encodeGgufHeader(kv: readonly GgufKV[], tensors: readonly GgufTensorHeader[], file: string): Uint8Array {
  const out = new Out();
  out.u32(GGUF_MAGIC);
  out.u32(3);
  out.u64(tensors.length);
  out.u64(kv.length);
  const keys = new Set<string>();
  for (const e of kv) {
    if (keys.has(e.key)) throw new WeightFileError('DUPLICATE_KEY', file, 'the key appears twice', { key: e.key });
    keys.add(e.key);
    out.string(e.key);
    const id = typeId(e.type);
    if (id < 0) throw new WeightFileError('UNKNOWN_VALUE_TYPE', file, `unknown value type '${String(e.type)}'`, { key: e.key });
    out.u32(id);
    writeValue(out, e.type, e.value, e.key, file);
  }
  for (const t of tensors) {
    if (encoder.encode(t.name).length >= GGML_MAX_NAME || t.name.length === 0) {
      throw new WeightFileError('BAD_ENTRY', file, `a tensor name must be 1 to ${GGML_MAX_NAME - 1} bytes (ggml's limit)`, { tensor: t.name });
    }
    if (t.dims.length > GGML_MAX_DIMS) throw new WeightFileError('BAD_SHAPE', file, `${t.dims.length} dimensions; ggml allows at most ${GGML_MAX_DIMS}`, { tensor: t.name });
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.type.id);
    out.u64(t.offset);
  }
  return out.done();
}
