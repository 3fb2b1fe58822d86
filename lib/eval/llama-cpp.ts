/**
 * Dev-set fitness with llama.cpp (node-llama-cpp): for each offspring, its weights are exported
 * to GGUF straight from their mapping into RAM (/dev/shm when there is room), the file is
 * checked (gguf-loadable.ts), loaded (mmap), every dev sequence is scored, and the model is
 * unloaded and the file deleted. For a GGUF population the offspring is written as the GGUF it
 * already is, and a member that is one .gguf file is loaded directly (offspring-gguf.ts).
 *
 * The NLL protocol is the ONNX evaluator's (onnx.ts, data.ts): the same data files and token ids
 * (the model's tokenizer.json when given, else byte-level ids; fed as ids, never re-tokenized by
 * llama.cpp, which adds no BOS of its own: a BOS is there when the tokenizer files ask for one),
 * the same truncation, tokens 1..L-1 predicted from position 0, the token-weighted mean per set,
 * and fitness = minus the weighted mean over sets. The probability of each next token comes from
 * llama.cpp's softmax over the full vocabulary (float32); the log is taken and summed in double.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { ControlledEvaluateInputItem, Token } from 'node-llama-cpp';

import { BadInputError } from '../errors.js';
import type { Evaluator, Fitness } from '../evolve/evaluator.js';
import type { WeightSet } from '../store/checkpoint.js';
import { type Example, readExamples } from './data.js';
import { checkLoadableGguf } from './gguf-loadable.js';
import { type Llama, startLlama } from './llama-cpp-runtime.js';
import { scratchFor } from './materialize.js';
import { offspringGguf, ownGgufFile } from './offspring-gguf.js';
import { configTokenId, loadTokenizer, type TextTokenizer } from './tokenizer.js';

export class LlamaCppEvalError extends BadInputError {
  override readonly name = 'LlamaCppEvalError';
}

export interface LlamaCppEvaluatorOptions {
  /** Dev sets; several combine into one fitness by their weights (default: equal, the mean). */
  data: (string | { file: string; weight?: number })[];
  metric?: 'nll';
  /** The folder whose config.json (and tokenizer files) describe the weights, for the GGUF export and the defaults below. */
  modelFolder?: string;
  /** config.json to use instead of the one in modelFolder. */
  config?: string;
  /** Layers offloaded to a GPU: 'auto' (as many as fit; none without a GPU) or a count; 0 never touches a GPU. */
  gpuLayers?: 'auto' | number;
  /** Context length = truncation length (default: n_positions / max_position_embeddings of config.json, else 1024). */
  context?: number;
  /** Tokens per llama.cpp decode (n_batch; default: the context length, at most 512). */
  batchSize?: number;
  /** llama.cpp threads (default: its own choice, every core). */
  threads?: number;
  /**
   * The end token appended to a text (default: eos_token_id of config.json, else, with a
   * tokenizer, its own end token (none when it names none), without one 0).
   */
  endToken?: number;
  /** The model's tokenizer.json (or a loaded one) for texts; absent: the byte-level protocol. */
  tokenizer?: string | TextTokenizer;
  textField?: string;
  /** One line when the device or the scratch folder is first known (default: stderr). */
  log?: (line: string) => void;
  /**
   * The population is GGUF: this .gguf (the first member) gives the key/values and tensor order
   * every offspring is written with (offspring-gguf.ts); config.json is then not used.
   */
  ggufTemplate?: string;
  /** Test seam: the RAM-backed folder tried first. */
  shm?: string;
}

/** Cumulative milliseconds per phase, over every evaluation so far. */
export interface LlamaCppTimings {
  evaluations: number;
  exportMs: number;
  loadMs: number;
  scoreMs: number;
  unloadMs: number;
}

export interface LlamaCppEvaluator extends Evaluator {
  /** Per data file: NLL in nats per predicted token. */
  evaluateSets(weights: WeightSet, signal?: AbortSignal): Promise<Record<string, number>>;
  /** The same for a GGUF file on disk (checked before it is loaded). */
  evaluateGgufSets(file: string, signal?: AbortSignal): Promise<Record<string, number>>;
  /** 'cpu', 'cuda', 'vulkan' or 'metal': known after the first evaluation. */
  readonly device: string | undefined;
  readonly timings: LlamaCppTimings;
  readonly metric: 'nll';
  close(): Promise<void>;
}

function readConfig(file: string | undefined): Record<string, unknown> {
  if (file === undefined) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function createLlamaCppEvaluator(o: LlamaCppEvaluatorOptions): LlamaCppEvaluator {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const configFile = o.config ?? (o.modelFolder === undefined ? undefined : path.join(o.modelFolder, 'config.json'));
  const cfg = readConfig(configFile);
  const maxLength = o.context ?? Number(cfg.n_positions ?? cfg.max_position_embeddings ?? 1024);
  const tokenizer = typeof o.tokenizer === 'string' ? loadTokenizer(o.tokenizer) : o.tokenizer;
  const endToken = o.endToken ?? (tokenizer === undefined ? Number(cfg.eos_token_id ?? 0) : configTokenId(cfg.eos_token_id) ?? tokenizer.eos);
  // A whole sequence per decode by default; the logits buffer is batchSize x vocabulary floats.
  const batchSize = o.batchSize ?? Math.min(maxLength, 512);
  const gpuLayers = o.gpuLayers ?? 'auto';
  const sets = o.data.map((d) => (typeof d === 'string' ? { file: d, weight: 1 } : { file: d.file, weight: d.weight ?? 1 }));
  const examples = new Map<string, Example[]>();
  for (const s of sets) examples.set(s.file, readExamples(s.file, { maxLength, endToken, ...(tokenizer === undefined ? {} : { tokenizer }), ...(o.textField ? { textField: o.textField } : {}) }));
  let maxId = 0;
  for (const list of examples.values()) for (const e of list) for (const id of e.ids) if (id > maxId) maxId = id;
  const timings: LlamaCppTimings = { evaluations: 0, exportMs: 0, loadMs: 0, scoreMs: 0, unloadMs: 0 };
  let llama: Promise<Llama> | undefined;
  let device: string | undefined;
  let lastScratch: string | undefined;
  // One evaluation at a time: a second model loaded beside the first would only compete for the
  // same cores (or GPU memory) that llama.cpp already uses in full.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };

  async function scoreFile(file: string, signal?: AbortSignal): Promise<Record<string, number>> {
    checkLoadableGguf(file, maxId);  // before llama.cpp sees the file: some defects abort the process
    llama ??= startLlama({ gpu: gpuLayers === 0 ? false : 'auto', ...(o.threads === undefined ? {} : { threads: o.threads }) });
    const runtime = await llama;
    let t = performance.now();
    const model = await runtime.loadModel({ modelPath: file, gpuLayers, useMmap: true });
    try {
      const context = await model.createContext({
        contextSize: maxLength,
        batchSize,
        ...(o.threads === undefined ? {} : { threads: o.threads }),
        // Exactness over speed: an F32 KV cache (the default is F16) and no flash attention.
        flashAttention: false,
        experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
      });
      if (device === undefined) {
        device = runtime.gpu === false ? 'cpu' : runtime.gpu;
        log(`llama.cpp fitness: ${device}${runtime.gpu === false ? '' : `, ${model.gpuLayers} layer(s) on the GPU`}, ${context.currentThreads} thread(s)`);
      }
      timings.loadMs += performance.now() - t;
      t = performance.now();
      const sequence = context.getSequence();
      try {
        const result: Record<string, number> = {};
        for (const s of sets) {
          const list = examples.get(s.file)!;
          let sum = 0, count = 0;
          // One sequence, one example at a time. Several sequences evaluated concurrently in one
          // context gave wrong probabilities (NLL off by 0.2 to 1.5 nats on the bundled models,
          // node-llama-cpp 3.21.1), so parallel sequences are not used.
          for (let i = 0; i < list.length; i++) {
            if (signal?.aborted) throw new Error('evaluation aborted');
            const ids = list[i]!.ids;
            if (ids.length < 2) continue;
            // Token ids as they are: node-llama-cpp's Token is a branded number.
            const input = Array.from(ids.subarray(0, ids.length - 1), (id): ControlledEvaluateInputItem => [id as Token, { generateNext: { probabilities: true } }]);
            const out = await sequence.controlledEvaluate(input);
            for (let k = 0; k < input.length; k++) {
              // No probability: llama.cpp's sampler picked no token, which NaN logits (NaN
              // weights) cause; the set's NLL becomes NaN and the trial is rejected, not the run.
              const p = out[k]?.next.probabilities?.get(ids[k + 1]! as Token) ?? Number.NaN;
              sum -= Math.log(p);
            }
            count += input.length;
            await sequence.clearHistory();
          }
          if (count === 0) throw new LlamaCppEvalError(`${s.file}: no predicted token (every sequence is shorter than 2 tokens)`);
          result[s.file] = sum / count;
        }
        timings.scoreMs += performance.now() - t;
        return result;
      } finally {
        await context.dispose();
      }
    } finally {
      const u = performance.now();
      await model.dispose();
      timings.unloadMs += performance.now() - u;
    }
  }

  const evaluateGgufSets = (file: string, signal?: AbortSignal) => serial(() => scoreFile(file, signal));

  const offspring = offspringGguf({
    ...(o.ggufTemplate === undefined ? {} : { ggufTemplate: o.ggufTemplate }),
    ...(configFile === undefined ? {} : { config: configFile }),
    ...(o.modelFolder === undefined ? {} : { tokenizerFolder: o.modelFolder }),
  });

  const evaluateSets = (weights: WeightSet, signal?: AbortSignal) => serial(async () => {
    // A member that is one .gguf file is loaded as it is: nothing to write.
    // The scratch file already in place is rewritten, so its bytes count as room.
    const kept = scratchFolder === undefined ? 0 : fileBytes(path.join(scratchFolder.dir, 'model.gguf'));
    const scratch = ownGgufFile(weights) === undefined ? scratchFor(Math.max(0, weights.dataBytes - kept), o.shm) : undefined;
    if (scratch !== undefined && scratch !== lastScratch) {
      lastScratch = scratch;
      log(`llama.cpp fitness: offspring GGUFs are written to ${scratch}${scratch === (o.shm ?? '/dev/shm') ? ' (RAM)' : ' (no room in /dev/shm)'}`);
    }
    try {
      const t = performance.now();
      const file = await offspring.place(weights, path.join(scratchDir(scratch) ?? '', 'model.gguf'));
      timings.exportMs += performance.now() - t;
      const result = await scoreFile(file, signal);
      timings.evaluations++;
      return result;
    } catch (err) {
      dropScratch();  // a half-written offspring is never loaded by a later evaluation
      throw err;
    }
  });

  // One scratch folder per evaluator, its model.gguf rewritten in place by every offspring (a
  // new file per offspring costs the kernel a page allocation per 4 KiB: 2-3x the write), removed
  // by close(). The process id in the name tells whose folder it is (several runs may share /dev/shm).
  let scratchFolder: { root: string; dir: string } | undefined;
  const scratchDir = (root: string | undefined): string | undefined => {
    if (root === undefined) return undefined;
    if (scratchFolder?.root !== root) {
      dropScratch();
      scratchFolder = { root, dir: fs.mkdtempSync(path.join(root, `evolver-llama-${process.pid}-`)) };
    }
    return scratchFolder.dir;
  };
  const dropScratch = () => {
    if (scratchFolder !== undefined) fs.rmSync(scratchFolder.dir, { recursive: true, force: true });
    scratchFolder = undefined;
  };

  const evaluator = (async (weights: WeightSet, { signal }: { signal: AbortSignal }): Promise<Fitness> => {
    const perSet = await evaluateSets(weights, signal);
    const total = sets.reduce((a, s) => a + s.weight, 0);
    const combined = sets.reduce((a, s) => a + s.weight * perSet[s.file]!, 0) / total;
    // A loss: the fitness is its negation, and the metric names say so (as the ONNX evaluator's).
    const metrics = Object.fromEntries(sets.map((s) => [`nll:${s.file}`, perSet[s.file]!]));
    if (!Number.isFinite(combined)) return { score: -Infinity, metrics, reason: `llama.cpp gave a non-finite mean NLL (${combined}): NaN or infinite weights?` };
    return { score: -combined, metrics: { ...metrics, neg_mean_nll: -combined } };
  }) as LlamaCppEvaluator;
  Object.defineProperty(evaluator, 'device', { get: () => device });
  Object.assign(evaluator, {
    evaluateSets,
    evaluateGgufSets,
    timings,
    metric: 'nll',
    close: async () => {
      await queue;
      offspring.close();
      dropScratch();
      if (llama !== undefined) await (await llama).dispose();
      llama = undefined;
    },
  });
  return evaluator;
}

function fileBytes(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
