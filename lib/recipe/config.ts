/**
 * The `evolver evolve-recipe` configuration: which models a merge recipe combines, with which
 * method, which of its parameters are searched (genes, each in [low, high]) and the differential
 * evolution that searches them; the fitness section is the one `evolver evolve` takes. Paths
 * are resolved against the config's folder.
 */
import fs from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { ConfigError, ConfigSchema, type EvolveConfig, resolvePaths } from '../evolve/config.js';

const bounds = z.tuple([z.number(), z.number()]).refine(([lo, hi]) => lo <= hi, 'expected [low, high] with low <= high');

export const RecipeConfigSchema = z.strictObject({
  /** The models merged (besides the base). */
  models: z.array(z.string().min(1)).min(1),
  base: z.string().min(1).optional(),
  method: z.string().min(1),
  /** Searched parameters: name -> [low, high]. A per-model parameter gets one gene per model (and layer group). */
  genes: z.record(z.string(), bounds).refine((g) => Object.keys(g).length > 0, 'name at least one parameter to search'),
  /** Fixed global parameters of the method (normalize, rescale, ...). */
  parameters: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).default({}),
  /** Per-model genes per group of layers: G > 1 writes each as a G-point gradient over depth. */
  layer_groups: z.number().int().min(1).max(64).default(1),
  dtype: z.enum(['float32', 'float16', 'bfloat16']).optional(),
  output: z.string().min(1),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  population: z.number().int().min(4, 'differential evolution needs at least 4 members (3 others to mix)').default(8),
  generations: z.number().int().min(1).default(5),
  F: z.number().min(0).max(2).default(0.5),
  CR: z.number().min(0).max(1).default(0.9),
  fitness: ConfigSchema.shape.fitness.unwrap(),
});

export type RecipeConfig = z.infer<typeof RecipeConfigSchema>;

export function validateRecipeConfig(raw: unknown, file: string): RecipeConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, '', 'expected a mapping (models, method, genes, output, seed, fitness, ...)');
  const parsed = RecipeConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keyPath = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
    throw new ConfigError(file, keyPath, issue.message);
  }
  return parsed.data;
}

export function loadRecipeConfig(file: string): RecipeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(file, '', `cannot read it as YAML (${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]})`);
  }
  return resolveRecipePaths(validateRecipeConfig(raw, file), path.dirname(path.resolve(file)));
}

export function resolveRecipePaths(c: RecipeConfig, dir: string): RecipeConfig {
  const abs = (p: string) => path.resolve(dir, p);
  // The fitness section's paths resolve as evolve's do.
  const { fitness } = resolvePaths({ models: [], output: '.', fitness: c.fitness } as unknown as EvolveConfig, dir);
  return { ...c, models: c.models.map(abs), ...(c.base === undefined ? {} : { base: abs(c.base) }), output: abs(c.output), fitness: fitness! };
}
