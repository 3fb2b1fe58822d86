/**
 * `evolver stats regmean --model M --graph G.onnx --data D.jsonl [--data ...] --out grams.safetensors`:
 * the Gram matrices of every linear layer's inputs over the model's data, for RegMean merges.
 */
import type { Command } from 'commander';

import { fitnessTokenizerFile } from '../evolve/fitness-tokenizer.js';
import { regmeanStats } from '../stats/regmean-stats.js';
import { positiveInteger } from './options.js';

interface RegMeanStatsCliOptions {
  model: string;
  graph: string;
  data: string[];
  out: string;
  maxExamples?: string;
  textField?: string;
  tokenizer?: string | false;
  threads?: string;
}

export function registerStats(program: Command): void {
  const stats = program.command('stats').description('statistics of a model over data, for merge methods that need them');
  stats
    .command('regmean')
    .description('Gram matrices of the inputs of every linear layer over the model\'s data (RegMean), with ONNX Runtime')
    .requiredOption('--model <path>', 'checkpoint: .safetensors file or model folder')
    .requiredOption('--graph <graph.onnx>', 'ONNX graph taking the weights as inputs (see `evolver onnx prepare`)')
    .requiredOption('--data <file...>', 'JSONL files ({"text": ...} or {"input_ids": [...]} per line)')
    .requiredOption('--out <file.safetensors>', 'where the Grams go (must not exist)')
    .option('--max-examples <n>', 'use at most this many examples of each data file')
    .option('--text-field <name>', 'the JSONL field with the text', 'text')
    .option('--tokenizer <tokenizer.json>', 'the model\'s tokenizer for {"text"} lines (default: tokenizer.json beside the model, if any)')
    .option('--no-tokenizer', '{"text"} lines as UTF-8 bytes (the byte-level protocol) even when the model has a tokenizer.json')
    .option('--threads <n>', 'ONNX Runtime intra-op threads')
    .action(async (o: RegMeanStatsCliOptions) => {
      const maxExamples = positiveInteger('--max-examples', o.maxExamples);
      const threads = positiveInteger('--threads', o.threads);
      const tokenizer = fitnessTokenizerFile(o.tokenizer, { models: [o.model] });
      const started = performance.now();
      const r = await regmeanStats({
        model: o.model, graph: o.graph, data: o.data, out: o.out,
        ...(maxExamples === undefined ? {} : { maxExamples }),
        ...(o.textField ? { textField: o.textField } : {}),
        ...(tokenizer === undefined ? {} : { tokenizer }),
        ...(threads === undefined ? {} : { intraOpThreads: threads }),
      });
      const seconds = (performance.now() - started) / 1000;
      process.stdout.write(`${r.layers.length} linear layers, ${r.examples} examples\n`);
      const width = Math.max(...r.layers.map((l) => l.weight.length));
      for (const l of r.layers) process.stdout.write(`  ${l.weight.padEnd(width)}  ${l.layout}  [${l.in}, ${l.in}]  ${l.rows} rows\n`);
      process.stdout.write(`  grams: ${r.out} (${seconds.toFixed(1)} s)\n`);
    });
}
