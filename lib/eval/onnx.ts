/**
 * Dev-set fitness with ONNX Runtime. The session is created once from a graph whose weights are
 * graph inputs; each evaluation feeds the member's tensors by name — float32 tensors as views of
 * the mapped files, bf16/f16 through reused float32 scratch buffers filled by the native
 * conversion kernel. Before the first run every graph input is checked against the weight set:
 * ONNX Runtime silently ignores unknown feed names and initializer overrides, so this check is
 * the only protection against evaluating the wrong weights.
 */
import type * as ort from 'onnxruntime-node';

import type { Evaluator, Fitness } from '../evolve/evaluator.js';
import { native } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';
import { type Example, readExamples } from './data.js';
import { GraphError, checkWeightInputs, graphInputs, openSession, tokenDefaults, tokenFeeds, weightFeeder } from './onnx-inputs.js';
import type { TextTokenizer } from './tokenizer.js';

export { GraphError } from './onnx-inputs.js';

export type MetricName = 'nll' | 'accuracy' | 'f1';

export interface OnnxEvaluatorOptions {
  graph: string;
  /** Dev sets; several combine into one fitness by their weights (default: equal, the mean). */
  data: (string | { file: string; weight?: number })[];
  metric?: MetricName;
  /** The graph input that takes token ids (default: the one int64 input). */
  inputName?: string;
  /** The graph output with the logits (default: the first output). */
  outputName?: string;
  batchSize?: number;
  intraOpThreads?: number;
  provider?: 'cpu' | 'cuda';
  /** Context length (default: n_positions / max_position_embeddings of config.json beside the graph, else 1024). */
  maxLength?: number;
  /**
   * The end token appended to a text (default: eos_token_id of that config.json, else, with a
   * tokenizer, its own end token (none when it names none), without one 0).
   */
  endToken?: number;
  /** The model's tokenizer.json (or a loaded one) for texts; absent: the byte-level protocol. */
  tokenizer?: string | TextTokenizer;
  textField?: string;
  labelField?: string;
}

export interface OnnxEvaluator extends Evaluator {
  /** Per data file: NLL (nats per predicted token), accuracy or macro-F1. */
  evaluateSets(weights: WeightSet, signal?: AbortSignal): Promise<Record<string, number>>;
  close(): Promise<void>;
  readonly metric: MetricName;
}

export async function createOnnxEvaluator(o: OnnxEvaluatorOptions): Promise<OnnxEvaluator> {
  const session = await openSession(o.graph, { ...(o.provider ? { provider: o.provider } : {}), ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}) });
  const metric = o.metric ?? 'nll';
  const { maxLength, endToken, tokenizer } = tokenDefaults(o.graph, o);
  const inputs = graphInputs(session, o.graph, o.inputName);
  const outputName = o.outputName ?? session.outputNames[0]!;
  const sets = o.data.map((d) => (typeof d === 'string' ? { file: d, weight: 1 } : { file: d.file, weight: d.weight ?? 1 }));
  const examples = new Map<string, Example[]>();
  for (const s of sets) {
    examples.set(s.file, readExamples(s.file, { maxLength, endToken, ...(tokenizer === undefined ? {} : { tokenizer }), needLabel: metric !== 'nll', ...(o.textField ? { textField: o.textField } : {}), ...(o.labelField ? { labelField: o.labelField } : {}) }));
  }
  let maxId = 0;
  for (const list of examples.values()) for (const e of list) for (const id of e.ids) if (id > maxId) maxId = id;
  const feeds = weightFeeder(inputs.weights);
  const batchSize = o.batchSize ?? 16;
  let checkedNames: string | undefined;

  function check(weights: WeightSet): void {
    const signature = weights.names().join('\n');
    if (signature === checkedNames) return;
    checkWeightInputs(o.graph, inputs.weights, weights);
    checkedNames = signature;
  }

  async function evaluateSets(weights: WeightSet, signal?: AbortSignal): Promise<Record<string, number>> {
    check(weights);
    const weightFeeds = await feeds(weights);
    const result: Record<string, number> = {};
    for (const s of sets) {
      const list = examples.get(s.file)!;
      let sum = 0, count = 0;
      const predicted: number[] = [];
      for (let at = 0; at < list.length; at += batchSize) {
        if (signal?.aborted) throw new Error('evaluation aborted');
        const batch = list.slice(at, at + batchSize);
        const seq = Math.max(...batch.map((e) => e.ids.length));
        const ids = new Int32Array(batch.length * seq);
        const lengths = new Int32Array(batch.length);
        batch.forEach((e, b) => {
          ids.set(e.ids, b * seq);  // right padding with 0: causal attention never looks ahead, and padded positions never count
          lengths[b] = e.ids.length;
        });
        let results: ort.InferenceSession.OnnxValueMapType;
        try {
          results = await session.run({ ...weightFeeds, ...tokenFeeds(inputs, ids, lengths, seq) });
        } catch (err) {
          throw new GraphError(`${o.graph}: ONNX Runtime failed on a batch of ${batch.length} x ${seq} tokens from ${s.file} (context length ${maxLength}; set max_length if the graph's is shorter): ${(err as Error).message.split('\n')[0]}`);
        }
        const output = results[outputName];
        if (output === undefined || output.type !== 'float32') throw new GraphError(`${o.graph}: output '${outputName}' is missing or not float32`);
        const logits = output.data as Float32Array;
        if (metric === 'nll') {
          if (output.dims.length !== 3 || output.dims[0] !== batch.length || output.dims[1] !== seq) {
            throw new GraphError(`${o.graph}: output '${outputName}' has shape ${JSON.stringify(output.dims)}, expected [batch ${batch.length}, seq ${seq}, vocab]`);
          }
          const vocab = Number(output.dims[2]);
          if (vocab <= maxId) {
            throw new GraphError(`${o.graph}: output '${outputName}' has shape ${JSON.stringify(output.dims)}: ${vocab} logits per position, but the data hold token id ${maxId}; it is not the logits of this vocabulary`);
          }
          const r = await native.nll({ logits, ids, lengths, vocab });
          sum += r.sum;
          count += r.count;
        } else {
          predicted.push(...classify(logits, output.dims, lengths, o.graph, outputName));
        }
      }
      if (metric === 'nll') {
        if (count === 0) throw new GraphError(`${s.file}: no predicted token (every sequence is shorter than 2 tokens)`);
        result[s.file] = sum / count;
      } else {
        const labels = list.map((e) => e.label!);
        result[s.file] = metric === 'accuracy' ? accuracy(predicted, labels) : macroF1(predicted, labels);
      }
    }
    return result;
  }

  const evaluator = (async (weights: WeightSet, { signal }: { signal: AbortSignal }): Promise<Fitness> => {
    const perSet = await evaluateSets(weights, signal);
    const total = sets.reduce((a, s) => a + s.weight, 0);
    const combined = sets.reduce((a, s) => a + s.weight * perSet[s.file]!, 0) / total;
    if (metric === 'nll') {
      // A loss: the fitness is its negation, and the metric names say so.
      const metrics = Object.fromEntries(sets.map((s) => [`nll:${s.file}`, perSet[s.file]!]));
      return { score: Number.isFinite(combined) ? -combined : -Infinity, metrics: { ...metrics, neg_mean_nll: -combined } };
    }
    return { score: Number.isFinite(combined) ? combined : -Infinity, metrics: Object.fromEntries(sets.map((s) => [`${metric}:${s.file}`, perSet[s.file]!])) };
  }) as OnnxEvaluator;
  Object.assign(evaluator, { evaluateSets, metric, close: () => session.release() });
  return evaluator;
}

/** argmax class per sequence: from [batch, classes] logits, or a causal LM's last real position. */
function classify(logits: Float32Array, dims: readonly number[], lengths: Int32Array, graph: string, output: string): number[] {
  const out: number[] = [];
  const batch = lengths.length;
  const classes = Number(dims[dims.length - 1]);
  for (let b = 0; b < batch; b++) {
    let offset: number;
    if (dims.length === 2) offset = b * classes;
    else if (dims.length === 3) offset = (b * Number(dims[1]) + (lengths[b]! - 1)) * classes;
    else throw new GraphError(`${graph}: output '${output}' has shape ${JSON.stringify(dims)}, expected [batch, classes] or [batch, seq, classes]`);
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[offset + c]! > logits[offset + best]!) best = c;
    out.push(best);
  }
  return out;
}

export function accuracy(predicted: readonly number[], labels: readonly number[]): number {
  return predicted.filter((p, i) => p === labels[i]).length / labels.length;
}

/** Macro-F1 over the classes that occur in the labels or the predictions. */
export function macroF1(predicted: readonly number[], labels: readonly number[]): number {
  const classes = [...new Set([...labels, ...predicted])];
  const f1s = classes.map((c) => {
    const tp = predicted.filter((p, i) => p === c && labels[i] === c).length;
    const fp = predicted.filter((p, i) => p === c && labels[i] !== c).length;
    const fn = predicted.filter((p, i) => p !== c && labels[i] === c).length;
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  });
  return f1s.reduce((a, b) => a + b, 0) / f1s.length;
}
