/**
 * RegMean statistics (Jin et al. 2023, "Dataless knowledge fusion by merging weights of language
 * models"): for every linear layer y = x W of a model, the Gram matrix G = Xᵀ X of the layer's
 * inputs over the model's own data. RegMean merges each linear weight in closed form,
 * W* = (Σᵢ Gᵢ)⁻¹ Σᵢ Gᵢ Wᵢ, from these files (`merge_method: regmean`).
 *
 * One forward pass per example (batch size 1, so no padding rows; attention_mask all ones) with
 * ONNX Runtime on a copy of the graph that also outputs each linear layer's input x
 * (lib/onnx/linear-layers.ts says which weights are linear layers). Every position of x is a row
 * ([..., in] is read as [rows, in]); the Grams are summed in float64 and written as float32
 * [in, in] tensors named like the weights, with the layouts and row counts in the metadata.
 */
import fs from 'node:fs';
import path from 'node:path';

import onnxProto from 'onnx-proto';

import { REGMEAN_STATS_FORMAT } from '../merge/regmean.js';
import { BadInputError, WeightFileError } from '../errors.js';
import { type Example, readExamples } from '../eval/data.js';
import { GraphError, checkWeightInputs, graphInputs, openSession, tokenDefaults, tokenFeeds, weightFeeder } from '../eval/onnx-inputs.js';
import type { TextTokenizer } from '../eval/tokenizer.js';
import { exposeTensors, findLinearLayers, type LinearLayout } from '../onnx/linear-layers.js';
import { native } from '../native.js';
import { openWeights } from '../store/checkpoint.js';
import { SafetensorsWriter } from '../store/writer.js';
import { accumulateGram } from './gram.js';

const { onnx } = onnxProto;

export class RegMeanStatsError extends BadInputError {
  override readonly name = 'RegMeanStatsError';
}

export interface RegMeanStatsOptions {
  /** The checkpoint (a .safetensors file or a model folder; f32, f16 or bf16). */
  model: string;
  /** ONNX graph taking the weights as inputs (as for `evolver eval`). */
  graph: string;
  /** JSONL data files (`{"text"}` or `{"input_ids"}` lines, as for the evaluator). */
  data: readonly string[];
  /** The safetensors file to write (must not exist; its folder must). */
  out: string;
  /** Use at most this many examples of each data file (default: all). */
  maxExamples?: number;
  /** The model's tokenizer.json (or a loaded one) for texts; absent: the byte-level protocol. */
  tokenizer?: string | TextTokenizer;
  textField?: string;
  /** The graph input that takes token ids (default: the one integer input). */
  inputName?: string;
  /** Context length (default: config.json beside the graph, as the evaluator). */
  maxLength?: number;
  intraOpThreads?: number;
}

export interface RegMeanLayerStats {
  weight: string;
  layout: LinearLayout;
  /** The input dimension: the Gram is [in, in]. */
  in: number;
  /** Rows of x summed into the Gram (positions × the nodes applying the weight). */
  rows: number;
}

export interface RegMeanStatsResult {
  out: string;
  layers: RegMeanLayerStats[];
  /** Examples run, all data files together. */
  examples: number;
}

export async function regmeanStats(o: RegMeanStatsOptions): Promise<RegMeanStatsResult> {
  checkOutput(o.out);
  if (o.data.length === 0) throw new RegMeanStatsError('no data file given: RegMean statistics need examples of the model\'s data');
  if (o.maxExamples !== undefined && (!Number.isInteger(o.maxExamples) || o.maxExamples < 1)) throw new RegMeanStatsError(`maxExamples must be a positive integer, got ${o.maxExamples}`);
  if (!fs.existsSync(o.graph)) throw new GraphError(`${o.graph}: no such graph file`);
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(fs.readFileSync(o.graph));
  } catch (err) {
    throw new GraphError(`${o.graph}: not a readable ONNX model (${(err as Error).message})`);
  }
  if (!model.graph) throw new GraphError(`${o.graph}: the model has no graph`);
  const found = findLinearLayers(model.graph);
  if (found.length === 0) {
    throw new RegMeanStatsError(`${o.graph}: no linear layer found (a 2-D float weight input used only as input B of MatMul or Gemm, or through a [1, 0] Transpose by MatMul); RegMean needs at least one`);
  }
  const exposed = [...new Set(found.flatMap((l) => l.inputs))];
  const session = await openSession(o.graph, o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}, exposeTensors(model, exposed));
  try {
    using weights = openWeights(o.model);
    const inputs = graphInputs(session, o.graph, o.inputName);
    checkWeightInputs(o.graph, inputs.weights, weights);
    // Layers whose weight is fed from the checkpoint as a 2-D tensor (a graph without shapes may declare others).
    const layers = found.filter((l) => inputs.weights.some((m) => m.name === l.weight) && weights.meta(l.weight).shape.length === 2);
    if (layers.length === 0) throw new RegMeanStatsError(`${o.graph}: no linear layer whose weight is a 2-D tensor of ${weights.path}`);
    const stats = layers.map((l) => {
      const shape = weights.meta(l.weight).shape;
      const cols = l.layout === 'in_out' ? shape[0]! : shape[1]!;
      return { ...l, in: cols, rows: 0, gram: new Float64Array(cols * cols) };
    });
    const byInput = new Map<string, typeof stats>();
    for (const s of stats) for (const x of s.inputs) byInput.set(x, [...(byInput.get(x) ?? []), s]);
    // One Gram per layer input, however many weights read it (attention's q, k and v share theirs),
    // in native memory the kernel updates in place; each weight's Gram is the sum of its inputs'.
    const inputGrams = new Map([...byInput].map(([name, users]) => [name, { gram: new Float64Array(native.allocate(users[0]!.in * users[0]!.in * 8)), rows: 0 }]));
    const fetches = [...byInput.keys()];

    const { maxLength, endToken, tokenizer } = tokenDefaults(o.graph, { ...o, ...(o.maxLength === undefined ? {} : { maxLength: o.maxLength }) });
    const sets: { file: string; examples: Example[] }[] = o.data.map((file) => {
      const all = readExamples(file, { maxLength, endToken, ...(tokenizer === undefined ? {} : { tokenizer }), ...(o.textField ? { textField: o.textField } : {}) });
      return { file, examples: o.maxExamples === undefined ? all : all.slice(0, o.maxExamples) };
    });

    const weightFeeds = await weightFeeder(inputs.weights)(weights);
    let examples = 0;
    for (const set of sets) {
      for (const [k, e] of set.examples.entries()) {
        const seq = e.ids.length;
        if (seq === 0) continue;
        let results: Awaited<ReturnType<typeof session.run>>;
        try {
          results = await session.run({ ...weightFeeds, ...tokenFeeds(inputs, e.ids, Int32Array.of(seq), seq) }, fetches);
        } catch (err) {
          throw new GraphError(`${o.graph}: ONNX Runtime failed on example ${k + 1} of ${set.file} (${seq} tokens, context length ${maxLength}): ${(err as Error).message.split('\n')[0]}`);
        }
        for (const [name, users] of byInput) {
          const t = results[name];
          if (t === undefined || t.type !== 'float32') throw new GraphError(`${o.graph}: the input '${name}' of linear layer '${users[0]!.weight}' is ${t === undefined ? 'missing from the run' : t.type}; only float32 layer inputs are supported`);
          const x = t.data as Float32Array;
          const cols = users[0]!.in;
          for (const s of users) {
            if (t.dims.length === 0 || t.dims[t.dims.length - 1] !== s.in) throw new GraphError(`${o.graph}: the input '${name}' of linear layer '${s.weight}' has shape ${JSON.stringify(t.dims)}, expected [..., ${s.in}]`);
          }
          const acc = inputGrams.get(name)!;
          try {
            await accumulateGram(acc.gram, x, x.length / cols, cols);  // refuses a non-finite x (ENONFINITE), the Gram untouched
          } catch (err) {
            if ((err as { code?: string }).code !== 'ENONFINITE') throw err;
            const at = firstNonFinite(x);
            throw new RegMeanStatsError(`${set.file}: example ${k + 1} gives ${x[at]} in the input '${name}' of linear layer '${users[0]!.weight}' (row ${Math.floor(at / cols)}, column ${at % cols}); the Gram would not be finite — check the weights of ${weights.path}`);
          }
          acc.rows += x.length / cols;
        }
        examples++;
      }
    }
    if (examples === 0) throw new RegMeanStatsError(`${o.data.join(', ')}: no example with at least one token`);
    for (const s of stats) {
      for (const x of s.inputs) {
        const acc = inputGrams.get(x)!;
        for (let i = 0; i < s.gram.length; i++) s.gram[i] = s.gram[i]! + acc.gram[i]!;
        s.rows += acc.rows;
      }
    }

    checkOutput(o.out);
    const metadata: Record<string, string> = {
      evolver_stats: REGMEAN_STATS_FORMAT,
      layouts: JSON.stringify(Object.fromEntries(stats.map((s) => [s.weight, s.layout]))),
      rows: JSON.stringify(Object.fromEntries(stats.map((s) => [s.weight, s.rows]))),
      examples: String(examples),
      data: JSON.stringify(o.data.map((f) => path.basename(f))),
      model: path.basename(o.model),
      graph: path.basename(o.graph),
    };
    const writer = SafetensorsWriter.create(o.out, { tensors: stats.map((s) => ({ name: s.weight, dtype: 'F32', shape: [s.in, s.in] })), metadata });
    try {
      for (const s of stats) (writer.view(s.weight) as Float32Array).set(s.gram);
      writer.commit();
    } catch (err) {
      writer.abort();
      throw err;
    }
    return { out: o.out, layers: stats.map((s) => ({ weight: s.weight, layout: s.layout, in: s.in, rows: s.rows })), examples };
  } finally {
    await session.release();
  }
}

/** Refuses an existing output (OUTPUT_EXISTS) and a folder that is not there. */
function checkOutput(out: string): void {
  if (fs.existsSync(out)) throw new WeightFileError('OUTPUT_EXISTS', out, 'already exists; choose another file or remove it');
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new RegMeanStatsError(`${out}: the folder ${dir} does not exist`);
}

/** Where the native check found a non-finite value (only on that error path: it is a loop in JS). */
function firstNonFinite(x: Float32Array): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return i;
  return -1;
}
