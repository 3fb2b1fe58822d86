/** Small parsers for command-line option values, shared by the commands. */
import { EvolverArgumentError } from '../errors.js';

/** A positive integer option, or undefined when it was not given; anything else names the flag. */
export function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new EvolverArgumentError(`${flag}: expected a positive integer, got '${text}'`);
  return n;
}
