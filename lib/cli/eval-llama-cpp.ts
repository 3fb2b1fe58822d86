/**
 * `evolver eval --runtime llama.cpp --model M --data FILE...`: one checkpoint scored by llama.cpp
 * with the ONNX runtime's NLL protocol, printed like the onnx runtime. A .safetensors model (or
 * folder) is exported to GGUF first, with config.json from its folder; a .gguf file is scored as
 * it is (its tokenizer metadata checked before it is loaded).
 */
import path from 'node:path';

import { EvolverArgumentError } from '../errors.js';
import { ggufDefaults } from '../eval/gguf-defaults.js';
import { createLlamaCppEvaluator } from '../eval/llama-cpp.js';
import { fitnessTokenizerFile } from '../evolve/fitness-tokenizer.js';
import { openWeights } from '../store/checkpoint.js';
import { type EvalOptions, printMetrics } from './eval-print.js';

const positive = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new EvolverArgumentError(`${flag}: expected a positive integer, got '${v}'`);
  return n;
};

export async function evalLlamaCpp(o: EvalOptions): Promise<void> {
  if (o.data === undefined) throw new EvolverArgumentError('--runtime llama.cpp needs --data');
  if (o.metric !== 'nll') throw new EvolverArgumentError(`--runtime llama.cpp: only --metric nll is supported, got '${o.metric}'`);
  const gpuLayers = o.gpuLayers === 'auto' ? 'auto' : Number(o.gpuLayers);
  if (gpuLayers !== 'auto' && (!Number.isInteger(gpuLayers) || gpuLayers < 0)) throw new EvolverArgumentError(`--gpu-layers: expected auto or a count, got '${o.gpuLayers}'`);
  const gguf = o.model.endsWith('.gguf');
  const threads = positive('--threads', o.threads);
  const context = positive('--context', o.context);
  // --batch-size defaults to 16 for onnx (sequences); llama.cpp's is tokens per decode, so only an explicit value is passed on.
  const batchSize = process.argv.includes('--batch-size') ? positive('--batch-size', o.batchSize) : undefined;
  // A .gguf carries its own end token and context length; config.json is only for exports.
  const fromGguf = gguf ? ggufDefaults(o.model) : {};
  // A file's folder, or the model folder itself: where config.json and tokenizer files are.
  const modelFolder = gguf || o.model.endsWith('.safetensors') ? path.dirname(o.model) : o.model;
  const tokenizer = fitnessTokenizerFile(o.tokenizer, { models: [o.model], copy_files_from: modelFolder });
  const evaluator = createLlamaCppEvaluator({
    ...fromGguf,
    data: o.data,
    gpuLayers,
    modelFolder,
    ...(tokenizer === undefined ? {} : { tokenizer }),
    ...(o.config === undefined ? {} : { config: o.config }),
    ...(threads === undefined ? {} : { threads }),
    ...(context === undefined ? {} : { context }),
    ...(batchSize === undefined ? {} : { batchSize }),
  });
  try {
    if (gguf) {
      printMetrics(await evaluator.evaluateGgufSets(o.model), o);
    } else {
      using weights = openWeights(o.model);
      printMetrics(await evaluator.evaluateSets(weights), o);
    }
  } finally {
    await evaluator.close();
  }
}
