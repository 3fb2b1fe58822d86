/**
 * Fitness. An Evaluator scores a read-only weight set (zero-copy views): higher is better;
 * losses are negated and say so in their metric names. This module ships the JS evaluators:
 * a callback for library users, and a JS module named in the config for the CLI.
 */
import { pathToFileURL } from 'node:url';

import type { WeightSet } from '../store/checkpoint.js';
import type { EvolveConfig } from './config.js';
import { ConfigError } from './config.js';

export interface Fitness {
  /** Higher is better. NaN is treated as -Infinity (the trial is rejected). */
  score: number;
  /** Per dev set (or per component) values, reported in the journal and the report. */
  metrics: Record<string, number>;
  /** Why the score is -Infinity (an external evaluator's failure), journaled with the rejected trial. */
  reason?: string;
}

export type Evaluator = (weights: WeightSet, options: { signal: AbortSignal }) => Promise<Fitness>;

/**
 * A fitness module exports a factory (default export unless `fitness.export` names another):
 * `async (options, context) => Evaluator`, called once per run with `fitness.options`.
 */
export interface EvaluatorContext {
  models: string[];
  configDir: string;
}

export async function loadModuleEvaluator(fitness: Extract<EvolveConfig['fitness'], { type: 'module' }>, context: EvaluatorContext, configFile: string): Promise<Evaluator> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(fitness.path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(configFile, 'fitness.path', `cannot load ${fitness.path} (${(err as Error).message.split('\n')[0]})`);
  }
  const exported = mod[fitness.export];
  if (typeof exported !== 'function') throw new ConfigError(configFile, 'fitness.export', `${fitness.path} has no function export '${fitness.export}'`);
  const evaluator = await (exported as (o: unknown, c: EvaluatorContext) => Evaluator | Promise<Evaluator>)(fitness.options, context);
  if (typeof evaluator !== 'function') throw new ConfigError(configFile, 'fitness.export', `the factory '${fitness.export}' of ${fitness.path} did not return an evaluator function`);
  return evaluator;
}

/** Normalizes what an evaluator returned. */
export function checkFitness(f: unknown): Fitness {
  const score = (f as Fitness | undefined)?.score;
  if (typeof score !== 'number') throw new TypeError(`the evaluator returned ${JSON.stringify(f)}, expected { score: number, metrics }`);
  const metrics = (f as Fitness).metrics ?? {};
  const reason = (f as Fitness).reason;
  return { score: Number.isNaN(score) ? -Infinity : score, metrics, ...(typeof reason === 'string' ? { reason } : {}) };
}
