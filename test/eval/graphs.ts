// Variants of the fixture graph built with the ONNX protobuf definition, for bad-input tests.
import fs from 'node:fs';
import path from 'node:path';

import onnxProto from 'onnx-proto';

import { openWeights } from '../../lib/store/checkpoint.js';
import { F32_BASE, FORTUNES } from '../helpers.js';

const { onnx } = onnxProto;
const load = () => onnx.ModelProto.decode(fs.readFileSync(path.join(FORTUNES, 'lm.onnx')));
const save = (m: onnxProto.onnx.ModelProto, file: string) => (fs.writeFileSync(file, onnx.ModelProto.encode(m).finish()), file);

/** An ordinary export: the base model's weights stored as initializers (optionally still listed as inputs). */
export function exportWithInitializers(file: string, keepAsInputs = false): string {
  const m = load();
  using base = openWeights(F32_BASE);
  const g = m.graph!;
  const weights = g.input!.filter((i) => i.name !== 'input_ids');
  g.initializer = weights.map((i) => onnx.TensorProto.create({ name: i.name, dataType: 1, dims: [...base.meta(i.name!).shape], rawData: Uint8Array.from(base.bytes(i.name!)) }));
  if (!keepAsInputs) g.input = g.input!.filter((i) => i.name === 'input_ids');
  return save(m, file);
}

/** The graph with its output replaced by the hidden states before the LM head ([batch, seq, 128]). */
export function graphWithHiddenOutput(file: string): string {
  const m = load();
  const g = m.graph!;
  const head = g.node!.find((n) => n.output!.includes('logits'))!;
  const hidden = head.input![0]!;
  g.output = [onnx.ValueInfoProto.create({ name: hidden, type: { tensorType: { elemType: 1 } } })];
  return save(m, file);
}

/** The graph with an extra attention_mask input (as many exports have); the graph itself ignores it. */
export function graphWithAttentionMask(file: string): string {
  const m = load();
  m.graph!.input!.push(onnx.ValueInfoProto.create({ name: 'attention_mask', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } } }));
  return save(m, file);
}
