/** Exit codes and the one-line error report every command uses. */
import { BadInputError, EvolverArgumentError, StoppedError, WeightFileError } from '../errors.js';

export const ExitCode = {
  Ok: 0,
  /** Something unexpected (a bug, an I/O failure not tied to an input). */
  Failure: 1,
  /** A bad input file: one line on stderr names the file, the tensor and the defect. */
  BadInput: 2,
  /** The command line or a config is wrong (sysexits EX_USAGE). */
  Usage: 64,
  /**
   * The output folder already holds results (weights, a run, a prepared graph): every command
   * refuses to overwrite them with this code (sysexits EX_CANTCREAT) and `[OUTPUT_EXISTS]`.
   */
  OutputExists: 73,
  /** Stopped by Ctrl-C (128 + SIGINT). */
  Interrupted: 130,
} as const;

/**
 * Whether an error says that an output already exists: any error carrying
 * `code: 'OUTPUT_EXISTS'` (weight writers' WeightFileError, the engine's RunFolderExistsError).
 */
export function isOutputExists(err: unknown): err is Error {
  return err instanceof Error && (err as { code?: unknown }).code === 'OUTPUT_EXISTS';
}

export function reportError(err: unknown): number {
  if (isOutputExists(err)) {
    process.stderr.write(`evolver: error [OUTPUT_EXISTS]: ${err.message}\n`);
    return ExitCode.OutputExists;
  }
  if (err instanceof StoppedError) {
    process.stderr.write(`evolver: stopped: ${err.message}\n`);
    return ExitCode.Interrupted;
  }
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
