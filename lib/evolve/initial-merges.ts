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

/** Scores a merge on dev; `what` names it in errors (a merge in memory has no file of its own). */
type Score = (w: WeightSet, what?: string) => Promise<Fitness>;
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
  // Merges that are scored and thrown away (λ candidates, the depth search's) are made in
  // memory, in a trial slot laid out like the first model: no file and no fsync per candidate,
  // which at LLM scale would be gigabytes written to disk per score. Task arithmetic and TIES
  // compute the same tensors (those of a compute dtype the base has), so one slot serves both.
  let slot: TrialSlot | undefined;
  const scoreInMemory = async (merge: SimpleMerge): Promise<number> => {
    if (slot === undefined) {
      const first = inputs[0]!;
      const { computed } = mergeComputes(inputs, base, merge);
      slot = TrialSlot.create(tensorPlan(first, first.names().filter(computed)), first, 'evolver-initial-merges');
    }
    await mergeInto(inputs, base, merge, slot);
    const what = `${merge.kind} merge λ = ${'lambda' in merge ? merge.lambda : ''}${merge.kind === 'task_arithmetic' && merge.depth !== undefined ? ' by depth' : ''} (in memory)`;
    return (await score(slot.weights, what)).score;
  };
  /** Scores each λ's merge on dev: the best (ties: the first), and every candidate's score. */
  const byDev = async (lambdas: readonly number[], merge: (lambda: number) => SimpleMerge) => {
    const { candidate, scores } = await chooseOnDev(lambdas, async (lambda) => lambda, (lambda) => scoreInMemory(merge(lambda)), () => {});
    return { lambda: candidate, fitness: scores[lambdas.indexOf(candidate)]!, candidates: lambdas.map((lambda, i) => ({ lambda, fitness: scores[i]! })) };
  };
  /** The member: written once, when its recipe is final. */
  const member = async (name: string, merge: SimpleMerge, rest: Omit<InitialMerge, 'name' | 'file' | 'merge'> = {}): Promise<InitialMerge> => ({ name, file: await make(name, merge), merge, ...rest });
  try {
    if (m.average) made.push(await member('average', { kind: 'average' }));
    if (m.task_arithmetic !== undefined) {
      const chosen = await byDev(m.task_arithmetic, (lambda) => ({ kind: 'task_arithmetic', lambda }));
      const plain: SimpleMerge = { kind: 'task_arithmetic', lambda: chosen.lambda };
      if (m.depth_search === undefined) made.push(await member('task_arithmetic', plain, { candidates: chosen.candidates }));
      else {
        const { merge, depthSearch } = await refineByDepth(chosen.lambda, chosen.fitness, m.depth_search, inputs, scoreInMemory, log);
        made.push(await member('task_arithmetic', merge ?? plain, { candidates: chosen.candidates, depthSearch }));
      }
    }
    if (m.ties !== undefined) {
      const density = m.ties.density;
      const chosen = await byDev(m.ties.lambdas, (lambda) => ({ kind: 'ties', lambda, density }));
      made.push(await member('ties', { kind: 'ties', lambda: chosen.lambda, density }, { candidates: chosen.candidates }));
    }
  } finally {
    slot?.close();
    base?.close();
  }
  return made;
}

/**
 * Task arithmetic (λ chosen, dev fitness `from`) refined by depth: the weights the search found,
 * candidates scored in memory (`scoreInMemory`); `merge` is undefined when none beat plain λ.
 */
async function refineByDepth(lambda: number, from: number, o: DepthSearchConfig, inputs: readonly WeightSet[], scoreInMemory: (merge: SimpleMerge) => Promise<number>, log: (line: string) => void): Promise<{ merge?: SimpleMerge; depthSearch: NonNullable<InitialMerge['depthSearch']> }> {
  const groups = depthGroups(inputs[0]!.names(), o.groups);
  const weights = inputs.length * groups.count;
  log(`task arithmetic (λ = ${lambda}, dev fitness ${from.toFixed(6)}) by depth: searching ${weights} weights (${inputs.length} models × ${groups.labels.join(', ')}) on dev, ${o.sweeps} sweep(s) of ${2 * weights} to ${3 * weights} merges`);
  const merge = (w: number[][]): SimpleMerge => ({ kind: 'task_arithmetic', lambda, depth: { groups: o.groups, weights: w } });
  const onSweep = (sweep: number, best: number, n: number) => log(`  sweep ${sweep}/${o.sweeps}: dev fitness ${best.toFixed(6)} (${n} merges scored)`);
  const found = await searchDepthWeights({ models: inputs.length, groups: groups.count, sweeps: o.sweeps, step: o.step, onSweep }, from, (w) => scoreInMemory(merge(w)));
  const improved = found.score > from;
  return { ...(improved ? { merge: merge(found.weights) } : {}), depthSearch: { from, to: improved ? found.score : from, evaluations: found.evaluations, groups: groups.labels } };
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
