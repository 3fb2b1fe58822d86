// Quality study on the bundled example: runs candidate evolution configs with several seeds and
// reports the evolved model's TEST in-domain and out-of-domain mean NLL (mean ± sample standard
// deviation over the seeds), its dev fitness, trials and time. Candidates are chosen on dev; the
// test sets are only reported, never used to choose anything.
//   npm run bench:quality [-- --candidates default,seed-average --seeds 20240601,20240602,20240603 --no-references]
// Writes the JSON to a new file under bench/results/local/ (not committed); --save NAME writes
// bench/results/NAME.json, --out FILE that file. Runs go to a temporary folder, removed after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';

import { type EvolveConfig, resolvePaths, validateConfig } from '../lib/evolve/config.js';
import { EvolutionRun } from '../lib/evolve/engine.js';
import { evaluatorFor, onnxOptions } from '../lib/evolve/fitness.js';
import { createOnnxEvaluator } from '../lib/eval/onnx.js';
import { openWeights } from '../lib/store/checkpoint.js';
import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';
import { CANDIDATES, referenceRows, spread } from '../lib/bench/quality.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const configFile = path.join(root, 'examples', 'fortunes', 'evolve.yaml');
const example = path.dirname(configFile);
const arg = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const names = (arg('--candidates') ?? Object.keys(CANDIDATES).join(',')).split(',');
for (const n of names) if (!(n in CANDIDATES)) throw new Error(`--candidates: unknown candidate '${n}' (known: ${Object.keys(CANDIDATES).join(', ')})`);
const seeds = (arg('--seeds') ?? '20240601,20240602,20240603').split(',').map(Number);
const target = targetFromArgv();
const file = resultFile('quality', target);

const raw = parseYaml(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
const base = resolvePaths(validateConfig(raw, configFile), example);
const table = base.final_table!;
const devEvaluator = await evaluatorFor(base, configFile);
const test = await createOnnxEvaluator(onnxOptions(base.fitness as Extract<EvolveConfig['fitness'], { type: 'onnx' }>, base, Object.values(table.sets)));
const mean = (perFile: Record<string, number>, sets: string[]) => sets.reduce((a, s) => a + perFile[table.sets[s]!]!, 0) / sets.length;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-quality-'));

const fmt = (xs: number[]) => `${spread(xs).mean.toFixed(4)} ± ${spread(xs).sd.toFixed(4)}`;
const rows: Record<string, unknown>[] = [];
try {
  console.log('| reference | in-domain mean | out-of-domain mean | dev fitness |');
  console.log('|---|---:|---:|---:|');
  // --no-references: skip them when iterating (they do not depend on the candidates or seeds).
  const references = process.argv.includes('--no-references') ? [] : await referenceRows(base, devEvaluator, test, work, mean);
  for (const r of references) console.log(`| ${r.name} | ${r.inDomain.toFixed(4)} | ${r.outOfDomain.toFixed(4)} | ${r.dev === null ? '' : r.dev.toFixed(6)} |`);
  console.log('\n| candidate | seeds | in-domain mean | out-of-domain mean | dev fitness | trials | seconds |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const name of names) {
    const runs: { seed: number; inDomain: number; outOfDomain: number; dev: number; trials: number; seconds: number; stop: string }[] = [];
    for (const seed of seeds) {
      const overrides = CANDIDATES[name]!.config;
      const config: EvolveConfig = { ...resolvePaths(validateConfig({ ...raw, ...overrides, seed }, `candidate ${name}`), example), output: path.join(work, `${name}-${seed}`) };
      delete config.final_table;
      const t0 = performance.now();
      const report = await new EvolutionRun({ config, evaluator: devEvaluator }).run();
      const seconds = (performance.now() - t0) / 1000;
      const best = openWeights(path.join(config.output, 'best'));
      const perFile = await test.evaluateSets(best);
      best.close();
      console.error(`  ${name} seed ${seed}: in-domain ${mean(perFile, table.in_domain).toFixed(4)}, out-of-domain ${mean(perFile, table.out_of_domain).toFixed(4)}, dev ${report.finalBest.toFixed(6)}, ${report.trials} trials, ${seconds.toFixed(1)} s`);
      runs.push({ seed, inDomain: mean(perFile, table.in_domain), outOfDomain: mean(perFile, table.out_of_domain), dev: report.finalBest, trials: report.trials, seconds, stop: report.stop });
      fs.rmSync(config.output, { recursive: true, force: true });
    }
    const col = (k: 'inDomain' | 'outOfDomain' | 'dev' | 'trials' | 'seconds') => runs.map((r) => r[k]);
    rows.push({ candidate: name, description: CANDIDATES[name]!.description, config: CANDIDATES[name]!.config, runs, inDomain: spread(col('inDomain')), outOfDomain: spread(col('outOfDomain')), dev: spread(col('dev')), trials: spread(col('trials')), seconds: spread(col('seconds')) });
    // Written after every candidate: a stopped study keeps what it measured.
    writeResult(file, { host: os.hostname(), cores: os.cpus().length, date: new Date().toISOString(), seeds, references, rows });
    console.log(`| ${name} | ${seeds.length} | ${fmt(col('inDomain'))} | ${fmt(col('outOfDomain'))} | ${spread(col('dev')).mean.toFixed(6)} | ${spread(col('trials')).mean.toFixed(0)} | ${spread(col('seconds')).mean.toFixed(1)} |`);
  }
  writeResult(file, { host: os.hostname(), cores: os.cpus().length, date: new Date().toISOString(), seeds, references, rows });
  console.log(`\n${wroteLine(file, target)}\n(mean ± sample standard deviation over the seeds; test NLL, lower is better; dev fitness = minus the mean dev NLL, higher is better)`);
} finally {
  await test.close();
  await (devEvaluator as { close?: () => Promise<void> }).close?.();
  fs.rmSync(work, { recursive: true, force: true });
}
