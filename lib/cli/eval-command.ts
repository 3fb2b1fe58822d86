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
import { openWeights } from '../store/checkpoint.js';
import { evalExternal } from './eval-external.js';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate one checkpoint on JSONL data with an ONNX graph whose weights are inputs, or with an external program')
    .requiredOption('--model <path>', 'checkpoint: .safetensors file or model folder')
    .option('--runtime <runtime>', 'onnx, or command (an external program: --run)', 'onnx')
    .option('--graph <graph.onnx>', 'onnx: ONNX graph taking the weights as inputs (see `evolver onnx prepare`)')
    .option('--data <file...>', 'onnx: JSONL files ({"text": ...} or {"input_ids": [...]} per line)')
    .option('--run <json>', 'command: argv as a JSON array, {model} replaced by the weights\' folder (or .gguf file)')
    .option('--timeout <seconds>', 'command: kill the program after this long', '600')
    .option('--format <format>', 'command: safetensors (a Hugging Face folder) or gguf', 'safetensors')
    .option('--metric <metric>', 'nll, accuracy or f1', 'nll')
    .option('--batch-size <n>', 'sequences per forward pass', '16')
    .option('--threads <n>', 'ONNX Runtime intra-op threads')
    .option('--json', 'print one JSON object')
    .action(async (o: { model: string; runtime: string; graph?: string; data?: string[]; run?: string; timeout: string; format: string; metric: string; batchSize: string; threads?: string; json?: boolean }) => {
      if (o.runtime === 'command') {
        if (o.run === undefined) throw new EvolverArgumentError('--runtime command needs --run \'["program", "arg", "{model}"]\'');
        return evalExternal({ model: o.model, run: o.run, timeout: o.timeout, format: o.format, ...(o.json ? { json: true } : {}) });
      }
      if (o.runtime !== 'onnx') throw new EvolverArgumentError(`--runtime: expected onnx or command, got '${o.runtime}'`);
      if (o.graph === undefined || o.data === undefined) throw new EvolverArgumentError('--runtime onnx needs --graph and --data');
      const { graph, data } = o;
      if (!['nll', 'accuracy', 'f1'].includes(o.metric)) throw new EvolverArgumentError(`--metric: expected nll, accuracy or f1, got '${o.metric}'`);
      const batchSize = Number(o.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new EvolverArgumentError(`--batch-size: expected a positive integer, got '${o.batchSize}'`);
      using weights = openWeights(o.model);
      const evaluator = await createOnnxEvaluator({ graph, data, metric: o.metric as MetricName, batchSize, ...(o.threads ? { intraOpThreads: Number(o.threads) } : {}) });
      try {
        const metrics = await evaluator.evaluateSets(weights);
        const mean = Object.values(metrics).reduce((a, b) => a + b, 0) / data.length;
        const score = o.metric === 'nll' ? -mean : mean;
        if (o.json) {
          process.stdout.write(JSON.stringify({ score, metrics }) + '\n');
        } else {
          for (const [file, value] of Object.entries(metrics)) process.stdout.write(`${o.metric} ${value.toFixed(6)}  ${file}\n`);
          process.stdout.write(`score ${score.toFixed(6)}${o.metric === 'nll' ? ' (minus the mean NLL: higher is better)' : ''}\n`);
        }
      } finally {
        await evaluator.close();
      }
    });
}
