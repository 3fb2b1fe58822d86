// Compares the DE strategies on the bundled example, to choose the default:
//   npx tsx bench/strategies.ts [--generations 5]
// Fitness: the weight-space fitness of examples/fortunes/fitness/weight-distance.mjs (minus the
// mean squared distance to a hidden target), or with --onnx the example's dev NLL (ONNX Runtime;
// F 0.3 / CR 0.9 only, it is slower). Prints a table and writes the JSON to a new file under
// bench/results/local/ (not committed); --save strategies (or strategies-onnx) replaces the
// committed bench/results/strategies[-onnx].json, --out FILE writes that file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { EvolutionRun } from '../lib/evolve/engine.js';
import { resolvePaths, validateConfig } from '../lib/evolve/config.js';
import { loadModuleEvaluator } from '../lib/evolve/evaluator.js';
import { evaluatorFor } from '../lib/evolve/fitness.js';
import { loadConfig } from '../lib/evolve/config.js';
import { STRATEGY_NAMES } from '../lib/kernels/strategies.js';
import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const example = path.join(root, 'examples', 'fortunes');
const at = process.argv.indexOf('--generations');
const generations = at > 0 ? Number(process.argv[at + 1]) : 5;
const useOnnx = process.argv.includes('--onnx');
const target = targetFromArgv();
const resultPath = resultFile(useOnnx ? 'strategies-onnx' : 'strategies', target);
const onnxFitness = loadConfig(path.join(example, 'evolve.yaml')).fitness;
const onnxEvaluator = useOnnx ? await evaluatorFor(loadConfig(path.join(example, 'evolve.yaml')), path.join(example, 'evolve.yaml')) : undefined;
const rows: Record<string, unknown>[] = [];
console.log(`| strategy | F | CR | accepted | best fitness: initial -> final | population mean: initial -> final |`);
console.log(`|---|---:|---:|---:|---|---|`);
for (const strategy of STRATEGY_NAMES) {
  for (const F of useOnnx ? [0.3] : [0.1, 0.3, 0.5]) {
    for (const CR of useOnnx ? [0.9] : [0.3, 0.9]) {
      const output = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-strategies-'));
      const config = resolvePaths(validateConfig({
        models: ['computers', 'politics', 'science', 'songs-poems', 'base'].map((m) => `models-bf16/${m}.safetensors`),
        output: path.join(output, 'run'), seed: 1, strategy, F, CR, generations,
        fitness: { type: 'module', path: 'fitness/weight-distance.mjs' },
      }, 'bench/strategies.ts'), example);
      const evaluator = onnxEvaluator ?? (await loadModuleEvaluator(config.fitness as never, { models: config.models, configDir: example }, 'bench'));
      if (useOnnx) config.fitness = onnxFitness;
      const r = await new EvolutionRun({ config, evaluator }).run();
      const mean = (xs: { fitness: number }[]) => xs.reduce((a, s) => a + s.fitness, 0) / xs.length;
      rows.push({ strategy, F, CR, accepted: r.accepted, trials: r.trials, initialBest: r.initialBest, finalBest: r.finalBest, initialMean: mean(r.initial), finalMean: mean(r.final) });
      console.log(`| ${strategy} | ${F} | ${CR} | ${r.accepted}/${r.trials} | ${r.initialBest.toExponential(3)} -> ${r.finalBest.toExponential(3)} | ${mean(r.initial).toExponential(3)} -> ${mean(r.final).toExponential(3)} |`);
      fs.rmSync(output, { recursive: true, force: true });
    }
  }
}
writeResult(resultPath, { generations, population: 5, fitness: useOnnx ? 'onnx dev nll' : 'weight-distance', rows });
console.log(`\n${wroteLine(resultPath, target)}`);
