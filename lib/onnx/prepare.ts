/**
 * `evolver onnx prepare MODEL.onnx OUT_DIR`: turns an ordinary export (weights stored as
 * initializers) into a graph whose weights are graph inputs, plus a safetensors file of those
 * weights — the form the ONNX evaluator needs (ONNX Runtime ignores feeds that name
 * initializers). Floating-point initializers with at least one dimension become inputs; scalars
 * and integer constants stay in the graph. Uses the maintained ONNX protobuf definition
 * (onnx-proto).
 */
import fs from 'node:fs';
import path from 'node:path';

import onnxProto from 'onnx-proto';

import { BadInputError } from '../errors.js';
import type { DType } from '../store/dtypes.js';
import { resolveInside } from '../store/paths.js';
import { SafetensorsWriter } from '../store/writer.js';
import { copyCarriedFiles, writeFileAtomic } from '../store/write-checkpoint.js';

const { onnx } = onnxProto;

/** ONNX TensorProto data types that become weights, and their safetensors dtype. */
const WEIGHT_TYPES: Record<number, DType> = { 1: 'F32', 10: 'F16', 16: 'BF16', 11: 'F64' };

export class OnnxPrepareError extends BadInputError {
  override readonly name = 'OnnxPrepareError';
}

export interface PrepareResult {
  graph: string;
  weights: string;
  moved: number;
  kept: number;
}

function tensorBytes(t: onnxProto.onnx.ITensorProto, modelDir: string, modelFile: string): Uint8Array {
  const name = t.name ?? '';
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const entries = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
    if (typeof entries.location !== 'string') throw new OnnxPrepareError(`${modelFile}: initializer '${name}' has external data without a location`);
    const file = resolveInside(modelDir, entries.location, modelFile);
    const offset = Number(entries.offset ?? 0);
    const fd = fs.openSync(file, 'r');
    try {
      const length = entries.length !== undefined ? Number(entries.length) : fs.fstatSync(fd).size - offset;
      const out = new Uint8Array(length);
      fs.readSync(fd, out, 0, length, offset);
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  switch (t.dataType) {
    case 1: return new Uint8Array(Float32Array.from(t.floatData ?? []).buffer);
    case 11: return new Uint8Array(Float64Array.from(t.doubleData ?? []).buffer);
    case 10:
    case 16: return new Uint8Array(Uint16Array.from(t.int32Data ?? []).buffer);  // 16-bit values are kept in int32_data
    default: throw new OnnxPrepareError(`${modelFile}: initializer '${name}' has no data`);
  }
}

export function prepareOnnx(modelFile: string, outDir: string): PrepareResult {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(fs.readFileSync(modelFile));
  } catch (err) {
    throw new OnnxPrepareError(`${modelFile}: not a readable ONNX model (${(err as Error).message})`);
  }
  const graph = model.graph;
  if (!graph) throw new OnnxPrepareError(`${modelFile}: the model has no graph`);
  const modelDir = path.dirname(path.resolve(modelFile));
  graph.input ??= [];
  const inputNames = new Set(graph.input.map((i) => i.name));
  const moved: { name: string; dtype: DType; dims: number[]; bytes: Uint8Array }[] = [];
  const kept: onnxProto.onnx.ITensorProto[] = [];
  for (const t of graph.initializer ?? []) {
    const dtype = WEIGHT_TYPES[t.dataType ?? 0];
    const dims = (t.dims ?? []).map(Number);
    if (dtype === undefined || dims.length === 0) {
      kept.push(t);
      continue;
    }
    const bytes = tensorBytes(t, modelDir, modelFile);
    const expected = dims.reduce((a, b) => a * b, 1) * (dtype === 'F64' ? 8 : dtype === 'F32' ? 4 : 2);
    if (bytes.length !== expected) throw new OnnxPrepareError(`${modelFile}: initializer '${t.name}' holds ${bytes.length} bytes, its ${dtype} ${JSON.stringify(dims)} needs ${expected}`);
    moved.push({ name: t.name!, dtype, dims, bytes });
  }
  if (moved.length === 0) throw new OnnxPrepareError(`${modelFile}: no floating-point initializer to turn into an input (its weights may already be inputs)`);
  graph.initializer = kept as onnxProto.onnx.TensorProto[];
  for (const m of moved) {
    if (inputNames.has(m.name)) continue;  // an initializer also listed as an input: it stays an input, now without a default
    graph.input!.push(onnx.ValueInfoProto.create({
      name: m.name,
      type: { tensorType: { elemType: Object.entries(WEIGHT_TYPES).find(([, d]) => d === m.dtype)!.map(Number)[0], shape: { dim: m.dims.map((d) => ({ dimValue: d })) } } },
    }));
  }
  fs.mkdirSync(outDir, { recursive: true });
  const graphOut = path.join(outDir, 'model.onnx');
  const weightsOut = path.join(outDir, 'model.safetensors');
  const writer = SafetensorsWriter.create(weightsOut, { tensors: moved.map((m) => ({ name: m.name, dtype: m.dtype, shape: m.dims })), metadata: { format: 'pt', source: path.basename(modelFile) } });
  try {
    for (const m of moved) writer.write(m.name, m.bytes);
    writer.commit();
  } catch (err) {
    writer.abort();
    throw err;
  }
  const encoded = onnx.ModelProto.encode(model).finish();
  writeFileAtomic(graphOut, encoded);
  copyCarriedFiles(modelDir, outDir);
  return { graph: graphOut, weights: weightsOut, moved: moved.length, kept: kept.length };
}
