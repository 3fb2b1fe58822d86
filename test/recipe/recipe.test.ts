import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';

import { ConfigError } from '../../lib/evolve/config.js';
import { validateMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { type RecipeConfig, resolveRecipePaths, validateRecipeConfig } from '../../lib/recipe/config.js';
import { trialVector } from '../../lib/recipe/de.js';
import { genesOf } from '../../lib/recipe/genome.js';
import { recipeEvaluator } from '../../lib/recipe/fitness.js';
import { readTrials } from '../../lib/recipe/journal.js';
import { recipePaths, runRecipeEvolution } from '../../lib/recipe/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { FORTUNES, tempDir } from '../helpers.js';

function recipeConfig(overrides: Record<string, unknown> = {}): RecipeConfig {
  const raw = {
    models: ['computers', 'politics', 'science', 'songs-poems'].map((d) => `models-bf16/${d}.safetensors`),
    base: 'models-bf16/base.safetensors',
    method: 'ties',
    genes: { weight: [0, 1], density: [0.2, 1] },
    output: path.join(tempDir('evolver-recipe-'), 'run'),
    seed: 3,
    population: 5,
    generations: 2,
    fitness: { type: 'module', path: 'fitness/weight-distance.mjs' },
    ...overrides,
  };
  return resolveRecipePaths(validateRecipeConfig(raw, 'recipe.yaml'), FORTUNES);
}

const bytesOf = (target: string) => {
  using w = openWeights(target);
  return Buffer.concat(w.names().flatMap((n) => w.chunks(n)));
};

describe('evolver evolve-recipe: differential evolution of merge recipes', function () {
  this.timeout(300_000);

  it('runs DE over a ties recipe: a journal line per trial, the best recipe as mergekit YAML that reproduces best/', async () => {
    const c = recipeConfig();
    const evaluator = await recipeEvaluator(c, 'recipe.yaml');
    const result = await runRecipeEvolution({ config: c, configFile: 'recipe.yaml', evaluator });
    const paths = recipePaths(c.output);
    const trials = readTrials(paths.journal);
    assert.equal(trials.length, 5 * 3);
    assert.deepEqual(trials.map((t) => t.k), [...Array(15).keys()]);
    for (const t of trials) {
      assert.equal(t.genome.length, 8);  // weight and density for 4 models
      assert.ok(t.genome.every((x) => x >= 0 && x <= 1));
      assert.ok(Number.isFinite(t.score) && t.score < 0);
    }
    // Generational DE: a trial is accepted iff it beats its target as the generation began.
    const current = trials.slice(0, 5).map((t) => t.score);
    for (let g = 0; g < 2; g++) {
      const gen = trials.slice(5 * (g + 1), 5 * (g + 2));
      gen.forEach((t, i) => assert.equal(t.accepted, t.score > current[i]!, `trial ${t.k}`));
      gen.forEach((t, i) => { if (t.accepted) current[i] = t.score; });
    }
    assert.equal(result.best.score, Math.max(...current));
    assert.ok(result.best.score >= Math.max(...trials.slice(0, 5).map((t) => t.score)));
    // The YAML is a merge config; merging it again gives best/ byte for byte.
    const yamlFile = paths.bestRecipe;
    const recipe = parseYaml(fs.readFileSync(yamlFile, 'utf8')) as Record<string, unknown>;
    assert.equal(recipe.merge_method, 'ties');
    const again = path.join(tempDir(), 'again');
    await runMerge(validateMergeConfig(recipe, yamlFile), again, { seed: c.seed });
    assert.ok(bytesOf(again).equals(bytesOf(paths.best)));
    assert.ok(fs.existsSync(path.join(paths.best, 'config.json')));
    // The best genome's decoded values are what the YAML holds.
    const best = trials.filter((t) => t.score === result.best.score)[0]!;
    const weight0 = best.values.find((v) => v.param === 'weight' && v.model === 0)!.value;
    assert.equal((recipe.models as { parameters: { weight: number } }[])[0]!.parameters.weight, weight0);
    assert.equal(fs.existsSync(recipePaths(c.output).trial), false);
  });

  it('a seed reproduces a run; resume from a cut journal gives the same trials and the same best without re-evaluating', async () => {
    const c = recipeConfig({ method: 'dare_ties', genes: { weight: [0.1, 1], lambda: [0.5, 1.5] }, layer_groups: 2 });
    const evaluator = await recipeEvaluator(c, 'recipe.yaml');
    const full = await runRecipeEvolution({ config: c, configFile: 'recipe.yaml', evaluator });
    const all = readTrials(recipePaths(c.output).journal);
    assert.equal(all[0]!.genome.length, 4 * 2 + 1);  // per model x 2 layer groups, plus lambda

    // The same config into another folder, stopped after 7 trials (a torn 8th line), then resumed.
    const other = { ...c, output: path.join(tempDir('evolver-recipe-'), 'run') };
    const lines = fs.readFileSync(recipePaths(c.output).journal, 'utf8').split('\n');
    fs.mkdirSync(other.output, { recursive: true });
    fs.writeFileSync(recipePaths(other.output).config, JSON.stringify({ config: other }));
    fs.writeFileSync(recipePaths(other.output).journal, lines.slice(0, 7).join('\n') + '\n' + lines[7]!.slice(0, 20));
    let evaluated = 0;
    const counting: typeof evaluator = async (w, s) => { evaluated++; return evaluator(w, s); };
    const resumed = await runRecipeEvolution({ config: other, configFile: 'recipe.yaml', evaluator: counting, resume: true });
    assert.equal(resumed.replayed, 7);
    assert.equal(evaluated, all.length - 7);
    const again = readTrials(recipePaths(other.output).journal);
    assert.deepEqual(again.map((t) => [t.k, t.genome, t.score, t.accepted]), all.map((t) => [t.k, t.genome, t.score, t.accepted]));
    assert.equal(resumed.best.score, full.best.score);
    assert.ok(bytesOf(recipePaths(other.output).best).equals(bytesOf(recipePaths(c.output).best)));
    // Gradients: layer_groups 2 writes each per-model gene as a 2-point list.
    const recipe = parseYaml(fs.readFileSync(recipePaths(c.output).bestRecipe, 'utf8')) as { models: { parameters: { weight: number[] } }[] };
    assert.equal(recipe.models[0]!.parameters.weight.length, 2);

    // A new run refuses a used folder; a resumed run refuses a changed config.
    await assert.rejects(runRecipeEvolution({ config: c, configFile: 'recipe.yaml', evaluator }), /not empty.*--resume/);
    await assert.rejects(runRecipeEvolution({ config: { ...c, F: 0.9 }, configFile: 'recipe.yaml', evaluator, resume: true }), /another config/);
  });

  it('DE trial vectors: three distinct others, gene jrand always from the mutant, results inside [0, 1]', () => {
    const pop = [[0, 0], [1, 1], [0.5, 0.5], [0.2, 0.9], [0.9, 0.2]];
    // u: picks among the 4 others (0.0 -> member 1), then among 3 left (0.99 -> member 4), then 2 left (0.0 -> member 2); jrand = 1; CR draws.
    const v = trialVector(pop, 0, 0.5, 0, [0, 0.99, 0, 0.6, 0.5, 0.5]);
    // CR 0: only gene jrand (1) comes from the mutant 1 + 0.5 (0.2 - 0.5) = 0.85.
    assert.deepEqual(v, [0, 1 + 0.5 * (0.2 - 0.5)]);
    const w = trialVector(pop, 0, 2, 1, [0, 0.99, 0, 0.6, 0.5, 0.5]);
    assert.ok(w.every((x) => x >= 0 && x <= 1));
  });

  it('bad recipes are errors naming the key', () => {
    const expect = (overrides: Record<string, unknown>, keyPath: string, pattern: RegExp) =>
      assert.throws(() => { const c = recipeConfig(overrides); genesOf(c, 'recipe.yaml'); }, (e: unknown) => e instanceof ConfigError && e.keyPath === keyPath && pattern.test(e.message));
    expect({ method: 'frankenmerge' }, 'method', /expected one of linear/);
    expect({ genes: { t: [0, 1] } }, 'genes.t', /ties has no numeric parameter 't'/);
    expect({ genes: { normalize: [0, 1] } }, 'genes.normalize', /no numeric parameter/);
    expect({ genes: { density: [0, 2] } }, 'genes.density', /outside density's range \[0, 1\]/);
    expect({ genes: { weight: [1, 0] } }, 'genes.weight', /low <= high/);
    expect({ genes: { weight: [0, 1] }, parameters: { weight: 1 } }, 'parameters.weight', /searched/);
    expect({ population: 3 }, 'population', /at least 4/);
    expect({ base: undefined }, 'base_model', /needs a base_model/);
    expect({ method: 'linear', genes: { density: [0, 1] } }, 'genes.density', /linear has no numeric parameter 'density'/);
    expect({ method: 'linear', base: undefined, genes: { weight: [0, 1] }, parameters: { lambda: 1 } }, 'parameters.lambda', /linear has no parameter 'lambda'/);
  });
});
