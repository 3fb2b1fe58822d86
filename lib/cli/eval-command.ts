/**
 * `evolver eval --model PATH --graph GRAPH.onnx --data FILE.jsonl [--data ...] --metric nll --json`:
 * one checkpoint (file or sharded folder, f32/f16/bf16) on dev/test sets with ONNX Runtime.
 * Prints {"score", "metrics": {"<data file>": value}}; for nll the score is minus the mean NLL
 * (higher is better, as every fitness), the metrics are the NLLs themselves.
 */
import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { type MetricName, createOnnxEvaluator } from '../eval/onnx.js';
import { openWeights } from '../store/checkpoint.js';

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate one checkpoint on JSONL data with an ONNX graph whose weights are inputs')
    .requiredOption('--model <path>', 'checkpoint: .safetensors file or model folder')
    .requiredOption('--graph <graph.onnx>', 'ONNX graph taking the weights as inputs (see `evolver onnx prepare`)')
    .requiredOption('--data <file...>', 'JSONL files ({"text": ...} or {"input_ids": [...]} per line)')
    .option('--metric <metric>', 'nll, accuracy or f1', 'nll')
    .option('--batch-size <n>', 'sequences per forward pass', '16')
    .option('--threads <n>', 'ONNX Runtime intra-op threads')
    .option('--json', 'print one JSON object')
    .action(async (o: { model: string; graph: string; data: string[]; metric: string; batchSize: string; threads?: string; json?: boolean }) => {
      if (!['nll', 'accuracy', 'f1'].includes(o.metric)) throw new EvolverArgumentError(`--metric: expected nll, accuracy or f1, got '${o.metric}'`);
      const batchSize = Number(o.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new EvolverArgumentError(`--batch-size: expected a positive integer, got '${o.batchSize}'`);
      using weights = openWeights(o.model);
      const evaluator = await createOnnxEvaluator({ graph: o.graph, data: o.data, metric: o.metric as MetricName, batchSize, ...(o.threads ? { intraOpThreads: Number(o.threads) } : {}) });
      try {
        const metrics = await evaluator.evaluateSets(weights);
        const mean = Object.values(metrics).reduce((a, b) => a + b, 0) / o.data.length;
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
