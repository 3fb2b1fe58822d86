/**
 * The GGUF header (v2 and v3): magic, version, counts, typed key/value pairs, tensor infos.
 * Parsed and validated from raw bytes, trusting nothing; pure (no I/O), so it can be fuzzed.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count, the KV pairs
 * (string key, u32 value type, value), the tensor infos (string name, u32 n_dims, u64 dims[n_dims]
 * innermost first, u32 ggml type, u64 offset relative to the data section), padding up to
 * general.alignment (default 32), then the data section.
 *
 * Checks, beyond what llama.cpp's gguf.cpp checks: counts are bounded by the bytes left before
 * anything is allocated; every string and array length too; bools are 0 or 1; sorted by offset,
 * tensors tile the data section with only alignment padding between them (no overlap, no gap)
 * and the file ends within the last tensor's padding (no trailing bytes). llama.cpp also requires
 * the infos to be in data order; this reader accepts any order.
 */
import { WeightFileError, type WeightFileErrorCode } from '../errors.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, type GgmlType, type GgufValueType, VALUE_BYTES, VALUE_TYPES, ggmlTypeById } from './gguf-types.js';

export type GgufNumericArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

/** An array value: numbers as a typed array (bools as a Uint8Array of 0/1), strings, or arrays. */
export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: GgufNumericArray | readonly string[] | readonly GgufArray[];
}

/** 64-bit integers are bigints; the other numbers are numbers. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufKV {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export interface GgufTensorEntry {
  readonly name: string;
  readonly type: GgmlType;
  /** ggml's order: innermost (contiguous) dimension first, as stored in the file. */
  readonly dims: readonly number[];
  /** The safetensors / PyTorch order: outermost first (`dims` reversed). */
  readonly shape: readonly number[];
  readonly elements: number;
  readonly byteLength: number;
  /** Offset relative to the data section (a multiple of the alignment). */
  readonly offset: number;
}

export interface ParsedGguf {
  readonly version: number;
  readonly alignment: number;
  /** In file order. */
  readonly kv: readonly GgufKV[];
  /** In header order. */
  readonly tensors: readonly GgufTensorEntry[];
  /** Where the tensor infos end. */
  readonly headerEnd: number;
  /** Absolute file offset of the data section (headerEnd rounded up to the alignment). */
  readonly dataStart: number;
}

/** ggml's GGML_MAX_DIMS and GGML_MAX_NAME (names are at most 63 bytes plus a NUL there). */
export const GGML_MAX_DIMS = 4;
export const GGML_MAX_NAME = 64;
/** Arrays of arrays of ... deeper than this are refused (no stack exhaustion from a crafted file). */
export const MAX_ARRAY_DEPTH = 8;

// The fewest bytes one KV pair / tensor info can take: what bounds the counts up front.
const MIN_KV_BYTES = 8 + 4 + 1;  // empty key, type, a one-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;  // empty name, n_dims = 0, type, offset

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Parses the header of a GGUF file of `fileSize` bytes; `bytes` is the file from its start (all
 * of it, or at least the header: the whole file need not fit one view).
 */
export function parseGgufHeader(bytes: Uint8Array, fileSize: number, file: string): ParsedGguf {
  const r = new Reader(bytes, fileSize, file);
  if (fileSize === 0) throw new WeightFileError('EMPTY_FILE', file, 'the file is empty, expected a GGUF file');
  if (fileSize < 4 || r.u32At(0) !== GGUF_MAGIC) {
    throw new WeightFileError('NOT_GGUF', file, 'not a GGUF file: it does not start with the magic "GGUF"');
  }
  r.at = 4;
  const version = r.u32('the version');
  if (version !== 2 && version !== 3) {
    const why = version === 1 ? 'GGUF v1 (32-bit counts) is obsolete; convert the model again with a current llama.cpp'
      : (version & 0xffff) === 0 && version !== 0 ? 'it looks big-endian, which is not supported'
        : 'only versions 2 and 3 are supported';
    throw new WeightFileError('UNSUPPORTED_VERSION', file, `GGUF version ${version}: ${why}`);
  }
  const tensorCount = r.u64('the tensor count');
  const kvCount = r.u64('the key/value count');
  // Bound both counts by what the rest of the file can hold before allocating anything.
  const left = BigInt(fileSize - r.at);
  if (kvCount * BigInt(MIN_KV_BYTES) + tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) > left) {
    throw new WeightFileError('COUNT_TOO_LARGE', file, `${tensorCount} tensors and ${kvCount} key/value pairs cannot fit in the ${fileSize}-byte file (a damaged or truncated file)`);
  }

  const kv: GgufKV[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < Number(kvCount); i++) {
    const key = r.string(`the key of pair ${i}`);
    if (keys.has(key)) throw new WeightFileError('DUPLICATE_KEY', file, 'the key appears twice', { key });
    keys.add(key);
    const type = r.valueType(key);
    kv.push({ key, type, value: r.value(type, key, 0) });
  }
  const alignment = readAlignment(kv, file);

  const tensors: GgufTensorEntry[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(tensorCount); i++) {
    const name = r.string(`the name of tensor ${i}`);
    if (names.has(name)) throw new WeightFileError('DUPLICATE_TENSOR', file, 'the name appears twice in the header', { tensor: name });
    names.add(name);
    tensors.push(r.tensorInfo(name, alignment));
  }
  const headerEnd = r.at;
  const dataStart = alignUp(headerEnd, alignment);
  checkDataSection(tensors, dataStart, headerEnd, alignment, fileSize, file);
  return { version, alignment, kv, tensors, headerEnd, dataStart };
}

function readAlignment(kv: readonly GgufKV[], file: string): number {
  const entry = kv.find((e) => e.key === 'general.alignment');
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  if (entry.type !== 'uint32') throw new WeightFileError('BAD_ALIGNMENT', file, `is ${entry.type}, expected uint32`, { key: entry.key });
  const a = entry.value as number;
  if (a === 0 || (a & (a - 1)) !== 0) throw new WeightFileError('BAD_ALIGNMENT', file, `${a} is not a power of two`, { key: entry.key });
  return a;
}

/** Sorted by offset, tensors must tile the data section with alignment padding only. */
function checkDataSection(tensors: GgufTensorEntry[], dataStart: number, headerEnd: number, alignment: number, fileSize: number, file: string): void {
  if (tensors.length === 0) {
    if (fileSize > dataStart) throw new WeightFileError('TRAILING_BYTES', file, `${fileSize - dataStart} bytes after the header belong to no tensor`);
    if (fileSize < headerEnd) throw new WeightFileError('TRUNCATED', file, 'the file ends inside the header');
    return;
  }
  const dataLength = fileSize - dataStart;
  if (dataLength < 0) throw new WeightFileError('TRUNCATED', file, `the file ends at byte ${fileSize}, before the data section at byte ${dataStart} (truncated file?)`);
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  let end = 0;  // end of the previous tensor, unpadded
  let previous: string | undefined;
  for (const t of sorted) {
    if (t.offset < end) {
      throw new WeightFileError('OFFSET_OVERLAP', file, `bytes [${t.offset}, ${t.offset + t.byteLength}) of the data overlap tensor '${previous}' (which ends at ${end})`, { tensor: t.name });
    }
    if (t.offset > alignUp(end, alignment)) {
      throw new WeightFileError('OFFSET_GAP', file, `starts at byte ${t.offset} of the data, leaving a gap after byte ${end} beyond the ${alignment}-byte alignment`, { tensor: t.name });
    }
    end = t.offset + t.byteLength;
    if (end > dataLength) {
      throw new WeightFileError('TRUNCATED', file, `data ends at byte ${end} of the data section, which holds only ${dataLength} bytes (truncated file?)`, { tensor: t.name });
    }
    previous = t.name;
  }
  if (dataLength > alignUp(end, alignment)) {
    throw new WeightFileError('TRAILING_BYTES', file, `${dataLength - end} bytes after the last tensor are not described by the header (more than its ${alignment}-byte padding)`);
  }
}

/** A bounds-checked little-endian cursor over the file's first bytes. */
class Reader {
  at = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly fileSize: number, private readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(code: WeightFileErrorCode, defect: string, where: { key?: string; tensor?: string } = {}): never {
    throw new WeightFileError(code, this.file, defect, where);
  }

  /** Makes sure `n` more bytes exist; `what` says what was being read. */
  need(n: number | bigint, what: string, where: { key?: string; tensor?: string } = {}): number {
    const left = this.fileSize - this.at;
    if (BigInt(n) > BigInt(left)) {
      this.fail('TRUNCATED', `${what} needs ${n} bytes at byte ${this.at} but the ${this.fileSize}-byte file has ${left} left (a truncated or damaged file)`, where);
    }
    if (this.at + Number(n) > this.bytes.length) {
      this.fail('HEADER_TOO_LARGE', `the header runs past the first ${this.bytes.length} bytes, more than one view can map`);
    }
    return Number(n);
  }

  u32At(at: number): number {
    return this.bytes.length >= at + 4 ? this.view.getUint32(at, true) : -1;
  }

  u32(what: string, where?: { key?: string; tensor?: string }): number {
    this.need(4, what, where);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  u64(what: string, where?: { key?: string; tensor?: string }): bigint {
    this.need(8, what, where);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v;
  }

  string(what: string, where?: { key?: string; tensor?: string }): string {
    const n = this.u64(`the length of ${what}`, where);
    this.need(n, `${what} (a string of ${n} bytes)`, where);
    const len = Number(n);
    let s: string;
    try {
      s = utf8.decode(this.bytes.subarray(this.at, this.at + len));
    } catch {
      this.fail('BAD_KV', `${what} is not valid UTF-8`, where);
    }
    this.at += len;
    return s;
  }

  valueType(key: string): GgufValueType {
    const id = this.u32('the value type', { key });
    const t = VALUE_TYPES[id];
    if (t === undefined) this.fail('UNKNOWN_VALUE_TYPE', `unknown value type ${id} (known: 0-12, ${VALUE_TYPES.join(', ')})`, { key });
    return t;
  }

  value(type: GgufValueType, key: string, depth: number): GgufValue {
    const where = { key };
    const size = VALUE_BYTES[type];
    if (size !== undefined) {
      this.need(size, `a ${type} value`, where);
      const v = this.scalar(type, this.at, key);
      this.at += size;
      return v;
    }
    if (type === 'string') return this.string('the string value', where);
    return this.array(key, depth + 1);
  }

  private scalar(type: GgufValueType, at: number, key: string): number | bigint | boolean {
    const d = this.view;
    switch (type) {
      case 'uint8': return d.getUint8(at);
      case 'int8': return d.getInt8(at);
      case 'uint16': return d.getUint16(at, true);
      case 'int16': return d.getInt16(at, true);
      case 'uint32': return d.getUint32(at, true);
      case 'int32': return d.getInt32(at, true);
      case 'float32': return d.getFloat32(at, true);
      case 'float64': return d.getFloat64(at, true);
      case 'uint64': return d.getBigUint64(at, true);
      case 'int64': return d.getBigInt64(at, true);
      case 'bool': {
        const b = d.getUint8(at);
        if (b > 1) this.fail('BAD_KV', `a bool holds ${b}, expected 0 or 1`, { key });
        return b === 1;
      }
      default: throw new Error(`not a scalar type: ${type}`);
    }
  }

  private array(key: string, depth: number): GgufArray {
    if (depth > MAX_ARRAY_DEPTH) this.fail('BAD_KV', `arrays are nested more than ${MAX_ARRAY_DEPTH} deep`, { key });
    const itemType = this.valueType(key);
    const n = this.u64('the array length', { key });
    // Bounded by the bytes left before anything is allocated: each item takes at least this many.
    const least = VALUE_BYTES[itemType] ?? (itemType === 'string' ? 8 : 12);
    this.need(n * BigInt(least), `an array of ${n} ${itemType} values`, { key });
    const count = Number(n);
    const size = VALUE_BYTES[itemType];
    if (size !== undefined) {
      // One copy out of the mapping (the metadata outlives it, and views would be unaligned).
      const raw = this.bytes.slice(this.at, this.at + count * size);
      if (itemType === 'bool') {
        const bad = raw.findIndex((b) => b > 1);
        if (bad >= 0) this.fail('BAD_KV', `bool item ${bad} holds ${raw[bad]}, expected 0 or 1`, { key });
      }
      this.at += count * size;
      return { itemType, items: numericArray(itemType, raw.buffer, count) };
    }
    if (itemType === 'string') {
      const items: string[] = [];
      for (let i = 0; i < count; i++) items.push(this.string(`string item ${i}`, { key }));
      return { itemType, items };
    }
    const items: GgufArray[] = [];
    for (let i = 0; i < count; i++) items.push(this.array(key, depth + 1));
    return { itemType, items };
  }

  tensorInfo(name: string, alignment: number): GgufTensorEntry {
    const where = { tensor: name };
    if (name.length === 0) this.fail('BAD_ENTRY', 'a tensor has an empty name', where);
    const nameBytes = new TextEncoder().encode(name).length;
    if (nameBytes >= GGML_MAX_NAME) this.fail('BAD_ENTRY', `the name is ${nameBytes} bytes; ggml allows at most ${GGML_MAX_NAME - 1}`, where);
    const nDims = this.u32('the dimension count', where);
    if (nDims > GGML_MAX_DIMS) this.fail('BAD_SHAPE', `has ${nDims} dimensions; ggml allows at most ${GGML_MAX_DIMS}`, where);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const n = this.u64(`dimension ${d}`, where);
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('BAD_SHAPE', `dimension ${d} is ${n}, too large`, where);
      dims.push(Number(n));
      elements *= n;
    }
    const typeId = this.u32('the tensor type', where);
    const type = ggmlTypeById(typeId);
    if (type === undefined) this.fail('UNKNOWN_TENSOR_TYPE', `unknown ggml tensor type ${typeId}`, where);
    const offset = this.u64('the data offset', where);
    const inner = dims[0] ?? 1;
    if (inner % type.blockSize !== 0) {
      this.fail('BAD_SHAPE', `${type.name} stores blocks of ${type.blockSize} elements but the innermost dimension is ${inner}`, where);
    }
    // In BigInt: no overflow whatever the dims; anything past the file is refused as truncated later.
    const bytes = (elements / BigInt(type.blockSize)) * BigInt(type.blockBytes);
    if (bytes > BigInt(this.fileSize) || offset > BigInt(this.fileSize)) {
      this.fail('TRUNCATED', `${type.name} [${dims.join(', ')}] (ggml order) needs ${bytes} bytes at data offset ${offset}, beyond the ${this.fileSize}-byte file`, where);
    }
    if (Number(offset) % alignment !== 0) this.fail('BAD_ALIGNMENT', `data offset ${offset} is not a multiple of the alignment ${alignment}`, where);
    return { name, type, dims, shape: [...dims].reverse(), elements: Number(elements), byteLength: Number(bytes), offset: Number(offset) };
  }
}

function numericArray(t: GgufValueType, buffer: ArrayBuffer, n: number): GgufNumericArray {
  switch (t) {
    case 'uint8':
    case 'bool': return new Uint8Array(buffer, 0, n);
    case 'int8': return new Int8Array(buffer, 0, n);
    case 'uint16': return new Uint16Array(buffer, 0, n);
    case 'int16': return new Int16Array(buffer, 0, n);
    case 'uint32': return new Uint32Array(buffer, 0, n);
    case 'int32': return new Int32Array(buffer, 0, n);
    case 'float32': return new Float32Array(buffer, 0, n);
    case 'float64': return new Float64Array(buffer, 0, n);
    case 'uint64': return new BigUint64Array(buffer, 0, n);
    case 'int64': return new BigInt64Array(buffer, 0, n);
    default: throw new Error(`not a numeric type: ${t}`);
  }
}
