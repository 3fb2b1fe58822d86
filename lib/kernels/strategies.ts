/** The DE mutation strategies of docs/design.md, as a small declarative registry. */

export type Strategy = 'current/1' | 'rand/1' | 'best/1' | 'current-to-best/1' | 'interp';
export type Granularity = 'element' | 'row' | 'tensor';
/** The role of the third input (`c` in the kernel), when the strategy has one. */
export type ThirdRole = 'r0' | 'best' | 'ref';

export interface StrategySpec {
  name: Strategy;
  /** The mutant, as docs/design.md writes it (x = target). */
  formula: string;
  /** Reads the difference a - b of two other members. */
  usesDifference: boolean;
  third: ThirdRole | null;
  /** Members besides the target the strategy needs (so a population needs one more). */
  othersNeeded: number;
}

export const STRATEGIES: Readonly<Record<Strategy, StrategySpec>> = {
  'current/1': { name: 'current/1', formula: 'fma(F, a - b, x)', usesDifference: true, third: null, othersNeeded: 2 },
  'rand/1': { name: 'rand/1', formula: 'fma(F, a - b, r0)', usesDifference: true, third: 'r0', othersNeeded: 3 },
  'best/1': { name: 'best/1', formula: 'fma(F, a - b, best)', usesDifference: true, third: 'best', othersNeeded: 2 },
  'current-to-best/1': { name: 'current-to-best/1', formula: 'fma(F, a - b, fma(F, best - x, x))', usesDifference: true, third: 'best', othersNeeded: 2 },
  interp: { name: 'interp', formula: 'fma(F, ref - x, x)', usesDifference: false, third: 'ref', othersNeeded: 1 },
};

export const STRATEGY_NAMES = Object.keys(STRATEGIES) as Strategy[];
export const GRANULARITIES: readonly Granularity[] = ['element', 'row', 'tensor'];

/** Stream of tensor j in trial k: k * 2^20 + j (docs/design.md). */
export function streamFor(trial: number | bigint, tensorIndex: number): bigint {
  return BigInt(trial) * (1n << 20n) + BigInt(tensorIndex);
}
