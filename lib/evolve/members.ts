/** Which members a trial uses, per strategy (docs/design.md; interp as in the paper's released code). */
import { STRATEGIES, type Strategy } from '../kernels/strategies.js';
import { DRAW, pick } from './draws.js';

export interface TrialMembers {
  a?: number;
  b?: number;
  r0?: number;
  best?: number;
  ref?: number;
}

/** The index of the best member among `candidates` (ties: the lowest index). */
export function bestOf(candidates: readonly number[], fitness: readonly number[]): number {
  let best = candidates[0]!;
  for (const i of candidates) if (fitness[i]! > fitness[best]!) best = i;
  return best;
}

/**
 * Chooses the members for target `t`. `u` are the trial's orchestration uniforms; `fitness`
 * the current scores; generation t of T for interp's p = 0.5 / (T - t) + 0.5.
 */
export function chooseMembers(strategy: Strategy, target: number, n: number, u: readonly number[], fitness: readonly number[], generation: number, generations: number): TrialMembers {
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => i !== target);
  const spec = STRATEGIES[strategy];
  const m: TrialMembers = {};
  if (spec.usesDifference) {
    m.a = pick(others, u[DRAW.a]!);
    const rest = others.filter((i) => i !== m.a);
    m.b = pick(rest, u[DRAW.b]!);
  }
  switch (spec.third) {
    case 'r0':
      m.r0 = pick(others.filter((i) => i !== m.a && i !== m.b), u[DRAW.third]!);
      break;
    case 'best':
      m.best = bestOf(others, fitness);
      break;
    case 'ref': {
      // The paper's code: towards a random other member with probability p, else the best other.
      const p = 0.5 / Math.max(1, generations - generation) + 0.5;
      m.ref = u[DRAW.coin]! < p ? pick(others, u[DRAW.third]!) : bestOf(others, fitness);
      break;
    }
    case null:
      break;
  }
  return m;
}
