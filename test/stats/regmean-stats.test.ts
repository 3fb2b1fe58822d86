// RegMean statistics: the Grams of every linear layer's inputs, against plain TypeScript
// references (a toy graph built here; block 0 of the fortunes model), and every bad input.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import onnxProto from 'onnx-proto';

import { ExitCode } from '../../lib/cli/exit.js';
import { WeightFileError } from '../../lib/errors.js';
import { EvalDataError, readExamples } from '../../lib/eval/data.js';
import { GraphError } from '../../lib/eval/onnx-inputs.js';
import { findLinearLayers } from '../../lib/onnx/linear-layers.js';
import { native } from '../../lib/native.js';
import { accumulateGram } from '../../lib/stats/gram.js';
import { RegMeanStatsError, regmeanStats } from '../../lib/stats/regmean-stats.js';
import { SafetensorsFile } from '../../lib/store/safetensors.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { graphWithAttentionMask } from '../eval/graphs.js';
import { FORTUNES, ROOT, evolverCli, tempDir, writeTemp } from '../helpers.js';
import { TOY, embeddingOnlyGraph, toyGraph, toyTensors, toyWeights, values } from './graphs.js';

const { onnx } = onnxProto;

const evolver = evolverCli;

/** G += x xᵀ for one row, the textbook way (float64). */
function addOuter(g: Float64Array, row: ArrayLike<number>): void {
  const n = row.length;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i * n + j] = g[i * n + j]! + row[i]! * row[j]!;
}

/** max |a - b| ≤ tol · max |b|. */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  let scale = 0, worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(scale > 0, `${what}: the reference is all zeros`);
  assert.ok(worst <= tol * scale, `${what}: max difference ${worst} over ${tol} x ${scale}`);
}

function readGrams(file: string): { metadata: Record<string, string>; grams: Map<string, { shape: readonly number[]; data: Float32Array }> } {
  using f = SafetensorsFile.open(file);
  const grams = new Map(f.names().map((n) => [n, { shape: f.info(n).shape, data: Float32Array.from(f.view(n) as Float32Array) }]));
  return { metadata: { ...f.metadata }, grams };
}

describe('accumulateGram', () => {
  it('equals the sum of outer products for any shape (Eigen\'s blocked rank update), accumulating, in JS-heap or native memory', async () => {
    for (const [rows, cols] of [[1, 1], [3, 5], [4, 4], [9, 7], [17, 16], [300, 70]] as const) {
      const x = values(rows * cols, rows * 31 + cols);
      const g = cols % 2 === 0 ? new Float64Array(native.allocate(cols * cols * 8)) : new Float64Array(cols * cols);
      await accumulateGram(g, x, rows, cols);
      await accumulateGram(g, x.subarray(cols), rows - 1, cols);
      const ref = new Float64Array(cols * cols);
      for (let r = 0; r < rows; r++) addOuter(ref, x.subarray(r * cols, (r + 1) * cols));
      for (let r = 1; r < rows; r++) addOuter(ref, x.subarray(r * cols, (r + 1) * cols));
      assertClose(g, ref, 1e-12, `${rows} x ${cols}`);
    }
  });
});

describe('findLinearLayers: the rule', () => {
  const input = (name: string, dims: number[], elemType = 1) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const node = (opType: string, inputs: string[], output: string, attribute: onnxProto.onnx.IAttributeProto[] = []) => onnx.NodeProto.create({ opType, input: inputs, output: [output], attribute });
  const layers = (nodes: onnxProto.onnx.INodeProto[], extra: onnxProto.onnx.IValueInfoProto[] = []) =>
    findLinearLayers({ input: [input('x', [1, 2, 4]), input('W', [4, 4]), ...extra], node: nodes, output: [input('y', [2, 4])] }).map((l) => `${l.weight}:${l.layout}:${l.inputs.join('+')}`);
  const transB = (v: number) => onnx.AttributeProto.create({ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: v });
  const perm = (p: number[]) => onnx.AttributeProto.create({ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: p });

  it('MatMul as B: in_out; as A: not linear', () => {
    assert.deepEqual(layers([node('MatMul', ['x', 'W'], 'y')]), ['W:in_out:x']);
    assert.deepEqual(layers([node('MatMul', ['W', 'x'], 'y')]), []);
  });
  it('Gemm as B: transB=1 out_in, else in_out; Gemm as C (a bias): not linear', () => {
    assert.deepEqual(layers([node('Gemm', ['x', 'W'], 'y', [transB(1)])]), ['W:out_in:x']);
    assert.deepEqual(layers([node('Gemm', ['x', 'W'], 'y')]), ['W:in_out:x']);
    assert.deepEqual(layers([node('Gemm', ['x', 'V', 'W'], 'y')], [input('V', [4, 4])]), ['V:in_out:x']);
  });
  it('Transpose [1, 0] (or no perm) then MatMul as B: out_in; the transpose used otherwise: not linear', () => {
    assert.deepEqual(layers([node('Transpose', ['W'], 't', [perm([1, 0])]), node('MatMul', ['x', 't'], 'y')]), ['W:out_in:x']);
    assert.deepEqual(layers([node('Transpose', ['W'], 't'), node('MatMul', ['x', 't'], 'y')]), ['W:out_in:x']);
    assert.deepEqual(layers([node('Transpose', ['W'], 't', [perm([1, 0])]), node('MatMul', ['x', 't'], 'y'), node('Relu', ['t'], 'z')]), []);
    assert.deepEqual(layers([node('Transpose', ['W'], 't', [perm([1, 0])]), node('MatMul', ['t', 'x'], 'y')]), []);
  });
  it('several MatMuls: the sum of their inputs; any other consumer (a tied embedding) or a 1-D / integer input: not linear', () => {
    assert.deepEqual(layers([node('MatMul', ['x', 'W'], 'a'), node('MatMul', ['a', 'W'], 'y')]), ['W:in_out:x+a']);
    assert.deepEqual(layers([node('Gather', ['W', 'i'], 'e'), node('Transpose', ['W'], 't'), node('MatMul', ['e', 't'], 'y')], [input('i', [2], 7)]), []);
    assert.deepEqual(layers([node('MatMul', ['x', 'b'], 'y')], [input('b', [4])]), []);
    assert.deepEqual(layers([node('MatMul', ['x', 'k'], 'y')], [input('k', [4, 4], 7)]), []);
  });
});

describe('RegMean statistics on a toy graph (TypeScript reference)', () => {
  const dir = tempDir('evolver-regmean-');
  const graph = toyGraph(path.join(dir, 'toy', 'toy.onnx'));
  const model = toyWeights(path.join(dir, 'toy.safetensors'));
  const lines = [[1, 2, 3], [10, 0, 5, 5, 7], [4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]];
  const data = writeTemp(dir, 'toy.jsonl', lines.map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
  const data2 = writeTemp(dir, 'toy2.jsonl', `${JSON.stringify({ input_ids: [6, 6, 2] })}\n${JSON.stringify({ input_ids: [3] })}\n`);

  it('finds W1 (MatMul, in_out, applied twice), W2 (Gemm transB=1, out_in), W3 (Transpose + MatMul, out_in); not E (Gather) nor b2', () => {
    const layers = findLinearLayers(onnx.ModelProto.decode(fs.readFileSync(graph)).graph!);
    assert.deepEqual(layers, [
      { weight: 'W1', layout: 'in_out', inputs: ['x0', 'x0b'] },
      { weight: 'W2', layout: 'out_in', inputs: ['r'] },
      { weight: 'W3', layout: 'out_in', inputs: ['hidden'] },
    ]);
  });

  it('Grams of E[ids] rows (twice: x0 and 2 x0) and of relu(3 E[ids] W1) rows, summed over two data files, within 1e-5', async () => {
    const out = path.join(dir, 'grams.safetensors');
    const r = await regmeanStats({ model, graph, data: [data, data2], out });
    const { d, h } = TOY;
    const t = toyTensors();
    const ref = { W1: new Float64Array(d * d), W2: new Float64Array(h * h), W3: new Float64Array(h * h) };
    let tokens = 0;
    for (const ids of [...lines, [6, 6, 2], [3]]) {
      for (const id of ids) {
        tokens++;
        const x0 = Array.from(t.E.data.subarray(id * d, (id + 1) * d));
        addOuter(ref.W1, x0);
        addOuter(ref.W1, x0.map((v) => 2 * v));
        const hidden = Array.from({ length: h }, (_, k) => Math.max(0, 3 * x0.reduce((s, v, i) => s + v * t.W1.data[i * h + k]!, 0)));
        addOuter(ref.W2, hidden);
        addOuter(ref.W3, hidden);
      }
    }
    assert.deepEqual(r.layers, [
      { weight: 'W1', layout: 'in_out', in: d, rows: 2 * tokens },
      { weight: 'W2', layout: 'out_in', in: h, rows: tokens },
      { weight: 'W3', layout: 'out_in', in: h, rows: tokens },
    ]);
    assert.equal(r.examples, 6);
    const { metadata, grams } = readGrams(out);
    assert.deepEqual([...grams.keys()].sort(), ['W1', 'W2', 'W3']);
    for (const [name, g] of Object.entries(ref)) {
      const n = Math.sqrt(g.length);
      assert.deepEqual(grams.get(name)!.shape, [n, n]);
      assertClose(grams.get(name)!.data, g, 1e-5, name);
    }
    assert.deepEqual(metadata, {
      evolver_stats: 'regmean/1',
      layouts: JSON.stringify({ W1: 'in_out', W2: 'out_in', W3: 'out_in' }),
      rows: JSON.stringify({ W1: 2 * tokens, W2: tokens, W3: tokens }),
      examples: '6',
      data: JSON.stringify(['toy.jsonl', 'toy2.jsonl']),
      model: 'toy.safetensors',
      graph: 'toy.onnx',
    });
  });

  it('--max-examples takes the first N examples of each file; the CLI lists the layers', () => {
    const out = path.join(dir, 'cli.safetensors');
    const r = evolver('stats', 'regmean', '--model', model, '--graph', graph, '--data', data, data2, '--max-examples', '1', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^3 linear layers, 2 examples\n/);
    assert.match(r.stdout, /W1 +in_out +\[6, 6\] +12 rows/);
    assert.match(r.stdout, /W3 +out_in +\[5, 5\] +6 rows/);
    assert.equal(readGrams(out).metadata.examples, '2');
  });
});

describe('RegMean statistics on the fortunes model', function () {
  this.timeout(60_000);
  const dir = tempDir('evolver-regmean-');
  const graph = path.join(FORTUNES, 'lm.onnx');
  const model = path.join(FORTUNES, 'models', 'computers.safetensors');
  const data = path.join(FORTUNES, 'data', 'computers', 'dev.jsonl');
  const out = path.join(dir, 'grams.safetensors');
  const maxExamples = 3;
  let grams: Map<string, { shape: readonly number[]; data: Float32Array }>;
  let metadata: Record<string, string>;

  before(async () => {
    await regmeanStats({ model, graph, data: [data], out, maxExamples });
    ({ grams, metadata } = readGrams(out));
  });

  it('finds the four Conv1D layers of each block (in_out), not wte (a Gather and the tied head) nor wpe', () => {
    const expected = [0, 1, 2, 3].flatMap((b) => ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((l) => `transformer.h.${b}.${l}.weight`));
    assert.deepEqual([...grams.keys()].sort(), expected.sort());
    assert.deepEqual(JSON.parse(metadata.layouts!), Object.fromEntries(expected.map((n) => [n, 'in_out'])));
    for (const [name, g] of grams) assert.deepEqual(g.shape, name.endsWith('mlp.c_proj.weight') ? [512, 512] : [128, 128], name);
  });

  it('Grams are symmetric and positive semi-definite (xᵀ G x ≥ 0 for random x)', () => {
    for (const [name, { shape, data: g }] of grams) {
      const n = shape[0]!;
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.equal(g[i * n + j], g[j * n + i], `${name} [${i}, ${j}]`);
      for (let seed = 1; seed <= 3; seed++) {
        const x = values(n, seed * 7919);
        let q = 0, scale = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
          q += x[i]! * g[i * n + j]! * x[j]!;
          scale += Math.abs(x[i]! * g[i * n + j]! * x[j]!);
        }
        assert.ok(q >= -1e-5 * scale, `${name}: xᵀ G x = ${q}`);
      }
    }
  });

  it('the diagonal of block 0 c_attn is the column sums of squares of ln_1(wte[ids] + wpe[pos]), computed here', () => {
    const examples = readExamples(data, { maxLength: 128, endToken: 256 }).slice(0, maxExamples);
    using w = openWeights(model);
    const wte = w.view('transformer.wte.weight') as Float32Array, wpe = w.view('transformer.wpe.weight') as Float32Array;
    const gamma = w.view('transformer.h.0.ln_1.weight') as Float32Array, beta = w.view('transformer.h.0.ln_1.bias') as Float32Array;
    const n = 128;
    const diag = new Float64Array(n);
    let rows = 0;
    for (const e of examples) {
      e.ids.forEach((id, pos) => {
        const x = Array.from({ length: n }, (_, k) => wte[id * n + k]! + wpe[pos * n + k]!);
        const mean = x.reduce((a, b) => a + b, 0) / n;
        const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
        for (let k = 0; k < n; k++) diag[k] = diag[k]! + (((x[k]! - mean) / Math.sqrt(variance + 1e-5)) * gamma[k]! + beta[k]!) ** 2;
        rows++;
      });
    }
    const g = grams.get('transformer.h.0.attn.c_attn.weight')!.data;
    assertClose(Array.from({ length: n }, (_, k) => g[k * n + k]!), diag, 1e-5, 'diagonal');
    assert.equal(JSON.parse(metadata.rows!)['transformer.h.0.attn.c_attn.weight'], rows);
    assert.equal(metadata.examples, String(maxExamples));
  });
  it('a bf16 checkpoint is fed through float32 conversion: the same layers and rows, Grams near the f32 ones', async () => {
    const out2 = path.join(dir, 'bf16.safetensors');
    await regmeanStats({ model: path.join(FORTUNES, 'models-bf16', 'computers.safetensors'), graph, data: [data], out: out2, maxExamples });
    const r = readGrams(out2);
    assert.equal(r.metadata.rows, metadata.rows);
    for (const [name, g] of grams) assertClose(r.grams.get(name)!.data, g.data, 5e-2, name);
  });

  it('feeds attention_mask (all ones) when the graph takes one: the same Grams', async () => {
    fs.copyFileSync(path.join(FORTUNES, 'config.json'), path.join(dir, 'config.json'));  // the context length
    const masked = graphWithAttentionMask(path.join(dir, 'masked.onnx'));
    const out2 = path.join(dir, 'masked.safetensors');
    await regmeanStats({ model, graph: masked, data: [data], out: out2, maxExamples });
    const other = readGrams(out2).grams;
    for (const [name, g] of grams) assert.deepEqual(other.get(name)!.data, g.data, name);
  });
});

describe('RegMean statistics: bad input (library and CLI, exit 2; an existing output exit 73)', () => {
  const dir = tempDir('evolver-regmean-');
  const graph = toyGraph(path.join(dir, 'toy.onnx'));
  const model = toyWeights(path.join(dir, 'toy.safetensors'));
  const data = writeTemp(dir, 'toy.jsonl', `${JSON.stringify({ input_ids: [1, 2, 3] })}\n`);
  let k = 0;
  const out = () => path.join(dir, `out-${k++}.safetensors`);

  async function rejects(o: Partial<Parameters<typeof regmeanStats>[0]>, type: new (...a: never[]) => Error, message: RegExp, code: number = ExitCode.BadInput): Promise<void> {
    const full = { model, graph, data: [data], out: out(), ...o };
    await assert.rejects(regmeanStats(full), (err: Error) => err instanceof type && message.test(err.message));
    const r = evolver('stats', 'regmean', '--model', full.model, '--graph', full.graph, '--data', ...full.data, '--out', full.out);
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(!fs.existsSync(full.out) || o.out !== undefined, 'no output is written');
  }

  it('a graph without a linear layer', async () => {
    const g = embeddingOnlyGraph(path.join(dir, 'embedding.onnx'));
    const m = toyWeights(path.join(dir, 'embedding.safetensors'), { E: toyTensors().E });
    await rejects({ graph: g, model: m }, RegMeanStatsError, /embedding\.onnx: no linear layer found/);
  });

  it('model tensors that do not match the graph inputs: missing, extra, misshapen', async () => {
    const t = toyTensors();
    const { W3: _, ...noW3 } = t;
    await rejects({ model: toyWeights(path.join(dir, 'no-w3.safetensors'), noW3) }, GraphError, /graph input 'W3' has no tensor in .*no-w3\.safetensors/);
    await rejects({ model: toyWeights(path.join(dir, 'extra.safetensors'), { ...t, X: t.b2 }) }, GraphError, /extra\.safetensors: tensor 'X' is not an input of/);
    await rejects({ model: toyWeights(path.join(dir, 'shape.safetensors'), { ...t, W1: { shape: [TOY.h, TOY.d], data: t.W1.data } }) }, GraphError, /graph input 'W1' has shape \[6,5\] but .*shape\.safetensors holds \[5,6\]/);
  });

  it('a data file that is missing, empty, or has a bad line', async () => {
    await rejects({ data: [path.join(dir, 'nope.jsonl')] }, EvalDataError, /nope\.jsonl: cannot read \(ENOENT\)/);
    await rejects({ data: [writeTemp(dir, 'empty.jsonl', '')] }, EvalDataError, /empty\.jsonl: is empty/);
    await rejects({ data: [writeTemp(dir, 'bad.jsonl', '{"input_ids": [1]}\n{oops\n')] }, EvalDataError, /bad\.jsonl: line 2 is not JSON/);
  });

  it('NaN in a layer input names the layer and the data file', async () => {
    const t = toyTensors();
    t.E.data[2 * TOY.d + 1] = NaN;  // token 2
    await rejects({ model: toyWeights(path.join(dir, 'nan.safetensors'), t) }, RegMeanStatsError, /toy\.jsonl: example 1 gives NaN in the input 'x0' of linear layer 'W1'/);
  });

  it('an output folder that does not exist; an existing output (OUTPUT_EXISTS, exit 73)', async () => {
    await rejects({ out: path.join(dir, 'missing', 'grams.safetensors') }, RegMeanStatsError, /the folder .*missing does not exist/);
    const existing = writeTemp(dir, 'existing.safetensors', 'x');
    await rejects({ out: existing }, WeightFileError, /\[?OUTPUT_EXISTS|existing\.safetensors: already exists/, ExitCode.OutputExists);
    assert.equal(fs.readFileSync(existing, 'utf8'), 'x');
  });
});
