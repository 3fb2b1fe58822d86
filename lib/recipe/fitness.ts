/** The evaluator of a recipe run: the `fitness:` section as `evolver evolve` builds it (lib/evolve/fitness.ts). */
import type { EvolveConfig } from '../evolve/config.js';
import type { Evaluator } from '../evolve/evaluator.js';
import { evaluatorFor } from '../evolve/fitness.js';
import type { RecipeConfig } from './config.js';

export function recipeEvaluator(c: RecipeConfig, configFile: string): Promise<Evaluator> {
  // evaluatorFor reads the models (a module's context, a command's config.json) and fitness only.
  const asEvolve = { models: c.base === undefined ? c.models : [...c.models, c.base], output: c.output, fitness: c.fitness } as unknown as EvolveConfig;
  return evaluatorFor(asEvolve, configFile);
}
