/**
 * A merge recipe as a real-valued genome. Differential evolution works on u in [0, 1]^D; gene d
 * maps u to low + u (high - low) of its parameter. A per-model parameter has one gene per model
 * and layer group (G groups become a G-point mergekit gradient over depth); a global one has one
 * gene. Decoding gives a mergekit config object, so the best recipe is a YAML `evolver merge`
 * (and mergekit) reads.
 */
import { ConfigError } from '../evolve/config.js';
import { type MergeConfig, validateMergeConfig } from '../merge/config.js';
import { MERGE_METHODS, MERGE_METHOD_NAMES } from '../merge/methods.js';
import type { RecipeConfig } from './config.js';

export interface Gene {
  param: string;
  /** Index into config.models; undefined for a global parameter. */
  model?: number;
  group: number;
  low: number;
  high: number;
}

export function genesOf(c: RecipeConfig, file: string): Gene[] {
  const method = MERGE_METHODS[c.method];
  if (method === undefined) throw new ConfigError(file, 'method', `expected one of ${MERGE_METHOD_NAMES.join(', ')}, got ${JSON.stringify(c.method)}`);
  const genes: Gene[] = [];
  for (const [param, [low, high]] of Object.entries(c.genes)) {
    const def = method.params.find((p) => p.name === param);
    const numeric = method.params.filter((p) => !p.path && !p.choices && typeof p.default !== 'boolean').map((p) => p.name);
    if (def === undefined || !numeric.includes(param)) {
      throw new ConfigError(file, `genes.${param}`, `${method.name} has no numeric parameter '${param}' to search (it has ${numeric.join(', ') || 'none'})`);
    }
    if ((def.min !== undefined && low < def.min) || (def.max !== undefined && high > def.max)) {
      throw new ConfigError(file, `genes.${param}`, `[${low}, ${high}] is outside ${param}'s range [${def.min ?? '-inf'}, ${def.max ?? 'inf'}]`);
    }
    if (c.parameters[param] !== undefined) throw new ConfigError(file, `parameters.${param}`, `'${param}' is searched (genes); it cannot also be fixed`);
    if (def.perModel) {
      c.models.forEach((_, model) => {
        for (let group = 0; group < c.layer_groups; group++) genes.push({ param, model, group, low, high });
      });
    } else {
      genes.push({ param, group: 0, low, high });
    }
  }
  // The rest of the recipe is checked by the merge config's own validation, on the bounds' midpoint.
  recipeConfig(c, genes, genes.map(() => 0.5), file);
  return genes;
}

/** The mergekit config object a genome stands for. */
export function recipeObject(c: RecipeConfig, genes: readonly Gene[], u: readonly number[]): Record<string, unknown> {
  const value = (d: number) => genes[d]!.low + u[d]! * (genes[d]!.high - genes[d]!.low);
  const perModel = c.models.map(() => ({}) as Record<string, number | number[]>);
  const global: Record<string, number | boolean | string> = { ...c.parameters };
  genes.forEach((g, d) => {
    if (g.model === undefined) return void (global[g.param] = value(d));
    if (c.layer_groups === 1) return void (perModel[g.model]![g.param] = value(d));
    ((perModel[g.model]![g.param] ??= []) as number[])[g.group] = value(d);
  });
  return {
    models: c.models.map((model, i) => ({ model, parameters: perModel[i] })),
    ...(c.base === undefined ? {} : { base_model: c.base }),
    merge_method: c.method,
    ...(Object.keys(global).length > 0 ? { parameters: global } : {}),
    ...(c.dtype === undefined ? {} : { dtype: c.dtype }),
  };
}

export function recipeConfig(c: RecipeConfig, genes: readonly Gene[], u: readonly number[], file: string): MergeConfig {
  try {
    return validateMergeConfig(recipeObject(c, genes, u), file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Name the recipe's own keys: the merge config's models / parameters are this config's.
    throw new ConfigError(file, err.keyPath.replace(/^models\[\d+\]\.parameters\./, 'genes.'), `as a merge recipe: ${err.message.slice(err.message.indexOf(': ') + 2)}`);
  }
}
