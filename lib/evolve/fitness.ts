/** Builds the evaluator a config's `fitness` section describes. */
import path from 'node:path';

import { createOnnxEvaluator, type OnnxEvaluator } from '../eval/onnx.js';
import { commandEvaluatorFor } from './command-fitness.js';
import { llamaCppEvaluatorFor } from './llama-cpp-fitness.js';
import type { EvolveConfig } from './config.js';
import { ConfigError } from './config.js';
import { type Evaluator, loadModuleEvaluator } from './evaluator.js';
import { fitnessTokenizer } from './fitness-tokenizer.js';

type OnnxFitness = Extract<EvolveConfig['fitness'], { type: 'onnx' }>;

/** `config` gives the models and copy_files_from the default tokenizer comes from. */
export function onnxOptions(f: OnnxFitness, config: Pick<EvolveConfig, 'models' | 'copy_files_from'>, data = f.data) {
  const tokenizer = fitnessTokenizer(f.tokenizer, config);
  return {
    ...(tokenizer === undefined ? {} : { tokenizer }),
    graph: f.graph,
    data,
    metric: f.metric,
    batchSize: f.batch_size,
    provider: f.provider,
    textField: f.text_field,
    labelField: f.label_field,
    ...(f.intra_op_threads ? { intraOpThreads: f.intra_op_threads } : {}),
    ...(f.max_length ? { maxLength: f.max_length } : {}),
    ...(f.end_token !== undefined ? { endToken: f.end_token } : {}),
  };
}

export async function evaluatorFor(config: EvolveConfig, configFile: string): Promise<Evaluator | OnnxEvaluator> {
  if (config.fitness === undefined) throw new ConfigError(configFile, 'fitness', 'required: the section that says how offspring are scored (type: onnx, llama.cpp, module or command)');
  if (config.fitness.type === 'module') {
    return loadModuleEvaluator(config.fitness, { models: config.models, configDir: path.dirname(configFile) }, configFile);
  }
  if (config.fitness.type === 'command') return commandEvaluatorFor(config.fitness, config, configFile);
  if (config.fitness.type === 'llama.cpp') return llamaCppEvaluatorFor(config.fitness, config, configFile);
  return createOnnxEvaluator(onnxOptions(config.fitness, config));
}
