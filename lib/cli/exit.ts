/** Exit codes and the one-line error report every command uses. */
import { BadInputError, EvolverArgumentError, WeightFileError } from '../errors.js';

export const ExitCode = {
  Ok: 0,
  /** Something unexpected (a bug, an I/O failure not tied to an input). */
  Failure: 1,
  /** A bad input file: one line on stderr names the file, the tensor and the defect. */
  BadInput: 2,
  Usage: 64,
} as const;

export function reportError(err: unknown): number {
  if (err instanceof WeightFileError) {
    process.stderr.write(`evolver: error [${err.code}]: ${err.message}\n`);
    return ExitCode.BadInput;
  }
  if (err instanceof BadInputError) {
    process.stderr.write(`evolver: error: ${err.message}\n`);
    return ExitCode.BadInput;
  }
  if (err instanceof EvolverArgumentError) {
    process.stderr.write(`evolver: error: ${err.message}\n`);
    return ExitCode.Usage;
  }
  process.stderr.write(`evolver: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.EVOLVER_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  return ExitCode.Failure;
}
