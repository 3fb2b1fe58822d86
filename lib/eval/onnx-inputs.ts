/**
 * What every ONNX Runtime pass over a graph whose weights are graph inputs shares (the evaluator
 * in onnx.ts, the RegMean statistics in lib/stats): the session, the split of the graph's inputs
 * into token ids / auxiliary integer inputs / weights, the check of those weight inputs against a
 * weight set, the feeds (f32 tensors as views of the mapped files, bf16/f16 through reused
 * float32 scratch buffers) and the data defaults read from config.json beside the graph.
 */
import fs from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-node';

import { BadInputError } from '../errors.js';
import { convert, scratchF32 } from '../kernels/index.js';
import type { WeightSet } from '../store/checkpoint.js';
import { configTokenId, loadTokenizer, type TextTokenizer } from './tokenizer.js';

export class GraphError extends BadInputError {
  override readonly name = 'GraphError';
}

/** attention_mask (1 for real tokens, 0 for padding), position_ids (0..L-1) and token_type_ids (0), from the lengths. */
export const AUXILIARY_INPUTS = new Map<string, (lengths: Int32Array, seq: number) => Int32Array>([
  ['attention_mask', (lengths, seq) => Int32Array.from({ length: lengths.length * seq }, (_, i) => (i % seq < lengths[Math.floor(i / seq)]! ? 1 : 0))],
  ['position_ids', (lengths, seq) => Int32Array.from({ length: lengths.length * seq }, (_, i) => i % seq)],
  ['token_type_ids', (lengths, seq) => new Int32Array(lengths.length * seq)],
]);

export type TensorInput = ort.InferenceSession.ValueMetadata & { type: string; shape: (number | string)[] };

export interface GraphInputs {
  /** The input that takes token ids, and its type (int64 or int32). */
  ids: string;
  idsType: string;
  /** attention_mask / position_ids / token_type_ids inputs the graph has. */
  auxiliary: TensorInput[];
  /** Every other input: the weights. */
  weights: TensorInput[];
}

export interface SessionOptions {
  provider?: 'cpu' | 'cuda';
  intraOpThreads?: number;
}

/** An ONNX Runtime session for a graph file (or its bytes, named by `graph` in errors). */
export async function openSession(graph: string, o: SessionOptions = {}, bytes?: Uint8Array): Promise<ort.InferenceSession> {
  if (bytes === undefined && !fs.existsSync(graph)) throw new GraphError(`${graph}: no such graph file`);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [o.provider ?? 'cpu'],
    ...(o.intraOpThreads ? { intraOpNumThreads: o.intraOpThreads } : {}),
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  try {
    return bytes === undefined ? await ort.InferenceSession.create(graph, options) : await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    throw new GraphError(`${graph}: ONNX Runtime cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
}

/** Splits a session's inputs into token ids, auxiliary integer inputs and weights. */
export function graphInputs(session: ort.InferenceSession, graph: string, inputName?: string): GraphInputs {
  const inputs = session.inputMetadata.filter((m) => m.isTensor) as TensorInput[];
  const ids = inputName ?? inputs.find((m) => m.type === 'int64' || m.type === 'int32')?.name;
  if (ids === undefined || !session.inputNames.includes(ids)) throw new GraphError(`${graph}: no token-id input (int64) found; name it with inputName`);
  const idsType = inputs.find((m) => m.name === ids)!.type;
  // Integer inputs that exports commonly add beside the token ids, fed from the batch.
  const auxiliary = inputs.filter((m) => m.name !== ids && (m.type === 'int64' || m.type === 'int32') && AUXILIARY_INPUTS.has(m.name));
  const weights = inputs.filter((m) => m.name !== ids && !auxiliary.includes(m));
  if (weights.length === 0) {
    throw new GraphError(`${graph}: the graph takes no weights as inputs (its weights are initializers, which ONNX Runtime would not let us replace); convert it with \`evolver onnx prepare ${graph} OUT_DIR\``);
  }
  return { ids, idsType, auxiliary, weights };
}

/** Graph inputs vs weights: every weight input present with its shape, no weight left unused. */
export function checkWeightInputs(graph: string, weightInputs: readonly TensorInput[], weights: WeightSet): void {
  const wanted = new Set(weightInputs.map((m) => m.name));
  for (const m of weightInputs) {
    if (!weights.has(m.name)) throw new GraphError(`${graph}: graph input '${m.name}' has no tensor in ${weights.path}`);
    if (m.type !== 'float32') throw new GraphError(`${graph}: graph input '${m.name}' is ${m.type}; weights are fed as float32`);
    const shape = weights.meta(m.name).shape;
    const ok = m.shape.length === shape.length && m.shape.every((d, i) => typeof d !== 'number' || d === shape[i]);
    if (!ok) throw new GraphError(`${graph}: graph input '${m.name}' has shape ${JSON.stringify(m.shape)} but ${weights.path} holds ${JSON.stringify(shape)}`);
    const dtype = weights.meta(m.name).dtype;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new GraphError(`${weights.path}: tensor '${m.name}' is ${dtype}; the graph needs float32`);
  }
  for (const name of weights.names()) {
    if (!wanted.has(name)) throw new GraphError(`${weights.path}: tensor '${name}' is not an input of ${graph} (ONNX Runtime would silently ignore it, evaluating other weights than these)`);
  }
}

/**
 * Feeds for the weight inputs: f32 tensors as views of the mapped file (zero copy), bf16/f16
 * converted by the native kernel into float32 scratch buffers that this feeder keeps and reuses.
 */
export function weightFeeder(weightInputs: readonly TensorInput[]): (weights: WeightSet) => Promise<Record<string, ort.Tensor>> {
  const scratch = new Map<string, Float32Array>();
  return async (weights) => {
    const out: Record<string, ort.Tensor> = {};
    for (const m of weightInputs) {
      const meta = weights.meta(m.name);
      let data: Float32Array;
      if (meta.dtype === 'F32') {
        data = weights.view(m.name) as Float32Array;  // zero copy: the mapped file
      } else {
        data = scratch.get(m.name) ?? scratchF32(meta.elements);
        scratch.set(m.name, data);
        await convert({ src: weights.view(m.name), inDtype: meta.dtype as 'F16' | 'BF16', out: data, outDtype: 'F32' });
      }
      out[m.name] = new ort.Tensor('float32', data, [...meta.shape]);
    }
    return out;
  };
}

/** Token ids or an auxiliary input as the graph's integer type, [batch, seq]. */
export function intTensor(type: string, values: Int32Array, batch: number, seq: number): ort.Tensor {
  return type === 'int32' ? new ort.Tensor('int32', values, [batch, seq]) : new ort.Tensor('int64', BigInt64Array.from(values, (x) => BigInt(x)), [batch, seq]);
}

/** The token-id input, auxiliary inputs filled for sequences of `lengths` right-padded to `seq`. */
export function tokenFeeds(inputs: GraphInputs, ids: Int32Array, lengths: Int32Array, seq: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const a of inputs.auxiliary) out[a.name] = intTensor(a.type, AUXILIARY_INPUTS.get(a.name)!(lengths, seq), lengths.length, seq);
  out[inputs.ids] = intTensor(inputs.idsType, ids, lengths.length, seq);
  return out;
}

/** config.json beside the graph, or {} when there is none (or it does not parse). */
export function modelConfig(graph: string): Record<string, unknown> {
  const file = path.join(path.dirname(graph), 'config.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export interface TokenDefaults {
  maxLength: number;
  endToken: number | undefined;
  tokenizer: TextTokenizer | undefined;
}

/**
 * Context length (n_positions / max_position_embeddings of config.json beside the graph, else
 * 1024), end token (eos_token_id of that config.json, else, with a tokenizer, its own end token,
 * without one 0) and the loaded tokenizer, unless given.
 */
export function tokenDefaults(graph: string, o: { maxLength?: number; endToken?: number; tokenizer?: string | TextTokenizer }): TokenDefaults {
  const cfg = modelConfig(graph);
  const maxLength = o.maxLength ?? Number(cfg.n_positions ?? cfg.max_position_embeddings ?? 1024);
  const tokenizer = typeof o.tokenizer === 'string' ? loadTokenizer(o.tokenizer) : o.tokenizer;
  const endToken = o.endToken ?? (tokenizer === undefined ? Number(cfg.eos_token_id ?? 0) : configTokenId(cfg.eos_token_id) ?? tokenizer.eos);
  return { maxLength, endToken, tokenizer };
}
