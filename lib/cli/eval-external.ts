/**
 * `evolver eval --runtime command --run '["python3", "score.py", "{model}"]'`: one checkpoint
 * scored by an external program exactly as `fitness: {type: command}` scores offspring (the
 * same folder, the same answer line, the same failures), to try a program before a run.
 */
import { EvolverArgumentError } from '../errors.js';
import { createCommandEvaluator } from '../eval/command.js';
import { openWeights } from '../store/checkpoint.js';
import { carriedFilesFolder } from '../store/carried-files.js';

export interface ExternalEvalOptions {
  model: string;
  run: string;
  timeout: string;
  format: string;
  json?: boolean;
}

/** Parses --run: a JSON array of strings, one of which holds {model}. */
export function parseRun(text: string): string[] {
  let run: unknown;
  try {
    run = JSON.parse(text);
  } catch {
    throw new EvolverArgumentError(`--run: expected a JSON array of strings (e.g. '["python3", "score.py", "{model}"]'), got ${text}`);
  }
  if (!Array.isArray(run) || run.length === 0 || !run.every((a) => typeof a === 'string') || run[0] === '') throw new EvolverArgumentError(`--run: expected a non-empty JSON array of strings, got ${text}`);
  if (!run.some((a: string) => a.includes('{model}'))) throw new EvolverArgumentError('--run: no argument contains {model} (the path of the weights to score)');
  return run as string[];
}

/** Prints the fitness; a failed evaluation prints its reason and exits with 1. */
export async function evalExternal(o: ExternalEvalOptions): Promise<void> {
  const run = parseRun(o.run);
  const timeoutS = Number(o.timeout);
  if (!(timeoutS > 0)) throw new EvolverArgumentError(`--timeout: expected a positive number of seconds, got '${o.timeout}'`);
  if (o.format !== 'safetensors' && o.format !== 'gguf') throw new EvolverArgumentError(`--format: expected safetensors or gguf, got '${o.format}'`);
  using weights = openWeights(o.model);
  const carryFrom = carriedFilesFolder(o.model);
  const evaluator = createCommandEvaluator({ run, timeoutS, format: o.format, cwd: process.cwd(), ...(carryFrom === undefined ? {} : { carryFrom }) });
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  try {
    const f = await evaluator(weights, { signal: controller.signal });
    if (f.score === -Infinity && f.reason !== undefined) {
      if (o.json) process.stdout.write(JSON.stringify({ score: null, metrics: f.metrics, reason: f.reason }) + '\n');
      process.stderr.write(`evolver: evaluation failed: ${f.reason}\n`);
      process.exitCode = 1;
      return;
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({ score: f.score, metrics: f.metrics }) + '\n');
    } else {
      for (const [name, value] of Object.entries(f.metrics)) process.stdout.write(`${name} ${value}\n`);
      process.stdout.write(`score ${f.score}\n`);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
