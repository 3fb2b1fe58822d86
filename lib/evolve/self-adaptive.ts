/**
 * `adapt: jde`: self-adaptive F and CR (Brest et al. 2006, "jDE"). Each member carries the F and
 * CR of the trial that made it (the inputs: the configured ones). A trial on target t uses t's
 * values, except that with probability 0.1 each is drawn anew (F uniform in [0.1, 1.0], CR in
 * [0, 1)); an accepted offspring passes its values on. Values that made good offspring survive,
 * so the step size follows what the landscape rewards instead of a guess.
 *
 * Nothing new is stored: a member's values are those of the latest accepted journal line for
 * it, and the draws are Philox uniforms of the trial's orchestration stream (draws.ts), so a
 * resume and a replay use the same F and CR.
 */
import type { JournalEntry } from './journal.js';
import { DRAW } from './draws.js';

const TAU_F = 0.1;
const TAU_CR = 0.1;
const F_LOW = 0.1;
const F_SPAN = 0.9;

/** F and CR of trial `k`'s target, from the trials decided before its population `version`. */
export function jdeParameters(entries: readonly JournalEntry[], target: number, version: number, initial: { F: number; CR: number }, u: readonly number[]): { F: number; CR: number } {
  let F = initial.F;
  let CR = initial.CR;
  for (const e of entries) {
    if (e.k >= version) break;
    if (e.accepted && e.target === target) {
      F = e.F;
      CR = e.CR;
    }
  }
  if (u[DRAW.adaptF]! < TAU_F) F = F_LOW + u[DRAW.F]! * F_SPAN;
  if (u[DRAW.adaptCR]! < TAU_CR) CR = u[DRAW.CR]!;
  return { F: Math.fround(F), CR: Math.fround(CR) };
}
