/**
 * The orchestration's random choices (members, dithered F and CR, interp's coin) come from
 * Philox too: trial k uses stream k * 2^20 + (2^20 - 1), a stream no tensor uses (tensors take
 * j < 2^20 - 1). So a run is reproducible from its seed and resumable at any trial.
 */
import { native } from '../native.js';

export const ORCHESTRATION_J = 2 ** 20 - 1;

/** Draw slots of a trial's orchestration stream. */
export const DRAW = { a: 0, b: 1, third: 2, coin: 3, F: 4, CR: 5 } as const;

export function trialUniforms(seed: number | bigint, k: number): number[] {
  const words = native.kernels.philox({ seed: BigInt(seed), stream: BigInt(k) * 2n ** 20n + BigInt(ORCHESTRATION_J), first: 0, count: 8 });
  return Array.from(words, (w) => (w >>> 8) * 2 ** -24);
}

/** A float32 value in [lo, hi] (a fixed value when lo == hi). */
export function dither(range: number | readonly [number, number], u: number): number {
  if (typeof range === 'number') return Math.fround(range);
  const [lo, hi] = range;
  return Math.fround(lo + u * (hi - lo));
}

/** Picks one of `choices` with a uniform u in [0, 1). */
export function pick<T>(choices: readonly T[], u: number): T {
  return choices[Math.min(choices.length - 1, Math.floor(u * choices.length))]!;
}
