/**
 * The quality study's parts (bench/quality.ts): the candidate configs, the reference rows the
 * candidates are read against, and the mean/spread of a column over seeds.
 */
import path from 'node:path';

import type { EvolveConfig } from '../evolve/config.js';
import type { Evaluator } from '../evolve/evaluator.js';
import type { OnnxEvaluator } from '../eval/onnx.js';
import { mergeToFile } from '../merge/simple.js';
import { openWeights, type WeightSet } from '../store/checkpoint.js';

export interface Candidate {
  description: string;
  /** Keys laid over examples/fortunes/evolve.yaml (paths relative to it). */
  config: Record<string, unknown>;
}

const TA_LAMBDAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
const BASE = 'models-bf16/base.safetensors';
const SEED_TA = { initial_merges: { base: BASE, task_arithmetic: TA_LAMBDAS } };

export const CANDIDATES: Record<string, Candidate> = {
  default: { description: 'examples/fortunes/evolve.yaml as it is', config: {} },
  // The example before the study (no merged member): the baseline every candidate is read against.
  before: { description: 'the example before this study: the four fine-tunes only', config: { initial_merges: undefined } },
  'seed-average': { description: 'the average as a 5th initial member', config: { initial_merges: { average: true } } },
  'seed-ta': { description: 'task arithmetic (λ chosen on dev) as a 5th initial member', config: SEED_TA },
  'seed-ta-ctb': { description: 'seed-ta with current-to-best/1', config: { ...SEED_TA, strategy: 'current-to-best/1' } },
  'seed-ta-F0.1': { description: 'seed-ta with F 0.1', config: { ...SEED_TA, F: 0.1 } },
  'seed-ta-long': { description: 'seed-ta, 25 generations, patience 3', config: { ...SEED_TA, generations: 25, patience: 3 } },
  'seed-ta-CR0.5': { description: 'seed-ta with CR 0.5', config: { ...SEED_TA, CR: 0.5 } },
  'seed-ta-F0.5': { description: 'seed-ta with F 0.5', config: { ...SEED_TA, F: 0.5 } },
  'seed-ta-best1': { description: 'seed-ta with best/1', config: { ...SEED_TA, strategy: 'best/1' } },
  'seed-ta-row': { description: 'seed-ta with row crossover', config: { ...SEED_TA, granularity: 'row' } },
  'seed-ta-ties': { description: 'task arithmetic and TIES (λ chosen on dev) as members 5 and 6', config: { initial_merges: { ...SEED_TA.initial_merges, ties: { density: 0.5, lambdas: [0.5, 0.75, 1.0, 1.25, 1.5] } } } },
  'merger-linear': { description: 'evolution with a merger: fitness = the dev score of the members\' average, output the average', config: { initial_merges: undefined, merger: { method: 'linear' } } },
  'seed-ta-merger-linear': { description: 'seed-ta, evolved with a linear merger (output: the members\' average)', config: { ...SEED_TA, merger: { method: 'linear' } } },
  'seed-all': { description: 'average, task arithmetic and TIES (λ chosen on dev) as members 5, 6 and 7', config: { initial_merges: { ...SEED_TA.initial_merges, average: true, ties: { density: 0.5, lambdas: [0.5, 0.75, 1.0, 1.25, 1.5] } } } },
  'seed-ta-depth': { description: 'seed-ta refined by depth: a weight per model and depth group (4 block groups + outside), coordinate search on dev, 2 sweeps', config: { initial_merges: { ...SEED_TA.initial_merges, depth_search: { groups: 4, sweeps: 2, step: 0.5 } } } },
  'seed-ta-depth-1sweep': { description: 'seed-ta-depth with 1 sweep (60 merges scored)', config: { initial_merges: { ...SEED_TA.initial_merges, depth_search: { groups: 4, sweeps: 1, step: 0.5 } } } },
  'seed-ta-depth-F0.1': { description: 'seed-ta-depth with F 0.1 (smaller moves around the refined merge)', config: { F: 0.1 } },
  'seed-ta-depth-g2': { description: 'seed-ta-depth with 2 block groups (36 merges per sweep)', config: { initial_merges: { ...SEED_TA.initial_merges, depth_search: { groups: 2, sweeps: 2, step: 0.5 } } } },
  'seed-average-ta': { description: 'the average and task arithmetic (λ chosen on dev) as members 5 and 6', config: { initial_merges: { base: BASE, average: true, task_arithmetic: TA_LAMBDAS } } },
};

export function spread(xs: number[]): { mean: number; sd: number; min: number; max: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  return { mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

export interface ReferenceRow {
  name: string;
  inDomain: number;
  outOfDomain: number;
  /** Dev fitness (minus the mean dev NLL), where it was measured. */
  dev: number | null;
}

type Mean = (perFile: Record<string, number>, sets: string[]) => number;

/**
 * What the candidates are read against: the average, task arithmetic with λ chosen on dev, and
 * the per-domain oracle (each in-domain test set scored by its own fine-tune: a bound no single
 * model is expected to reach; it has no out-of-domain value).
 */
export async function referenceRows(config: EvolveConfig, dev: Evaluator, test: OnnxEvaluator, work: string, mean: Mean): Promise<ReferenceRow[]> {
  const t = config.final_table!;
  const models = config.models.map((m) => openWeights(m));
  const baseFile = t.merges?.base;
  const base = baseFile === undefined ? undefined : openWeights(baseFile);
  const signal = new AbortController().signal;
  const rows: ReferenceRow[] = [];
  const scoreRow = async (name: string, w: WeightSet, devScore: number | null) => {
    const perFile = await test.evaluateSets(w);
    rows.push({ name, inDomain: mean(perFile, t.in_domain), outOfDomain: mean(perFile, t.out_of_domain), dev: devScore });
  };
  try {
    const avgFile = path.join(work, 'reference-average.safetensors');
    await mergeToFile(models, undefined, { kind: 'average' }, avgFile);
    const avg = openWeights(avgFile);
    await scoreRow('average', avg, (await dev(avg, { signal })).score);
    avg.close();
    if (base !== undefined) {
      let best: { lambda: number; score: number } | undefined;
      for (const lambda of TA_LAMBDAS) {
        const f = path.join(work, `reference-ta-${lambda}.safetensors`);
        await mergeToFile(models, base, { kind: 'task_arithmetic', lambda }, f);
        const w = openWeights(f);
        const { score } = await dev(w, { signal });
        w.close();
        if (best === undefined || score > best.score) best = { lambda, score };
      }
      const w = openWeights(path.join(work, `reference-ta-${best!.lambda}.safetensors`));
      await scoreRow(`task_arithmetic (λ = ${best!.lambda} chosen on dev)`, w, best!.score);
      w.close();
    }
    // The oracle: in-domain set i (in the order of `models`) by model i.
    const own: number[] = [];
    for (const [i, m] of models.entries()) {
      const perFile = await test.evaluateSets(m);
      const set = t.in_domain[i];
      if (set !== undefined) own.push(perFile[t.sets[set]!]!);
    }
    rows.push({ name: 'per-domain oracle (each domain by its own fine-tune)', inDomain: own.reduce((a, b) => a + b, 0) / own.length, outOfDomain: NaN, dev: null });
  } finally {
    for (const m of models) m.close();
    base?.close();
  }
  return rows;
}
