/**
 * Builds a `type: llama.cpp` evaluator from the config. What would fail every trial the same way
 * is a config error up front: no config.json beside the models, an architecture the GGUF export
 * does not know, node-llama-cpp not installed.
 */
import path from 'node:path';

import { createLlamaCppEvaluator, type LlamaCppEvaluator } from '../eval/llama-cpp.js';
import { importNodeLlamaCpp } from '../eval/llama-cpp-runtime.js';
import { carriedFilesFolder } from '../store/carried-files.js';
import { checkGgufExportable } from './command-fitness.js';
import type { EvolveConfig } from './config.js';
import { fitnessTokenizer } from './fitness-tokenizer.js';

type LlamaCppFitness = Extract<EvolveConfig['fitness'], { type: 'llama.cpp' }>;

export async function llamaCppEvaluatorFor(f: LlamaCppFitness, config: EvolveConfig, configFile: string, log?: (line: string) => void): Promise<LlamaCppEvaluator> {
  // config.json / tokenizer files: copy_files_from, else the first model that has them.
  const modelFolder = config.copy_files_from ?? config.models.map(carriedFilesFolder).find((d) => d !== undefined);
  checkGgufExportable(modelFolder, configFile, 'fitness.type');
  await importNodeLlamaCpp();  // LlamaCppMissingError now, not at the first trial
  const tokenizer = fitnessTokenizer(f.tokenizer, config);
  return createLlamaCppEvaluator({
    ...(tokenizer === undefined ? {} : { tokenizer }),
    data: f.data,
    metric: f.metric,
    modelFolder: path.resolve(modelFolder),
    gpuLayers: f.gpu_layers,
    textField: f.text_field,
    ...(f.context === undefined ? {} : { context: f.context }),
    ...(f.batch_size === undefined ? {} : { batchSize: f.batch_size }),
    ...(f.threads === undefined ? {} : { threads: f.threads }),
    ...(f.end_token === undefined ? {} : { endToken: f.end_token }),
    ...(log === undefined ? {} : { log }),
  });
}
