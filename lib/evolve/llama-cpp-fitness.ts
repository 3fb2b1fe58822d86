/**
 * Builds a `type: llama.cpp` evaluator from the config. What would fail every trial the same way
 * is a config error up front: no config.json beside the models, an architecture the GGUF export
 * does not know, node-llama-cpp not installed. A GGUF population (the first model is a .gguf, or
 * a folder holding model.gguf) needs neither config.json nor an export: its offspring are written
 * like the first model's file, and its end token and context length come from that file.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ggufDefaults } from '../eval/gguf-defaults.js';
import { createLlamaCppEvaluator, type LlamaCppEvaluator } from '../eval/llama-cpp.js';
import { importNodeLlamaCpp } from '../eval/llama-cpp-runtime.js';
import { ownGgufFile } from '../eval/offspring-gguf.js';
import { carriedFilesFolder } from '../store/carried-files.js';
import { GGUF_NAME, openWeights } from '../store/checkpoint.js';
import { checkGgufExportable } from './command-fitness.js';
import type { EvolveConfig } from './config.js';
import { fitnessTokenizer } from './fitness-tokenizer.js';

type LlamaCppFitness = Extract<EvolveConfig['fitness'], { type: 'llama.cpp' }>;

export async function llamaCppEvaluatorFor(f: LlamaCppFitness, config: EvolveConfig, configFile: string, log?: (line: string) => void): Promise<LlamaCppEvaluator> {
  // config.json / tokenizer files: copy_files_from, else the first model that has them.
  const modelFolder = config.copy_files_from ?? config.models.map(carriedFilesFolder).find((d) => d !== undefined);
  const ggufTemplate = firstGguf(config.models[0]);
  if (ggufTemplate === undefined) checkGgufExportable(modelFolder, configFile, 'fitness.type');
  await importNodeLlamaCpp();  // LlamaCppMissingError now, not at the first trial
  const tokenizer = fitnessTokenizer(f.tokenizer, config);
  return createLlamaCppEvaluator({
    ...(tokenizer === undefined ? {} : { tokenizer }),
    ...(ggufTemplate === undefined ? {} : { ggufTemplate, ...ggufDefaults(ggufTemplate) }),
    data: f.data,
    metric: f.metric,
    ...(modelFolder === undefined ? {} : { modelFolder: path.resolve(modelFolder) }),
    gpuLayers: f.gpu_layers,
    textField: f.text_field,
    ...(f.context === undefined ? {} : { context: f.context }),
    ...(f.batch_size === undefined ? {} : { batchSize: f.batch_size }),
    ...(f.threads === undefined ? {} : { threads: f.threads }),
    ...(f.end_token === undefined ? {} : { endToken: f.end_token }),
    ...(log === undefined ? {} : { log }),
  });
}

/**
 * The .gguf file of a GGUF population's first model (a .gguf file, or a folder holding
 * model.gguf), else undefined. Decided from the path alone: a missing model is reported by the
 * run, which opens every input, not here.
 */
function firstGguf(model: string | undefined): string | undefined {
  if (model === undefined || !fs.existsSync(model)) return undefined;
  const file = fs.statSync(model).isDirectory() ? path.join(model, GGUF_NAME) : model;
  if (!file.endsWith('.gguf') || !fs.existsSync(file)) return undefined;
  using weights = openWeights(file);
  return ownGgufFile(weights);
}
