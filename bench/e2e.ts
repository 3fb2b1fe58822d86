// End-to-end throughput: a short fixed evolution of the bundled example (ONNX fitness, mean dev
// NLL over four sets) in both schedules; prints evaluations per minute and the split between
// making offspring and evaluating them, and writes the JSON to a new file under
// bench/results/local/ (not committed); --save NAME writes bench/results/NAME.json, --out FILE that file.
//   npm run bench:e2e [-- --save e2e-myhost]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../lib/evolve/config.js';
import { EvolutionRun } from '../lib/evolve/engine.js';
import { evaluatorFor } from '../lib/evolve/fitness.js';
import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const configFile = path.join(root, 'examples', 'fortunes', 'evolve.yaml');
const target = targetFromArgv();
const file = resultFile('e2e', target);
const rows: Record<string, unknown>[] = [];
console.log('| schedule | concurrency | trials | evaluations | seconds | evaluations/min | offspring share | evaluation share |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [schedule, concurrency] of [['sequential', 1], ['generational', 2], ['generational', 4]] as const) {
  // The example without its held-out table: this measures the evolution loop only.
  const config = { ...loadConfig(configFile), schedule, concurrency, generations: 3, output: fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-e2e-')) + '/run' };
  delete config.final_table;
  const evaluator = await evaluatorFor(config, configFile);
  const report = await new EvolutionRun({ config, evaluator }).run();
  const t = report.throughput;
  rows.push({ schedule, concurrency, trials: report.trials, ...t });
  console.log(`| ${schedule} | ${concurrency} | ${report.trials} | ${t.evaluations} | ${t.seconds.toFixed(1)} | ${t.evaluationsPerMinute.toFixed(1)} | ${(t.offspringShare * 100).toFixed(1)}% | ${(t.evaluationShare * 100).toFixed(1)}% |`);
  fs.rmSync(path.dirname(config.output), { recursive: true, force: true });
}
writeResult(file, { host: os.hostname(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, date: new Date().toISOString(), rows });
console.log(`\n${wroteLine(file, target)}\n(shares are of the wall time: with concurrency, evaluations overlap each other and offspring creation, so they can sum past 100%)`);
