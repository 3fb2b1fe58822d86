/** `evolver evolve-recipe CONFIG.yaml [--json]` and `evolver evolve-recipe --resume RUN_DIR`: DE over merge recipes. */
import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { type RecipeConfig, loadRecipeConfig } from '../recipe/config.js';
import { recipeEvaluator } from '../recipe/fitness.js';
import { recipePaths, runRecipeEvolution } from '../recipe/run.js';

export function registerRecipe(program: Command): void {
  program
    .command('evolve-recipe')
    .description('evolve a merge recipe (method parameters per model) by differential evolution, as mergekit-evolve; resumable')
    .argument('[config]', 'the recipe run configuration (YAML)')
    .option('--resume <run_dir>', 'continue a stopped run from its journal')
    .option('--json', 'one JSON line per trial, and the result, on stdout')
    .action(async (configPath: string | undefined, o: { resume?: string; json?: boolean }) => {
      if ((configPath === undefined) === (o.resume === undefined)) throw new EvolverArgumentError('give a config file, or --resume RUN_DIR (not both)');
      let config: RecipeConfig;
      let configFile: string;
      if (o.resume !== undefined) {
        const dir = path.resolve(o.resume);
        configFile = recipePaths(dir).config;
        if (!fs.existsSync(configFile)) throw new EvolverArgumentError(`${dir} holds no recipe run to resume (no recipe.json)`);
        config = { ...(JSON.parse(fs.readFileSync(configFile, 'utf8')) as { config: RecipeConfig }).config, output: dir };
      } else {
        configFile = path.resolve(configPath!);
        config = loadRecipeConfig(configFile);
      }
      const evaluator = await recipeEvaluator(config, configFile);
      try {
        const result = await runRecipeEvolution({
          config,
          configFile,
          evaluator,
          ...(o.resume !== undefined ? { resume: true } : {}),
          onTrial: (t) => {
            if (o.json) process.stdout.write(JSON.stringify({ event: 'trial', ...t }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) + '\n');
            else if (!t.replayed) process.stderr.write(`trial ${t.k} (generation ${t.generation}, member ${t.member}): fitness ${t.score.toPrecision(6)}${t.generation >= 0 ? (t.accepted ? ' accepted' : ' rejected') : ''}\n`);
          },
        });
        if (o.json) process.stdout.write(JSON.stringify({ event: 'done', ...result }) + '\n');
        else process.stdout.write(`best fitness ${result.best.score} (member ${result.best.member}) after ${result.trials} trials (${result.replayed} from the journal): ${result.best.recipeFile}, ${result.best.folder}\n`);
      } finally {
        await (evaluator as { close?: () => Promise<void> }).close?.();
      }
    });
}
