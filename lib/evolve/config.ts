/**
 * The `evolver evolve` configuration: YAML validated by a zod schema. An error names the key
 * path and what was expected. Paths are resolved relative to the config file.
 */
import fs from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { EvolverArgumentError } from '../errors.js';
import { MERGE_METHODS } from '../merge/methods.js';
import { GRANULARITIES, STRATEGY_NAMES } from '../kernels/strategies.js';
import { nameRegexProblem } from './tensor-regex.js';

export class ConfigError extends EvolverArgumentError {
  override readonly name = 'ConfigError';
  readonly file: string;
  readonly keyPath: string;
  constructor(file: string, keyPath: string, message: string) {
    super(`${file}: ${keyPath === '' ? '' : `${keyPath}: `}${message}`);
    this.file = file;
    this.keyPath = keyPath;
  }
}

/** A fixed value, or a [low, high] range dithered per trial. */
const fixedOrRange = (min: number, max: number) =>
  z.union([
    z.number().min(min).max(max),
    z.tuple([z.number().min(min).max(max), z.number().min(min).max(max)]).refine(([lo, hi]) => lo <= hi, 'the range must be [low, high] with low <= high'),
  ]);

/** A tensor-name pattern, checked by the linear-time engine that will run it (tensor-regex.ts). */
const regexString = z.string().superRefine((s, ctx) => {
  const problem = nameRegexProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const moduleFitness = z.strictObject({
  type: z.literal('module'),
  /** A JS module (relative to the config) whose export is an Evaluator or a factory of one. */
  path: z.string().min(1),
  export: z.string().default('default'),
  options: z.record(z.string(), z.unknown()).default({}),
});

const onnxFitness = z.strictObject({
  type: z.literal('onnx'),
  /** A graph whose weights are inputs (see `evolver onnx prepare`). */
  graph: z.string().min(1),
  /** Dev sets (JSONL); several combine by their weights (default: the mean). */
  data: z.array(z.union([z.string().min(1), z.strictObject({ file: z.string().min(1), weight: z.number().positive().default(1) })])).min(1),
  metric: z.enum(['nll', 'accuracy', 'f1']).default('nll'),
  batch_size: z.number().int().min(1).default(16),
  intra_op_threads: z.number().int().min(1).optional(),
  provider: z.enum(['cpu', 'cuda']).default('cpu'),
  text_field: z.string().default('text'),
  label_field: z.string().default('label'),
  max_length: z.number().int().min(2).optional(),
  end_token: z.number().int().min(0).optional(),
  /**
   * tokenizer.json for {"text"} lines (default: the one beside the model files, see
   * fitness-tokenizer.ts; false: the byte-level protocol).
   */
  tokenizer: z.union([z.string().min(1), z.literal(false)]).optional(),
});

/**
 * Dev-set NLL with llama.cpp (node-llama-cpp, an optional peer dependency): each offspring is
 * exported to GGUF in RAM and scored with the ONNX evaluator's protocol (lib/eval/llama-cpp.ts).
 */
const llamaCppFitness = z.strictObject({
  type: z.literal('llama.cpp'),
  data: z.array(z.union([z.string().min(1), z.strictObject({ file: z.string().min(1), weight: z.number().positive().default(1) })])).min(1),
  metric: z.literal('nll').default('nll'),
  /** Layers on the GPU: auto (as many as fit, none without a GPU) or a count (0: CPU only). */
  gpu_layers: z.union([z.literal('auto'), z.number().int().min(0)], { error: 'expected auto or a number of layers (0: CPU only)' }).default('auto'),
  /** Context = truncation length (default: n_positions / max_position_embeddings of config.json). */
  context: z.number().int().min(2).optional(),
  /** Tokens per llama.cpp decode (default: the context, at most 512). */
  batch_size: z.number().int().min(1).optional(),
  threads: z.number().int().min(1).optional(),
  text_field: z.string().default('text'),
  end_token: z.number().int().min(0).optional(),
  /**
   * tokenizer.json for {"text"} lines (default: the one beside the model files, see
   * fitness-tokenizer.ts; false: the byte-level protocol).
   */
  tokenizer: z.union([z.string().min(1), z.literal(false)]).optional(),
});

/**
 * Any external program as the fitness: each offspring is written as a Hugging Face folder (or a
 * GGUF file), `{model}` in `run` becomes its path, and the program's last stdout line is
 * `{"score": number, "metrics": {...}}` (lib/eval/command.ts).
 */
const commandFitness = z.strictObject({
  type: z.literal('command'),
  /** argv, no shell: the program is looked up on PATH unless it contains a slash (then relative to the config). */
  run: z.array(z.string()).min(1).superRefine((run, ctx) => {
    if (run[0] === '') ctx.addIssue({ code: 'custom', path: [0], message: 'the program must not be empty' });
    if (!run.some((a) => a.includes('{model}'))) ctx.addIssue({ code: 'custom', message: 'no argument contains {model} (the path of the weights to score)' });
  }),
  timeout_s: z.number().positive().default(600),
  format: z.enum(['safetensors', 'gguf']).default('safetensors'),
  env: z.record(z.string(), z.string()).default({}),
  /** The program's working directory (default: the config's folder). */
  cwd: z.string().min(1).optional(),
});

/** Evolution with a merger: fitness = the dev score of the merged population (sequential schedule). */
const merger = z.strictObject({
  method: z.enum(['linear', 'task_arithmetic', 'ties', 'dare_linear', 'dare_ties', 'breadcrumbs', 'breadcrumbs_ties', 'model_stock', 'fisher', 'regmean']),
  /** Needed by the task-vector methods (task_arithmetic, ties, dare_*, breadcrumbs*, model_stock). */
  base: z.string().min(1).optional(),
  /**
   * fisher / regmean: one statistics file per member, in the order of `models` (diagonal Fisher
   * files; Gram files from `evolver stats regmean`), computed once from the original models.
   */
  stats: z.array(z.string().min(1)).optional(),
  /** One weight per member (default: equal). */
  weights: z.array(z.number()).optional(),
  /** Global parameters of the method (lambda, density, normalize, ...). */
  parameters: z.record(z.string(), z.union([z.number(), z.boolean()])).default({}),
});

/**
 * Extra initial members: one-shot merges of `models`, made when the run starts (initial-merges.ts).
 * task_arithmetic and ties list λ candidates; the one with the best fitness (dev) is the member.
 */
const initialMerges = z.strictObject({
  /** The pretrained model the fine-tunes share: needed by task_arithmetic and ties. */
  base: z.string().min(1).optional(),
  average: z.boolean().default(false),
  task_arithmetic: z.array(z.number()).min(1).optional(),
  ties: z.strictObject({ density: z.number().gt(0).max(1).default(0.5), lambdas: z.array(z.number()).min(1).default([0.5, 0.75, 1.0, 1.25, 1.5]) }).optional(),
  /**
   * Refines the task-arithmetic member: one weight per model and depth group (the blocks in
   * `groups` runs, plus one group outside the blocks), found by a coordinate search on the dev
   * fitness starting from the chosen λ (lib/merge/depth-search.ts).
   */
  depth_search: z.strictObject({
    groups: z.number().int().min(1).max(64).default(4),
    sweeps: z.number().int().min(1).max(8).default(2),
    step: z.number().gt(0).max(4).default(0.5),
  }).optional(),
}).superRefine((m, ctx) => {
  if (m.depth_search !== undefined && m.task_arithmetic === undefined) ctx.addIssue({ code: 'custom', path: ['depth_search'], message: 'refines the task_arithmetic member: set task_arithmetic: [λ, ...] too' });
  if (!m.average && m.task_arithmetic === undefined && m.ties === undefined) ctx.addIssue({ code: 'custom', message: 'asks for no merge: set average: true, task_arithmetic: [λ, ...] or ties: {...}' });
  if ((m.task_arithmetic !== undefined || m.ties !== undefined) && m.base === undefined) ctx.addIssue({ code: 'custom', path: ['base'], message: 'required by task_arithmetic and ties (the model the fine-tunes started from)' });
});

/** After the run: a table on held-out sets (never used for selection). */
const finalTable = z.strictObject({
  /** Row name -> JSONL file, evaluated with the fitness graph. */
  sets: z.record(z.string(), z.string().min(1)),
  in_domain: z.array(z.string()).default([]),
  out_of_domain: z.array(z.string()).default([]),
  /** Keep the merges the table made in <run>/merges/ (default: each is deleted once scored). */
  keep_merges: z.boolean().default(false),
  /** Extra models in the table (name -> checkpoint). */
  baselines: z.record(z.string(), z.string().min(1)).default({}),
  /** One-shot merges of the input population as rows, their parameter chosen on the dev (fitness) sets. */
  merges: z.strictObject({
    base: z.string().min(1).optional(),
    average: z.boolean().default(true),
    task_arithmetic: z.array(z.number()).default([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
    ties: z.strictObject({ density: z.number().gt(0).max(1).default(0.5), lambdas: z.array(z.number()).default([0.5, 0.75, 1.0, 1.25, 1.5]) }).optional(),
  }).optional(),
});

export const ConfigSchema = z.strictObject({
  models: z.array(z.string().min(1)).min(2, 'a population needs at least 2 models'),
  output: z.string().min(1),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  // Defaults measured on the bundled example (README: choosing the default strategy).
  strategy: z.enum(STRATEGY_NAMES as [string, ...string[]]).default('interp'),
  F: fixedOrRange(0, 4).default(0.3),
  CR: fixedOrRange(0, 1).default(0.9),
  granularity: z.enum(GRANULARITIES as unknown as [string, ...string[]]).default('element'),
  schedule: z.enum(['sequential', 'generational', 'asynchronous']).default('sequential'),
  /**
   * Offspring in flight: generational, evaluated at once (with a queue: a whole generation is
   * queued); asynchronous, the window W (trial k is made from the population after trials
   * 0..k-W are decided).
   */
  concurrency: z.number().int().min(1).max(64).default(2),
  /** Evaluate trials on workers through BullMQ: `redis://HOST:PORT[/DB]` (generational or asynchronous schedule). */
  queue: z.string().min(1).optional(),
  generations: z.number().int().min(1).default(10),
  max_trials: z.number().int().min(1).optional(),
  max_seconds: z.number().positive().optional(),
  /** Stop after this many generations without a better best. */
  patience: z.number().int().min(1).optional(),
  /** Replace the target when the offspring is strictly better (default) or at least as good. */
  accept: z.enum(['better', 'better_or_equal']).default('better'),
  include: z.array(regexString).default(['.*']),
  exclude: z.array(regexString).default([]),
  /** Where config.json / tokenizer files for best/ come from (default: the first model's folder). */
  copy_files_from: z.string().optional(),
  /** Required by the CLI; a library caller that passes its own evaluator may leave it out. */
  fitness: z.discriminatedUnion('type', [moduleFitness, onnxFitness, llamaCppFitness, commandFitness]).optional(),
  /** Held-out evaluation after the run (with an onnx fitness). */
  final_table: finalTable.optional(),
  merger: merger.optional(),
  initial_merges: initialMerges.optional(),
});

export type EvolveConfig = z.infer<typeof ConfigSchema>;

function formatIssue(issue: z.core.$ZodIssue): [string, string] {
  const keyPath = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
  return [keyPath, issue.message];
}

/** Validates a parsed config object; `file` names it in errors. Paths stay as given. */
export function validateConfig(raw: unknown, file: string): EvolveConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, '', 'expected a mapping of keys (models, output, seed, fitness, ...)');
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const [keyPath, message] = formatIssue(parsed.error.issues[0]!);
    throw new ConfigError(file, keyPath, message);
  }
  const m = parsed.data.merger;
  const statsMethod = m !== undefined && (m.method === 'fisher' || m.method === 'regmean');
  if (statsMethod && m.stats?.length !== parsed.data.models.length) {
    throw new ConfigError(file, 'merger.stats', `merger.method ${m.method} needs one statistics file per model (${parsed.data.models.length}), in the order of models; got ${m.stats?.length ?? 0}`);
  }
  if (m !== undefined && !statsMethod && m.stats !== undefined) throw new ConfigError(file, 'merger.stats', `merger.method ${m.method} takes no statistics files`);
  if (m !== undefined) checkMergerParameters(m, file);
  if (statsMethod && parsed.data.initial_merges !== undefined) {
    throw new ConfigError(file, 'initial_merges', `does not combine with merger.method ${m.method}: its statistics exist for the input models only, not for merged members`);
  }
  return parsed.data;
}

/**
 * merger.parameters: the method's parameters (a per-model one applies to every member), within
 * their ranges; `weights` only where the method has a weight.
 */
function checkMergerParameters(m: NonNullable<EvolveConfig['merger']>, file: string): void {
  const method = MERGE_METHODS[m.method]!;
  const known = method.params.filter((p) => !p.path && p.name !== 'weight');
  for (const [name, value] of Object.entries(m.parameters)) {
    const def = known.find((p) => p.name === name);
    if (def === undefined) throw new ConfigError(file, `merger.parameters.${name}`, `${m.method} has no parameter '${name}' (it has: ${known.map((p) => p.name).join(', ') || 'none'})`);
    if (typeof value === 'number' && ((def.min !== undefined && value < def.min) || (def.max !== undefined && value > def.max))) {
      throw new ConfigError(file, `merger.parameters.${name}`, `${value} is outside [${def.min ?? '-inf'}, ${def.max ?? 'inf'}]`);
    }
  }
  if (m.weights !== undefined && !method.params.some((p) => p.name === 'weight')) throw new ConfigError(file, 'merger.weights', `${m.method} takes no per-member weights`);
}

/** Reads, validates and resolves a YAML config: every path becomes absolute. */
export function loadConfig(file: string): EvolveConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '', `cannot read the config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, '', `is not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  return resolvePaths(validateConfig(raw, file), path.dirname(path.resolve(file)));
}

/** Every path resolved against `dir`, then passed through `map` (a queue worker's --models-root). */
export function resolvePaths(c: EvolveConfig, dir: string, map: (p: string) => string = (p) => p): EvolveConfig {
  const abs = (p: string) => map(path.resolve(dir, p));
  const fitness = c.fitness === undefined ? undefined : c.fitness.type === 'module'
    ? { ...c.fitness, path: abs(c.fitness.path) }
    : c.fitness.type === 'command'
      ? resolveCommand(c.fitness, abs)
      : c.fitness.type === 'llama.cpp'
        ? { ...c.fitness, data: c.fitness.data.map((d) => (typeof d === 'string' ? abs(d) : { ...d, file: abs(d.file) })), ...tokenizerPath(c.fitness.tokenizer, abs) }
        : { ...c.fitness, graph: abs(c.fitness.graph), data: c.fitness.data.map((d) => (typeof d === 'string' ? abs(d) : { ...d, file: abs(d.file) })), ...tokenizerPath(c.fitness.tokenizer, abs) };
  const t = c.final_table;
  const finalTable = t === undefined ? undefined : {
    ...t,
    sets: Object.fromEntries(Object.entries(t.sets).map(([k, v]) => [k, abs(v)])),
    baselines: Object.fromEntries(Object.entries(t.baselines).map(([k, v]) => [k, abs(v)])),
    ...(t.merges === undefined ? {} : { merges: { ...t.merges, ...(t.merges.base === undefined ? {} : { base: abs(t.merges.base) }) } }),
  };
  return {
    ...c,
    models: c.models.map(abs),
    output: abs(c.output),
    ...(c.copy_files_from === undefined ? {} : { copy_files_from: abs(c.copy_files_from) }),
    ...(fitness === undefined ? {} : { fitness }),
    ...(finalTable === undefined ? {} : { final_table: finalTable }),
    ...(c.merger === undefined ? {} : { merger: { ...c.merger, ...(c.merger.base === undefined ? {} : { base: abs(c.merger.base) }), ...(c.merger.stats === undefined ? {} : { stats: c.merger.stats.map(abs) }) } }),
    ...(c.initial_merges?.base === undefined ? {} : { initial_merges: { ...c.initial_merges, base: abs(c.initial_merges.base) } }),
  };
}

/** A fitness's tokenizer file, resolved; false and absent stay as they are. */
const tokenizerPath = (t: string | false | undefined, abs: (p: string) => string) => (typeof t === 'string' ? { tokenizer: abs(t) } : {});

type CommandFitness = Extract<EvolveConfig['fitness'], { type: 'command' }>;

/**
 * A command's program is resolved like a shell would from the config's folder: a name without a
 * slash stays a PATH lookup, one with a slash becomes absolute. The other arguments stay as given
 * (they may not be paths); they are relative to `cwd`, which defaults to the config's folder.
 */
function resolveCommand(f: CommandFitness, abs: (p: string) => string): CommandFitness {
  const [program, ...args] = f.run;
  return { ...f, run: [program!.includes('/') ? abs(program!) : program!, ...args], cwd: abs(f.cwd ?? '.') };
}
