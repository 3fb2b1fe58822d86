/**
 * Evolution of merge recipes (what mergekit-evolve does, on this tool's kernels): differential
 * evolution over a recipe's parameters, each trial one merge of the input models into
 * `<output>/trial/` and one fitness evaluation of it. Generational DE: the trials of generation g
 * are made from the population as it was when g began, and a trial replaces its target when it
 * scores strictly higher. The run folder holds recipe.json (the config), journal.jsonl (one line
 * per trial), and at the end best-recipe.yaml (a mergekit config) and best/ (its merge).
 * A resumed run replays the journal (no trial is evaluated twice) and continues where it stopped.
 */
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { type Evaluator, checkFitness } from '../evolve/evaluator.js';
import { RunFolderError, RunFolderExistsError } from '../evolve/run-folder.js';
import { runMerge } from '../merge/run.js';
import { carryModelFiles } from '../store/carried-files.js';
import { openWeights } from '../store/checkpoint.js';
import { writeFileAtomic } from '../store/write-checkpoint.js';
import type { RecipeConfig } from './config.js';
import { initialMember, trialDraws, trialVector, uniforms } from './de.js';
import { type Gene, genesOf, recipeConfig, recipeObject } from './genome.js';
import { type RecipeTrial, appendTrial, readTrials } from './journal.js';

export interface RecipeRunOptions {
  config: RecipeConfig;
  /** Names the config in errors. */
  configFile: string;
  evaluator: Evaluator;
  /** Continue the run in config.output from its journal. */
  resume?: boolean;
  onTrial?: (t: RecipeTrial & { replayed: boolean }) => void;
  signal?: AbortSignal;
}

export interface RecipeRunResult {
  folder: string;
  trials: number;
  /** How many came from the journal rather than being evaluated now. */
  replayed: number;
  best: { score: number; member: number; recipe: Record<string, unknown>; folder: string; recipeFile: string };
}

export const recipePaths = (dir: string) => ({
  config: path.join(dir, 'recipe.json'),
  journal: path.join(dir, 'journal.jsonl'),
  trial: path.join(dir, 'trial'),
  best: path.join(dir, 'best'),
  bestRecipe: path.join(dir, 'best-recipe.yaml'),
});

export async function runRecipeEvolution(o: RecipeRunOptions): Promise<RecipeRunResult> {
  const c = o.config;
  const paths = recipePaths(c.output);
  const genes = genesOf(c, o.configFile);
  const dims = genes.length;
  const past = prepareFolder(c, paths, o.resume === true);
  let replayed = 0;

  const score = async (k: number, generation: number, member: number, genome: number[], accepted: (s: number) => boolean): Promise<RecipeTrial> => {
    const old = past[k];
    if (old !== undefined) {
      // Replay: the same draws must give the same genome, or the journal belongs to another config.
      if (old.k !== k || old.genome.length !== dims || old.genome.some((x, d) => x !== genome[d])) {
        throw new RunFolderError(`${paths.journal}: line ${k + 1} does not match the trial this config makes (was the config changed?)`);
      }
      replayed++;
      o.onTrial?.({ ...old, replayed: true });
      return old;
    }
    if (o.signal?.aborted) throw new RunFolderError(`stopped before trial ${k}; resume with: evolver evolve-recipe --resume ${c.output}`);
    const t0 = performance.now();
    const fitness = await evaluateRecipe(c, genes, genome, paths.trial, o);
    const trial: RecipeTrial = {
      k, generation, member, genome,
      values: genes.map((g, d) => ({ param: g.param, ...(g.model === undefined ? {} : { model: g.model }), group: g.group, value: g.low + genome[d]! * (g.high - g.low) })),
      score: fitness.score, metrics: fitness.metrics, accepted: accepted(fitness.score), seconds: (performance.now() - t0) / 1000,
    };
    appendTrial(paths.journal, trial);
    o.onTrial?.({ ...trial, replayed: false });
    return trial;
  };

  let pop: number[][] = [];
  let fit: number[] = [];
  for (let i = 0; i < c.population; i++) {
    const genome = initialMember(c.seed, i, dims);
    const t = await score(i, -1, i, genome, () => true);
    pop.push(genome);
    fit.push(t.score);
  }
  for (let g = 0; g < c.generations; g++) {
    const next = pop.slice();
    const nextFit = fit.slice();
    for (let i = 0; i < c.population; i++) {
      const k = c.population * (g + 1) + i;
      const genome = trialVector(pop, i, c.F, c.CR, uniforms(c.seed, k, trialDraws(dims)));
      const t = await score(k, g, i, genome, (s) => s > fit[i]!);
      if (t.accepted) {
        next[i] = genome;
        nextFit[i] = t.score;
      }
    }
    pop = next;
    fit = nextFit;
  }
  // The best member (the first on ties): its recipe as YAML, and its merge as best/.
  const member = fit.reduce((b, s, i) => (s > fit[b]! ? i : b), 0);
  const recipe = recipeObject(c, genes, pop[member]!);
  const header = `# evolver evolve-recipe: the best member of a run (${c.population} members, ${c.generations} generations, seed ${c.seed}); dev fitness ${fit[member]}.\n`
    + `# Reproduce: evolver merge best-recipe.yaml OUT --seed ${c.seed}   (the seed fixes DARE-family masks)\n`;
  writeFileAtomic(paths.bestRecipe, header + stringify(recipe));
  await runMerge(recipeConfig(c, genes, pop[member]!, o.configFile), paths.best, { seed: c.seed, overwrite: true });
  carryModelFiles([c.base, c.models[0]], paths.best);
  fs.rmSync(paths.trial, { recursive: true, force: true });
  const trials = c.population * (c.generations + 1);
  return { folder: c.output, trials, replayed, best: { score: fit[member]!, member, recipe, folder: paths.best, recipeFile: paths.bestRecipe } };
}

/** One trial: the recipe merged into `dir` (replacing the last trial's), then scored. */
async function evaluateRecipe(c: RecipeConfig, genes: Gene[], genome: number[], dir: string, o: RecipeRunOptions) {
  const merge = recipeConfig(c, genes, genome, o.configFile);
  fs.rmSync(dir, { recursive: true, force: true });
  await runMerge(merge, dir, { seed: c.seed });
  carryModelFiles([c.base, c.models[0]], dir);  // a command fitness loads the folder as a model
  const weights = openWeights(dir);
  try {
    return checkFitness(await o.evaluator(weights, { signal: o.signal ?? new AbortController().signal }));
  } finally {
    weights.close();
  }
}

/** A new run needs an empty (or absent) folder; a resumed one its recipe.json, unchanged in what it searches. */
function prepareFolder(c: RecipeConfig, paths: ReturnType<typeof recipePaths>, resume: boolean): RecipeTrial[] {
  if (resume) {
    if (!fs.existsSync(paths.config)) throw new RunFolderError(`${c.output} holds no recipe run to resume (no recipe.json)`);
    const saved = JSON.parse(fs.readFileSync(paths.config, 'utf8')) as { config: RecipeConfig };
    const { output: _a, ...was } = saved.config;
    const { output: _b, ...now } = c;
    if (JSON.stringify(was) !== JSON.stringify(now)) throw new RunFolderError(`${paths.config}: the run was started with another config; resume it with its own (evolver evolve-recipe --resume ${c.output})`);
    return readTrials(paths.journal);
  }
  if (fs.existsSync(c.output) && fs.readdirSync(c.output).length > 0) {
    throw new RunFolderExistsError(`${c.output} is not empty; choose a new output folder, or continue that run with evolver evolve-recipe --resume ${c.output}`);
  }
  fs.mkdirSync(c.output, { recursive: true });
  writeFileAtomic(paths.config, JSON.stringify({ config: c }, null, 2) + '\n');
  return [];
}
