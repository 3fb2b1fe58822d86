/**
 * Differential evolution (DE/rand/1/bin, Storn & Price 1997) over genomes in [0, 1]^D, with every
 * random choice a Philox uniform: draw k of a run is a pure function of (seed, k), so a seed
 * reproduces a run and a resumed run makes the same trials. Draw k: member k (k < population)
 * is initial member k; trial t (generation g, target i) is draw population + g * population + i.
 */
import { native } from '../native.js';

/** The stream draws.ts uses for orchestration (tensors take j < 2^20 - 1), so trials never share a tensor's stream. */
const ORCHESTRATION_J = 2n ** 20n - 1n;

export function uniforms(seed: number, draw: number, count: number): number[] {
  const words = native.kernels.philox({ seed: BigInt(seed), stream: BigInt(draw) * 2n ** 20n + ORCHESTRATION_J, first: 0, count });
  // 24-bit uniforms in [0, 1): exact in float32 and double alike.
  return Array.from(words, (w) => (w >>> 8) * 2 ** -24);
}

export function initialMember(seed: number, k: number, dims: number): number[] {
  return uniforms(seed, k, dims);
}

/**
 * The trial vector for `target` from the population: mutant = x_a + F (x_b - x_c) with a, b, c
 * distinct and not the target, each gene taken from the mutant with probability CR (and gene
 * jrand always), else from the target. A gene leaving [0, 1] is reflected back inside (clipping
 * would pile members on the bounds).
 */
export function trialVector(pop: readonly (readonly number[])[], target: number, F: number, CR: number, u: readonly number[]): number[] {
  const n = pop.length;
  const dims = pop[0]!.length;
  const others: number[] = [];
  let slot = 0;
  while (others.length < 3) {
    // Pick among the members not yet taken (and not the target): one uniform each, no retries.
    const free = [...Array(n).keys()].filter((x) => x !== target && !others.includes(x));
    others.push(free[Math.min(free.length - 1, Math.floor(u[slot++]! * free.length))]!);
  }
  const [a, b, c] = others as [number, number, number];
  const jrand = Math.min(dims - 1, Math.floor(u[slot++]! * dims));
  return pop[target]!.map((x, d) => {
    if (d !== jrand && u[slot + d]! >= CR) return x;
    return reflect(pop[a]![d]! + F * (pop[b]![d]! - pop[c]![d]!));
  });
}

/** Uniforms a trial needs: three member picks, jrand, one per gene. */
export const trialDraws = (dims: number) => 4 + dims;

function reflect(x: number): number {
  let y = x;
  // Reflections at 0 and 1 until inside (F <= 2 keeps this to a few steps).
  for (let i = 0; i < 8 && (y < 0 || y > 1); i++) y = y < 0 ? -y : 2 - y;
  return Math.min(1, Math.max(0, y));
}
