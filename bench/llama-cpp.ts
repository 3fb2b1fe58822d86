// llama.cpp fitness throughput: the bundled example (evolve.yaml's models and four dev sets)
// evolved for one generation with `fitness: {type: llama.cpp}`, f32 and bf16 models; prints
// seconds per evaluation split into GGUF export / load / scoring / unload and evaluations per minute.
//   npx tsx bench/llama-cpp.ts [--threads N] [--gpu-layers auto|N]
// (bench/llama-cpp-scale.ts: the same fitness on a synthetic Llama-shaped population of ~0.5-1B parameters.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../lib/evolve/config.js';
import { EvolutionRun } from '../lib/evolve/engine.js';
import { llamaCppEvaluatorFor } from '../lib/evolve/llama-cpp-fitness.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const configFile = path.join(root, 'examples', 'fortunes', 'evolve.yaml');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const threads = Number(arg('--threads') ?? Math.min(os.availableParallelism(), 8));
const gpuLayers = arg('--gpu-layers') === undefined || arg('--gpu-layers') === 'auto' ? 'auto' as const : Number(arg('--gpu-layers'));
// The machine's load says whether other work shared the cores during the measurement.
console.log(`load average before: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.availableParallelism()} cores)`);
console.log('| models | device | evaluations | export s | load s | scoring s | unload s | s per evaluation | evaluations/min |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const folder of ['models', 'models-bf16']) {
  const base = loadConfig(configFile);
  if (base.fitness?.type !== 'onnx') throw new Error('evolve.yaml: expected the onnx fitness to take the data from');
  const config = {
    ...base,
    models: base.models.map((m) => m.replace('/models-bf16/', `/${folder}/`)),
    generations: 1,
    output: fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-llama-bench-')) + '/run',
    fitness: { type: 'llama.cpp' as const, data: base.fitness.data, metric: 'nll' as const, gpu_layers: gpuLayers, threads, text_field: 'text' },
  };
  delete config.final_table;
  const evaluator = await llamaCppEvaluatorFor(config.fitness, config, configFile, () => undefined);
  const t0 = performance.now();
  await new EvolutionRun({ config, evaluator }).run();
  const wall = (performance.now() - t0) / 1000;
  const t = evaluator.timings;
  const per = (ms: number) => (ms / 1000 / t.evaluations).toFixed(3);
  console.log(`| ${folder === 'models' ? 'f32' : 'bf16'} | ${evaluator.device} (${threads} threads) | ${t.evaluations} | ${per(t.exportMs)} | ${per(t.loadMs)} | ${per(t.scoreMs)} | ${per(t.unloadMs)} | ${(wall / t.evaluations).toFixed(2)} | ${(t.evaluations / wall * 60).toFixed(1)} |`);
  await evaluator.close();
}
console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
