/**
 * `fitness: {type: command}`: any external program scores the offspring. Per evaluation: the
 * weights are written out (materialize.ts), `{model}` in the argv becomes their path, the
 * program runs (run-process.ts) and its last stdout line is the fitness (command-output.ts).
 * The files are removed afterwards, whatever happened. A program that fails — non-zero exit,
 * timeout, no or malformed answer — gives fitness -Infinity with the reason (and the end of its
 * stderr): the trial is rejected and journaled, the run goes on.
 */
import type { Evaluator, Fitness } from '../evolve/evaluator.js';
import type { WeightSet } from '../store/checkpoint.js';
import { parseCommandOutput } from './command-output.js';
import { materialize } from './materialize.js';
import { type ProcessOutcome, runProcess } from './run-process.js';

export interface CommandEvaluatorOptions {
  /** argv; every `{model}` is replaced by the weights' path. */
  run: readonly string[];
  timeoutS: number;
  format: 'safetensors' | 'gguf';
  /** Added to Evolver's own environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** The folder whose config.json / tokenizer files go beside the weights. */
  carryFrom?: string;
  /** One line per change of where the weights are written (default: stderr). */
  log?: (line: string) => void;
  /** Between SIGTERM and SIGKILL (default 5 s). */
  graceMs?: number;
  /** Test seam: the RAM-backed folder tried first. */
  shm?: string;
}

export const failed = (reason: string): Fitness => ({ score: -Infinity, metrics: {}, reason });

/** Why a finished process gave no fitness, or undefined when it exited with 0. */
function processFailure(p: ProcessOutcome, timeoutS: number): string | undefined {
  const tail = p.stderr.trim() === '' ? '' : `; stderr: ${p.stderr.trim()}`;
  if (p.spawnError !== undefined) return `could not start: ${p.spawnError.message}`;
  if (p.timedOut) return `timed out after ${timeoutS} s (killed)${tail}`;
  if (p.code === null) return `ended by signal ${p.signal}${tail}`;
  if (p.code !== 0) return `exit code ${p.code}${tail}`;
  return undefined;
}

export function createCommandEvaluator(o: CommandEvaluatorOptions): Evaluator {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let lastScratch: string | undefined;
  const env = { ...process.env, ...o.env };
  return async (weights: WeightSet, { signal }: { signal: AbortSignal }): Promise<Fitness> => {
    signal.throwIfAborted();
    const m = await materialize(weights, { format: o.format, ...(o.carryFrom === undefined ? {} : { carryFrom: o.carryFrom }), ...(o.shm === undefined ? {} : { shm: o.shm }) });
    try {
      if (m.scratch !== lastScratch) {
        lastScratch = m.scratch;
        log(`command fitness: offspring are written to ${m.scratch}${m.scratch === (o.shm ?? '/dev/shm') ? ' (RAM)' : ' (no room in /dev/shm)'} for ${o.run[0]}`);
      }
      const argv = o.run.map((a) => a.replaceAll('{model}', m.path));
      const p = await runProcess(argv, { env, timeoutMs: o.timeoutS * 1000, signal, ...(o.cwd === undefined ? {} : { cwd: o.cwd }), ...(o.graceMs === undefined ? {} : { graceMs: o.graceMs }) });
      // Cancelled, not failed: the engine discards the trial instead of journaling a rejection.
      if (p.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('evaluation aborted');
      const failure = processFailure(p, o.timeoutS);
      if (failure !== undefined) return failed(failure);
      const parsed = parseCommandOutput(p.stdout);
      if (parsed.ok && Number.isNaN(parsed.fitness.score)) return failed('score is NaN');
      return parsed.ok ? parsed.fitness : failed(p.stderr.trim() === '' ? parsed.reason : `${parsed.reason}; stderr: ${p.stderr.trim()}`);
    } finally {
      m.remove();
    }
  };
}
