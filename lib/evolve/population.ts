/**
 * The population: N weight sets with identical evolved tensors (names, shapes, dtypes),
 * checked up front. Tensors to evolve are chosen by include/exclude regular expressions; the
 * others are carried from the first model. Inputs are never modified.
 */
import { EvolverArgumentError, WeightFileError } from '../errors.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import type { TensorMeta } from '../store/source.js';
import { ConfigError } from './config.js';
import { type NameMatcher, NameRegexError, compileNameRegex } from './tensor-regex.js';

export class PopulationError extends EvolverArgumentError {
  override readonly name = 'PopulationError';
}

export interface TensorPlanEntry {
  name: string;
  meta: TensorMeta;
  evolved: boolean;
  /** Position among the evolved tensors in sorted order (the j of the Philox stream), or -1. */
  j: number;
}

/**
 * Splits tensor names into evolved (matching an include pattern and no exclude pattern) and
 * carried. Patterns run on a linear-time engine (see tensor-regex.ts): a pattern RE2 cannot run
 * (backreference, lookaround) is a ConfigError naming the field (`include[i]` / `exclude[i]`)
 * and the pattern; `configFile` names the config in that error.
 */
export function selectTensors(names: readonly string[], include: readonly string[], exclude: readonly string[], configFile = 'evolve config'): { evolved: string[]; carried: string[] } {
  const compile = (field: string) => (pattern: string, i: number): NameMatcher => {
    try {
      return compileNameRegex(pattern);
    } catch (err) {
      if (err instanceof NameRegexError) throw new ConfigError(configFile, `${field}[${i}]`, err.message);
      throw err;
    }
  };
  const inc = include.map(compile('include'));
  const exc = exclude.map(compile('exclude'));
  const evolved: string[] = [];
  const carried: string[] = [];
  for (const name of [...names].sort()) {
    const chosen = inc.some((r) => r.test(name)) && !exc.some((r) => r.test(name));
    (chosen ? evolved : carried).push(name);
  }
  return { evolved, carried };
}

/**
 * Checks the models form a population for these evolved tensors; the error names the first
 * mismatch and both files.
 */
export function checkPopulation(models: readonly WeightSet[], evolved: readonly string[], minimum: number, strategy: string): void {
  if (models.length < minimum) {
    throw new PopulationError(`strategy ${strategy} needs a population of at least ${minimum} models, got ${models.length}`);
  }
  const first = models[0]!;
  if (evolved.length === 0) throw new PopulationError(`no tensor of ${first.path} matches include/exclude: nothing to evolve`);
  // Tensor j draws from Philox stream k * 2^20 + j; j = 2^20 - 1 is the trial's own stream.
  if (evolved.length >= 2 ** 20 - 1) throw new PopulationError(`${evolved.length} evolved tensors: at most ${2 ** 20 - 2} are supported (Philox streams k * 2^20 + j)`);
  for (const name of evolved) {
    const m = first.meta(name);
    if (!isComputeDType(m.dtype)) throw new WeightFileError('UNKNOWN_DTYPE', first.path, `${m.dtype} cannot be evolved (F32, F16 and BF16 can); exclude it`, { tensor: name });
  }
  for (const other of models.slice(1)) {
    for (const name of evolved) {
      if (!other.has(name)) throw new PopulationError(`tensor '${name}' is in ${first.path} but not in ${other.path}`);
      const a = first.meta(name), b = other.meta(name);
      if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
        throw new PopulationError(`tensor '${name}' is ${a.dtype} ${JSON.stringify(a.shape)} in ${first.path} but ${b.dtype} ${JSON.stringify(b.shape)} in ${other.path}`);
      }
    }
  }
}

export function openModels(paths: readonly string[]): WeightSet[] {
  const opened: WeightSet[] = [];
  try {
    for (const p of paths) opened.push(openWeights(p));
  } catch (err) {
    for (const o of opened) o.close();
    throw err;
  }
  return opened;
}

/** The layout of every offspring: all tensors of the first model, evolved ones marked. */
export function tensorPlan(first: WeightSet, evolved: readonly string[]): TensorPlanEntry[] {
  const index = new Map(evolved.map((n, j) => [n, j]));
  return first.names().map((name) => ({ name, meta: first.meta(name), evolved: index.has(name), j: index.get(name) ?? -1 }));
}
