/**
 * `evolver eval --model PATH --graph GRAPH.onnx --data FILE.jsonl [--data ...] --metric nll --json`
 * (or `--runtime command --run '[...]'`: an external program, see eval-external.ts):
 * one checkpoint (file or sharded folder, f32/f16/bf16) on dev/test sets with ONNX Runtime.
 * Prints {"score", "metrics": {"<data file>": value}}; for nll the score is minus the mean NLL
 * (higher is better, as every fitness), the metrics are the NLLs themselves.
 */
import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { type MetricName, createOnnxEvaluator } from '../eval/onnx.js';
import { fitnessTokenizerFile } from '../evolve/fitness-tokenizer.js';
import { openWeights } from '../store/checkpoint.js';
import { evalExternal } from './eval-external.js';
import { evalLlamaCpp } from './eval-llama-cpp.js';
import { type EvalOptions, printMetrics } from './eval-print.js';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate one checkpoint on JSONL data with an ONNX graph whose weights are inputs, or with an external program')
    .requiredOption('--model <path>', 'checkpoint: .safetensors file or model folder')
    .option('--runtime <runtime>', 'onnx, llama.cpp (node-llama-cpp; the model exported to GGUF, or a .gguf), or command (an external program: --run)', 'onnx')
    .option('--graph <graph.onnx>', 'onnx: ONNX graph taking the weights as inputs (see `evolver onnx prepare`)')
    .option('--data <file...>', 'onnx: JSONL files ({"text": ...} or {"input_ids": [...]} per line)')
    .option('--run <json>', 'command: argv as a JSON array, {model} replaced by the weights\' folder (or .gguf file)')
    .option('--timeout <seconds>', 'command: kill the program after this long', '600')
    .option('--format <format>', 'command: safetensors (a Hugging Face folder) or gguf', 'safetensors')
    .option('--metric <metric>', 'nll, accuracy or f1', 'nll')
    .option('--batch-size <n>', 'sequences per forward pass', '16')
    .option('--threads <n>', 'ONNX Runtime intra-op threads, or llama.cpp threads')
    .option('--gpu-layers <n>', 'llama.cpp: layers on the GPU, auto or a count (0: CPU only)', 'auto')
    .option('--context <n>', 'llama.cpp: context = truncation length (default: config.json beside the model)')
    .option('--config <file>', 'llama.cpp: the model\'s config.json, for the GGUF export and the defaults (default: the one beside the model)')
    .option('--tokenizer <tokenizer.json>', 'onnx, llama.cpp: the model\'s tokenizer for {"text"} lines (default: tokenizer.json beside the model, if any)')
    .option('--no-tokenizer', 'onnx, llama.cpp: {"text"} lines as UTF-8 bytes (the byte-level protocol) even when the model has a tokenizer.json')
    .option('--json', 'print one JSON object')
    .action(async (o: EvalOptions) => {
      if (o.runtime === 'command') {
        if (o.run === undefined) throw new EvolverArgumentError('--runtime command needs --run \'["program", "arg", "{model}"]\'');
        return evalExternal({ model: o.model, run: o.run, timeout: o.timeout, format: o.format, ...(o.json ? { json: true } : {}) });
      }
      if (o.runtime === 'llama.cpp') return evalLlamaCpp(o);
      if (o.runtime !== 'onnx') throw new EvolverArgumentError(`--runtime: expected onnx, llama.cpp or command, got '${o.runtime}'`);
      if (o.graph === undefined || o.data === undefined) throw new EvolverArgumentError('--runtime onnx needs --graph and --data');
      const { graph, data } = o;
      if (!['nll', 'accuracy', 'f1'].includes(o.metric)) throw new EvolverArgumentError(`--metric: expected nll, accuracy or f1, got '${o.metric}'`);
      const batchSize = Number(o.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new EvolverArgumentError(`--batch-size: expected a positive integer, got '${o.batchSize}'`);
      using weights = openWeights(o.model);
      // The model folder's tokenizer.json, as a config's fitness would take it (fitness-tokenizer.ts).
      const tokenizer = fitnessTokenizerFile(o.tokenizer, { models: [o.model] });
      const evaluator = await createOnnxEvaluator({ graph, data, metric: o.metric as MetricName, batchSize, ...(o.threads ? { intraOpThreads: Number(o.threads) } : {}), ...(tokenizer === undefined ? {} : { tokenizer }) });
      try {
        printMetrics(await evaluator.evaluateSets(weights), o);
      } finally {
        await evaluator.close();
      }
    });
}
