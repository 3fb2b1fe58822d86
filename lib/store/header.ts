/**
 * The safetensors header: parsed and validated from raw bytes, trusting nothing.
 * Checks what huggingface/safetensors checks, and more (duplicate names, trailing bytes,
 * a header-size cap). Pure: no I/O, so it can be fuzzed directly.
 */
import { WeightFileError } from '../errors.js';
import { type DType, dtypeBytes, isDType } from './dtypes.js';

/** The reference implementation's cap on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** [begin, end) relative to the start of the data region. */
  dataOffsets: [number, number];
  /** Number of elements (product of the shape; 1 for a scalar). */
  elements: number;
}

export interface ParsedHeader {
  headerLength: number;
  /** Absolute file offset where the data region starts (8 + headerLength). */
  dataStart: number;
  /** Tensors in data order. */
  tensors: TensorEntry[];
  metadata: Record<string, string>;
}

/** Reads the header length from the first 8 bytes and checks it against the file and the cap. */
export function readHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize === 0) throw new WeightFileError('EMPTY_FILE', file, 'the file is empty, expected a safetensors file');
  if (fileSize < 8 || first8.length < 8) {
    throw new WeightFileError('TOO_SHORT', file, `the file is ${fileSize} bytes, shorter than the 8-byte header length`);
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES) || 8n + n > BigInt(fileSize)) {
    // An implausible length: say what the file is when its first bytes tell (text, ONNX, ...).
    const foreign = foreignFormat(first8, file);
    if (foreign !== undefined) {
      throw new WeightFileError('NOT_SAFETENSORS', file, `not a safetensors file: it looks like ${foreign} (a safetensors file starts with an 8-byte header length, then a JSON header)`);
    }
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new WeightFileError('HEADER_TOO_LARGE', file, `header length ${n} is above the ${MAX_HEADER_BYTES}-byte cap (a damaged file, or not a safetensors file)`);
  }
  const length = Number(n);
  if (8 + length > fileSize) {
    throw new WeightFileError('HEADER_OUT_OF_BOUNDS', file, `header length ${length} runs past the end of the ${fileSize}-byte file (a truncated file, or not a safetensors file)`);
  }
  return length;
}

const TEXT_EXTENSIONS: Record<string, string> = {
  '.jsonl': 'a JSON Lines text file', '.ndjson': 'a JSON Lines text file', '.json': 'a JSON text file',
  '.yaml': 'a YAML text file', '.yml': 'a YAML text file', '.csv': 'a CSV text file', '.tsv': 'a TSV text file',
  '.md': 'a Markdown text file', '.txt': 'a text file', '.py': 'a Python source file',
};

/**
 * What a file whose first 8 bytes cannot be a safetensors header length looks like: a phrase
 * for the error message, or undefined when the bytes look like nothing in particular (a damaged
 * file) or like a pickle / torch.save zip (explained by their own hint). A real header length is
 * below 2^27, so its upper bytes are zero: text never is one.
 */
export function foreignFormat(first8: Uint8Array, file: string): string | undefined {
  const b = first8;
  const ext = /\.[^./\\]+$/.exec(file)?.[0]?.toLowerCase() ?? '';
  const starts = (...bytes: number[]) => bytes.every((x, i) => b[i] === x);
  // zip (torch.save, .npz) and raw pickles keep their header code: SafetensorsFile.open appends
  // pickleMagicHint, which names them and gives the conversion command.
  if (starts(0x50, 0x4b, 0x03, 0x04) || (b[0] === 0x80 && b[1] !== undefined && b[1] >= 2 && b[1] <= 5)) return undefined;
  if (starts(0x47, 0x47, 0x55, 0x46)) return 'a GGUF file (llama.cpp)';
  if (starts(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59)) return 'a NumPy .npy array';
  if (starts(0x89, 0x48, 0x44, 0x46)) return 'an HDF5 file (Keras .h5?)';
  if (starts(0x1f, 0x8b)) return 'a gzip archive';
  // ONNX is a protobuf ModelProto: ir_version (field 1, varint), then producer_name, graph, ...
  if (ext === '.onnx' || (b[0] === 0x08 && b[1]! < 0x80 && [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42].includes(b[2]!))) {
    return `an ONNX model (protobuf)${ext === '.onnx' ? '' : '; a graph goes to --graph / fitness.graph'}`;
  }
  const text = b.length >= 8 && [...b.subarray(0, 8)].every((x) => x === 0x09 || x === 0x0a || x === 0x0d || (x >= 0x20 && x <= 0x7e) || (x >= 0x80 && x <= 0xf4 && x !== 0xc0 && x !== 0xc1));
  if (text) {
    const preview = new TextDecoder('utf-8').decode(b.subarray(0, 8)).replace(/\uFFFD+$/, '');
    return `${TEXT_EXTENSIONS[ext] ?? 'a text file'} (it starts with ${JSON.stringify(preview)})`;
  }
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes a JSON text may start with (whitespace, object, array, string, number, literals). */
const JSON_START = new Set([...' \t\r\n{["-0123456789tfn'].map((c) => c.charCodeAt(0)));

/**
 * Validates the header JSON bytes (without the 8-byte length) for a file of `fileSize` bytes.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const headerLength = headerBytes.length;
  // The header is a JSON object: a first byte no JSON value starts with means some other format.
  const first = headerBytes[0];
  if (first !== undefined && !JSON_START.has(first)) {
    throw new WeightFileError('NOT_SAFETENSORS', file, `not a safetensors file: its header (byte 8 on) should be a JSON object starting with '{', found byte 0x${first.toString(16).padStart(2, '0')}`);
  }
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    throw new WeightFileError('HEADER_NOT_UTF8', file, 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WeightFileError('HEADER_NOT_JSON', file, `the header is not JSON (${(err as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new WeightFileError('HEADER_NOT_OBJECT', file, 'the header is not a JSON object');
  }
  const duplicate = firstDuplicateTopLevelKey(text);
  if (duplicate !== undefined) {
    throw new WeightFileError('DUPLICATE_TENSOR', file, 'the name appears twice in the header', { tensor: duplicate });
  }

  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, file);
      continue;
    }
    tensors.push(parseEntry(name, value, file));
  }

  // Sorted by their start, tensors must tile [0, dataLength) exactly: no gap, no overlap,
  // no trailing bytes (which is what stops polyglot files).
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let expected = 0;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin < expected) {
      throw new WeightFileError('OFFSET_OVERLAP', file, `data_offsets [${begin}, ${end}) overlap the previous tensor (which ends at ${expected})`, { tensor: t.name });
    }
    if (begin > expected) {
      throw new WeightFileError('OFFSET_GAP', file, `data_offsets [${begin}, ${end}) leave a gap after byte ${expected} of the data`, { tensor: t.name });
    }
    if (end > dataLength) {
      throw new WeightFileError('TRUNCATED', file, `data ends at byte ${end} but the file holds only ${dataLength} data bytes (truncated file?)`, { tensor: t.name });
    }
    expected = end;
  }
  if (expected !== dataLength) {
    throw new WeightFileError('TRAILING_BYTES', file, `${dataLength - expected} bytes after the last tensor are not described by the header`);
  }
  return { headerLength, dataStart, tensors, metadata };
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new WeightFileError('BAD_METADATA', file, '__metadata__ is not an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new WeightFileError('BAD_METADATA', file, `__metadata__.${k} is ${describe(v)}, expected a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, value: unknown, file: string): TensorEntry {
  const bad = (code: 'BAD_ENTRY' | 'UNKNOWN_DTYPE' | 'BAD_SHAPE' | 'BAD_OFFSETS' | 'SIZE_MISMATCH', defect: string) =>
    new WeightFileError(code, file, defect, { tensor: name });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('BAD_ENTRY', `entry is ${describe(value)}, expected an object`);
  const entry = value as Record<string, unknown>;
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!(key in entry)) throw bad('BAD_ENTRY', `entry has no '${key}'`);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw bad('BAD_ENTRY', `dtype is ${describe(dtype)}, expected a string`);
  if (!isDType(dtype)) throw bad('UNKNOWN_DTYPE', `unknown dtype '${dtype}'`);
  if (!Array.isArray(shape)) throw bad('BAD_SHAPE', `shape is ${describe(shape)}, expected an array of integers`);
  let elements = 1n;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) throw bad('BAD_SHAPE', `shape ${JSON.stringify(shape)} has ${JSON.stringify(d)}, expected non-negative integers`);
    elements *= BigInt(d as number);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw bad('BAD_OFFSETS', `data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad('BAD_OFFSETS', `data_offsets [${begin}, ${end}) end before they begin`);
  // Computed in BigInt: no overflow whatever the shape.
  const bytes = elements * BigInt(dtypeBytes(dtype));
  if (bytes !== BigInt(end - begin)) {
    throw bad('SIZE_MISMATCH', `${dtype} ${JSON.stringify(shape)} needs ${bytes} bytes but data_offsets [${begin}, ${end}) hold ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], dataOffsets: [begin, end], elements: Number(elements) };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * JSON.parse keeps the last of two equal keys silently; this walks the (already valid)
 * JSON text and returns the first top-level key that appears twice.
 */
export function firstDuplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let i = 0;
  let expectKey = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      continue;
    }
    if (c === '{' || c === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return undefined;
}
