/**
 * Arrow views of weights, without copies: a tensor as an Arrow vector over its mapped
 * bytes, a whole file as a table (name, dtype, shape, data) whose data column is the mapped
 * data region itself, and Arrow IPC files in and out.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';

import {
  Data,
  Field,
  Float16,
  Float32,
  Int64,
  LargeBinary,
  List,
  RecordBatch,
  RecordBatchFileWriter,
  Schema,
  Struct,
  Table,
  Uint16,
  Utf8,
  Vector,
  makeData,
  tableFromIPC,
  vectorFromArray,
} from 'apache-arrow';

import { WeightFileError, fromSystemError } from '../errors.js';
import { native } from '../native.js';
import { WeightSet } from './checkpoint.js';
import { type DType, dtypeBytes, isDType } from './dtypes.js';
import { MAX_VIEW_BYTES, SafetensorsFile } from './safetensors.js';
import { type TensorMeta, type WeightSource, compareNames } from './source.js';

/** Field metadata keys that carry what Arrow's types cannot say. */
export const META_DTYPE = 'dtype';
export const META_SHAPE = 'shape';

function arrowTypeOf(dtype: DType): Float32 | Float16 | Uint16 {
  switch (dtype) {
    case 'F32': return new Float32();
    case 'F16': return new Float16();
    case 'BF16': return new Uint16();  // Arrow has no bfloat16: raw bits, dtype in metadata
    default: throw new Error(`unreachable: ${dtype}`);
  }
}

export interface TensorArrow {
  field: Field;
  vector: Vector;
}

/**
 * One tensor (F32, F16 or BF16) as an Arrow vector over its bytes (one chunk per 4 GiB),
 * with its dtype (`f32` / `f16` / `bf16`) and shape (JSON) in the field metadata.
 */
export function tensorToArrow(source: WeightSource, name: string, fileForErrors = name): TensorArrow {
  const meta = source.meta(name);
  if (meta.dtype !== 'F32' && meta.dtype !== 'F16' && meta.dtype !== 'BF16') {
    throw new WeightFileError('UNKNOWN_DTYPE', fileForErrors, `${meta.dtype} has no Arrow vector view (F32, F16 and BF16 do)`, { tensor: name });
  }
  const type = arrowTypeOf(meta.dtype);
  const chunks = source.chunks(name).map((bytes) => {
    const length = bytes.byteLength / dtypeBytes(meta.dtype);
    const values = meta.dtype === 'F32'
      ? new Float32Array(bytes.buffer, bytes.byteOffset, length)
      : new Uint16Array(bytes.buffer, bytes.byteOffset, length);
    return makeData({ type, length, data: values } as never) as Data;
  });
  const metadata = new Map([
    [META_DTYPE, meta.dtype.toLowerCase()],
    [META_SHAPE, JSON.stringify(meta.shape)],
  ]);
  return { field: new Field(name, type, false, metadata), vector: new Vector(chunks) };
}

export const TABLE_SCHEMA = new Schema([
  new Field('name', new Utf8(), false),
  new Field('dtype', new Utf8(), false),
  new Field('shape', new List(new Field('item', new Int64(), false)), false),
  new Field('data', new LargeBinary(), false),
], new Map([['format', 'evolver-weights/1']]));

interface Row {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** Byte range relative to `values`. */
  begin: number;
  end: number;
}

function batchOf(rows: Row[], values: Uint8Array): RecordBatch {
  const names = vectorFromArray(rows.map((r) => r.name), new Utf8());
  const dtypes = vectorFromArray(rows.map((r) => r.dtype), new Utf8());
  const shapes = vectorFromArray(rows.map((r) => r.shape.map((d) => BigInt(d))), TABLE_SCHEMA.fields[2]!.type as List<Int64>);
  const valueOffsets = new BigInt64Array(rows.length + 1);
  rows.forEach((r, i) => {
    valueOffsets[i] = BigInt(r.begin);
    valueOffsets[i + 1] = BigInt(r.end);
  });
  const data = makeData({ type: new LargeBinary(), length: rows.length, nullCount: 0, valueOffsets, data: values });
  const struct = makeData({
    type: new Struct(TABLE_SCHEMA.fields),
    length: rows.length,
    nullCount: 0,
    children: [names.data[0]!, dtypes.data[0]!, shapes.data[0]!, data],
  });
  return new RecordBatch(TABLE_SCHEMA, struct);
}

/** Batches for one file: its tensors in data order, at most 4 GiB of data per batch, each
 * batch's data buffer a single view of the mapped data region. */
function fileBatches(file: SafetensorsFile): RecordBatch[] {
  const batches: RecordBatch[] = [];
  const tensors = file.header.tensors;
  let i = 0;
  while (i < tensors.length) {
    const start = tensors[i]!.dataOffsets[0];
    let j = i;
    while (j < tensors.length && tensors[j]!.dataOffsets[1] - start <= MAX_VIEW_BYTES) j++;
    if (j === i) {
      batches.push(...sourceBatches(singleFileSource(file), [tensors[i]!.name]));  // one tensor over 4 GiB: split in rows
      i++;
      continue;
    }
    const end = tensors[j - 1]!.dataOffsets[1];
    const values = new Uint8Array(file.region(file.header.dataStart + start, end - start));
    const rows = tensors.slice(i, j).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, begin: t.dataOffsets[0] - start, end: t.dataOffsets[1] - start }));
    batches.push(batchOf(rows, values));
    i = j;
  }
  return batches;
}

/** Generic sources: one batch per chunk of each tensor (a tensor over 4 GiB spans several rows). */
function sourceBatches(source: WeightSource, names = source.names()): RecordBatch[] {
  const batches: RecordBatch[] = [];
  for (const name of names) {
    const meta = source.meta(name);
    for (const chunk of source.chunks(name)) {
      batches.push(batchOf([{ name, dtype: meta.dtype, shape: meta.shape, begin: 0, end: chunk.byteLength }], chunk));
    }
  }
  return batches;
}

function singleFileSource(file: SafetensorsFile): WeightSource {
  return {
    names: () => file.names().sort(compareNames),
    meta: (n) => file.info(n),
    chunks: (n) => file.chunks(n),
    metadata: file.metadata,
  };
}

/**
 * The weights as an Arrow table (name, dtype, shape, data). For files and checkpoints the
 * data column's buffers are the mapped data regions (no copy); valid while they are open.
 */
export function weightsToArrowTable(source: SafetensorsFile | WeightSource): Table {
  let batches: RecordBatch[];
  if (source instanceof SafetensorsFile) batches = fileBatches(source);
  else if (source instanceof WeightSet && source.format !== 'gguf') batches = (source.files as SafetensorsFile[]).flatMap(fileBatches);
  else batches = sourceBatches(source);
  return batches.length === 0 ? new Table(TABLE_SCHEMA) : new Table(batches);
}

/** Writes the weights as an Arrow IPC file (streamed batch by batch; atomic rename at the end). */
export async function toArrowIPC(source: SafetensorsFile | WeightSource, file: string): Promise<void> {
  const table = weightsToArrowTable(source);
  const temp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.tmp-${process.pid}`);
  const out = fs.createWriteStream(temp);
  try {
    const writer = RecordBatchFileWriter.writeAll(table);
    for await (const chunk of writer) {
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const fd = fs.openSync(temp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(temp, file);
  } catch (err) {
    out.destroy();
    fs.rmSync(temp, { force: true });
    throw fromSystemError(err, file, 'writing Arrow IPC');
  }
}

/** Tensors read back from an Arrow IPC file written by toArrowIPC (or by any tool using the same schema). */
export class ArrowWeights implements WeightSource {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>> = {};
  readonly table: Table;
  private readonly tensors = new Map<string, { meta: TensorMeta; parts: Uint8Array[] }>();
  private readonly close_: () => void;

  /** @internal */
  constructor(file: string, table: Table, close: () => void) {
    this.path = file;
    this.table = table;
    this.close_ = close;
    for (const column of ['name', 'dtype', 'shape', 'data']) {
      if (table.getChild(column) === null) throw new WeightFileError('BAD_ENTRY', file, `the Arrow table has no '${column}' column`);
    }
    for (const batch of table.batches) {
      const names = batch.getChild('name')!;
      const dtypes = batch.getChild('dtype')!;
      const shapes = batch.getChild('shape')!;
      const data = batch.getChild('data')!;
      for (let i = 0; i < batch.numRows; i++) {
        const name = String(names.get(i));
        const dtype = String(dtypes.get(i));
        if (!isDType(dtype)) throw new WeightFileError('UNKNOWN_DTYPE', file, `unknown dtype '${dtype}'`, { tensor: name });
        const shapeVec = shapes.get(i) as Vector | null;
        const shape = shapeVec === null ? [] : [...(shapeVec.toArray() as BigInt64Array)].map(Number);
        const bytes = data.get(i) as Uint8Array;
        const entry = this.tensors.get(name);
        if (entry === undefined) {
          const elements = shape.reduce((a, b) => a * b, 1);
          this.tensors.set(name, { meta: { name, dtype, shape, elements, byteLength: elements * dtypeBytes(dtype) }, parts: [bytes] });
        } else {
          entry.parts.push(bytes);
        }
      }
    }
    for (const { meta, parts } of this.tensors.values()) {
      const got = parts.reduce((n, p) => n + p.byteLength, 0);
      if (got !== meta.byteLength) {
        throw new WeightFileError('SIZE_MISMATCH', file, `${meta.dtype} ${JSON.stringify(meta.shape)} needs ${meta.byteLength} bytes, the table holds ${got}`, { tensor: meta.name });
      }
    }
  }

  names(): string[] {
    return [...this.tensors.keys()].sort(compareNames);
  }

  meta(name: string): TensorMeta {
    const t = this.tensors.get(name);
    if (t === undefined) throw new WeightFileError('TENSOR_NOT_FOUND', this.path, 'no such tensor in this Arrow file', { tensor: name });
    return t.meta;
  }

  chunks(name: string): Uint8Array[] {
    this.meta(name);
    return this.tensors.get(name)!.parts;
  }

  close(): void {
    this.close_();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Opens an Arrow IPC file of weights. Files up to 4 GiB are mapped and read without a copy. */
export function fromArrowIPC(file: string): ArrowWeights {
  let mapping;
  try {
    mapping = native.MappedFile.openReadOnly(file);
  } catch (err) {
    throw fromSystemError(err, file, 'opening Arrow IPC');
  }
  if (mapping.size > MAX_VIEW_BYTES) {
    mapping.close();
    throw new WeightFileError('TENSOR_TOO_LARGE', file, 'Arrow IPC files over 4 GiB are not supported yet; write the weights as a sharded safetensors checkpoint instead');
  }
  try {
    const table = tableFromIPC(new Uint8Array(mapping.region(0, mapping.size)));
    return new ArrowWeights(file, table, () => mapping.close());
  } catch (err) {
    mapping.close();
    if (err instanceof WeightFileError) throw err;
    throw new WeightFileError('BAD_ENTRY', file, `is not a readable Arrow IPC file of weights (${(err as Error).message})`);
  }
}
