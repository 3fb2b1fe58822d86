// Small ONNX graphs and weights for the RegMean statistics tests, built with the ONNX protobuf definition.
import fs from 'node:fs';
import path from 'node:path';

import onnxProto from 'onnx-proto';

import { SafetensorsWriter } from '../../lib/store/writer.js';

const { onnx } = onnxProto;

/** Sizes of the toy model: vocabulary, embedding, hidden, output. */
export const TOY = { vocab: 11, d: 6, h: 5, o: 4 } as const;

const f32 = (name: string, dims: (number | string)[]) =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
const node = (opType: string, input: string[], output: string[], attribute: onnxProto.onnx.IAttributeProto[] = []) => onnx.NodeProto.create({ opType, input, output, name: output[0], attribute });
const ints = (name: string, values: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
const int = (name: string, value: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });

/**
 * input_ids -> Gather(E) = x0 [1, seq, d]; x0b = 2 x0; hidden = relu(x0 W1 + x0b W1) (W1 [d, h]: in_out,
 * applied twice); r = reshape(hidden, [-1, h]); logits = Gemm(r, W2, transB=1) + b2 + hidden Transpose(W3)
 * (W2, W3 [o, h]: out_in). E feeds a Gather: not a linear layer.
 */
export function toyGraph(file: string): string {
  const { vocab, d, h, o } = TOY;
  const graph = onnx.GraphProto.create({
    name: 'toy',
    input: [
      onnx.ValueInfoProto.create({ name: 'input_ids', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } } }),
      f32('E', [vocab, d]), f32('W1', [d, h]), f32('W2', [o, h]), f32('b2', [o]), f32('W3', [o, h]),
    ],
    initializer: [
      onnx.TensorProto.create({ name: 'two', dataType: 1, dims: [], floatData: [2] }),
      onnx.TensorProto.create({ name: 'rows_h', dataType: 7, dims: [2], int64Data: [-1, h] }),
    ],
    node: [
      node('Gather', ['E', 'input_ids'], ['x0']),
      node('Mul', ['x0', 'two'], ['x0b']),
      node('MatMul', ['x0', 'W1'], ['h_a']),
      node('MatMul', ['x0b', 'W1'], ['h_b']),
      node('Add', ['h_a', 'h_b'], ['h_sum']),
      node('Relu', ['h_sum'], ['hidden']),
      node('Reshape', ['hidden', 'rows_h'], ['r']),
      node('Gemm', ['r', 'W2', 'b2'], ['g'], [int('transB', 1)]),
      node('Transpose', ['W3'], ['W3t'], [ints('perm', [1, 0])]),
      node('MatMul', ['hidden', 'W3t'], ['m']),
      node('Add', ['m', 'g'], ['logits']),
    ],
    output: [f32('logits', ['batch', 'seq', o])],
  });
  return save(graph, file);
}

/** input_ids -> Gather(E) -> logits: no linear layer. */
export function embeddingOnlyGraph(file: string): string {
  const graph = onnx.GraphProto.create({
    name: 'embedding',
    input: [onnx.ValueInfoProto.create({ name: 'input_ids', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } } }), f32('E', [TOY.vocab, TOY.d])],
    node: [node('Gather', ['E', 'input_ids'], ['logits'])],
    output: [f32('logits', ['batch', 'seq', TOY.d])],
  });
  return save(graph, file);
}

function save(graph: onnxProto.onnx.IGraphProto, file: string): string {
  const model = onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 14 }], graph });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

/** Deterministic values in [-1, 1) (a linear congruential generator). */
export function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** The toy model's weights (E, W1, W2, b2, W3), or the tensors given. */
export function toyWeights(file: string, tensors: Record<string, ToyTensor> = toyTensors()): string {
  const writer = SafetensorsWriter.create(file, { tensors: Object.entries(tensors).map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape })) });
  for (const [name, t] of Object.entries(tensors)) (writer.view(name) as Float32Array).set(t.data);
  writer.commit();
  return file;
}

export interface ToyTensor {
  shape: number[];
  data: Float32Array;
}

export function toyTensors(): Record<'E' | 'W1' | 'W2' | 'b2' | 'W3', ToyTensor> {
  const { vocab, d, h, o } = TOY;
  return {
    E: { shape: [vocab, d], data: values(vocab * d, 1) },
    W1: { shape: [d, h], data: values(d * h, 2) },
    W2: { shape: [o, h], data: values(o * h, 3) },
    b2: { shape: [o], data: values(o, 4) },
    W3: { shape: [o, h], data: values(o * h, 5) },
  };
}
