/**
 * Extra initial members made from one-shot merges of the input models (docs/design.md: "extra
 * initial members may come from merges"). A merge sits between the fine-tunes, near the base:
 * it scores well on every domain at once, held-out ones included, so a member that starts there
 * gives evolution a generalist to refine instead of four specialists to pull together.
 *
 * The merges are made once, when a run starts, into <run>/initial/, and recorded in run.json
 * (name, file, recipe); a resume opens those files and checks them against the checksums
 * run.json's initial scores recorded, so replay stays exact. A task-arithmetic member's λ is
 * chosen on the fitness (the dev sets), never on held-out data.
 */
import fs from 'node:fs';
import path from 'node:path';

import { depthGroups } from '../merge/depth-groups.js';
import { searchDepthWeights } from '../merge/depth-search.js';
import { chooseOnDev, mergeComputes, mergeInto, mergeToFile, type SimpleMerge } from '../merge/simple.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import type { EvolveConfig } from './config.js';
import type { Fitness } from './evaluator.js';
import { tensorPlan } from './population.js';
import { TrialSlot } from './trial-slot.js';

export interface InitialMerge {
  /** average | task_arithmetic | ties */
  name: string;
  /** Relative to the run folder. */
  file: string;
  merge: SimpleMerge;
  /** Dev fitness of each candidate λ tried (task arithmetic, TIES). */
  candidates?: { lambda: number; fitness: number }[];
  /** Task arithmetic refined by depth (config depth_search): the dev fitness before and after, and the merges scored. */
  depthSearch?: { from: number; to: number; evaluations: number; groups: string[] };
}

type Score = (w: WeightSet) => Promise<Fitness>;
type DepthSearchConfig = NonNullable<NonNullable<EvolveConfig['initial_merges']>['depth_search']>;

/** The merges `config.initial_merges` asks for, in a fixed order: average, task_arithmetic, ties. */
export async function makeInitialMerges(config: EvolveConfig, inputs: readonly WeightSet[], runDir: string, score: Score, log: (line: string) => void = () => {}): Promise<InitialMerge[]> {
  const m = config.initial_merges;
  if (m === undefined) return [];
  const dir = path.join(runDir, 'initial');
  fs.mkdirSync(dir, { recursive: true });
  const base = m.base === undefined ? undefined : openWeights(m.base);
  const made: InitialMerge[] = [];
  const make = async (name: string, merge: SimpleMerge): Promise<string> => {
    const file = path.join('initial', `${name}.safetensors`);
    await mergeToFile(inputs, base, merge, path.join(runDir, file));
    return file;
  };
  /** Makes each λ's merge and scores it on dev; the best (ties: the first) becomes the member, made once. */
  const byDev = async (name: string, lambdas: readonly number[], merge: (lambda: number) => SimpleMerge): Promise<InitialMerge> => {
    const { candidate, made: kept, scores } = await chooseOnDev(
      lambdas.map((lambda, i) => ({ lambda, i })),
      async (c) => ({ file: await make(`${name}-candidate-${c.i}`, merge(c.lambda)) }),
      async ({ file }) => {
        using w = openWeights(path.join(runDir, file));
        return (await score(w)).score;
      },
      ({ file }) => fs.rmSync(path.join(runDir, file), { force: true }),
    );
    const file = path.join('initial', `${name}.safetensors`);
    fs.renameSync(path.join(runDir, kept.file), path.join(runDir, file));
    return { name, file, merge: merge(candidate.lambda), candidates: lambdas.map((lambda, i) => ({ lambda, fitness: scores[i]! })) };
  };
  try {
    if (m.average) made.push({ name: 'average', file: await make('average', { kind: 'average' }), merge: { kind: 'average' } });
    if (m.task_arithmetic !== undefined) {
      const ta = await byDev('task_arithmetic', m.task_arithmetic, (lambda) => ({ kind: 'task_arithmetic', lambda }));
      made.push(m.depth_search === undefined ? ta : await refineByDepth(ta, m.depth_search, inputs, base!, runDir, score, log));
    }
    if (m.ties !== undefined) {
      const density = m.ties.density;
      made.push(await byDev('ties', m.ties.lambdas, (lambda) => ({ kind: 'ties', lambda, density })));
    }
  } finally {
    base?.close();
  }
  return made;
}

/**
 * The task-arithmetic member refined by depth. Candidates are merged in memory (a trial slot laid
 * out like the first model: no file, no fsync per candidate, which at LLM scale would be gigabytes
 * written to disk per score) and scored there; the best weights are merged once more into the
 * member's file.
 */
async function refineByDepth(ta: InitialMerge, o: DepthSearchConfig, inputs: readonly WeightSet[], base: WeightSet, runDir: string, score: Score, log: (line: string) => void): Promise<InitialMerge> {
  const lambda = (ta.merge as { lambda: number }).lambda;
  const from = ta.candidates!.find((c) => c.lambda === lambda)!.fitness;
  const first = inputs[0]!;
  const groups = depthGroups(first.names(), o.groups);
  const weights = inputs.length * groups.count;
  log(`task arithmetic (λ = ${lambda}, dev fitness ${from.toFixed(6)}) by depth: searching ${weights} weights (${inputs.length} models × ${groups.labels.join(', ')}) on dev, ${o.sweeps} sweep(s) of ${2 * weights} to ${3 * weights} merges`);
  const merge = (w: number[][]): SimpleMerge => ({ kind: 'task_arithmetic', lambda, depth: { groups: o.groups, weights: w } });
  const { computed } = mergeComputes(inputs, base, merge([]));
  const slot = TrialSlot.create(tensorPlan(first, first.names().filter(computed)), first, 'evolver-depth-search');
  let found;
  try {
    const onSweep = (sweep: number, best: number, n: number) => log(`  sweep ${sweep}/${o.sweeps}: dev fitness ${best.toFixed(6)} (${n} merges scored)`);
    found = await searchDepthWeights({ models: inputs.length, groups: groups.count, sweeps: o.sweeps, step: o.step, onSweep }, from, async (w) => {
      await mergeInto(inputs, base, merge(w), slot);
      return (await score(slot.weights)).score;
    });
  } finally {
    slot.close();
  }
  if (found.score <= from) return { ...ta, depthSearch: { from, to: from, evaluations: found.evaluations, groups: groups.labels } };
  const refined = merge(found.weights);
  await mergeToFile(inputs, base, refined, path.join(runDir, ta.file));
  return { ...ta, merge: refined, depthSearch: { from, to: found.score, evaluations: found.evaluations, groups: groups.labels } };
}

/** Opens the recorded merges of a resumed run (their checksums are checked by the caller). */
export function openInitialMerges(recorded: readonly InitialMerge[], runDir: string): WeightSet[] {
  const opened: WeightSet[] = [];
  try {
    for (const r of recorded) opened.push(openWeights(path.join(runDir, r.file)));
  } catch (err) {
    for (const o of opened) o.close();
    throw err;
  }
  return opened;
}
