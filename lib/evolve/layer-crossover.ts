/**
 * `granularity: layer`: one crossover draw per transformer block, as the paper's figure draws
 * it: every tensor of a block comes from the mutant, or every one from the target. A tensor
 * outside any block (embeddings, the final norm) is a group of its own. The kernel then runs
 * each tensor at tensor granularity with CR 1 (mutant) or 0 (target), so the bits are those of
 * the fused kernel. Draw g of trial k (g = the group's position in the sorted evolved names) is
 * draw g of Philox stream k * 2^20 + (2^20 - 2), a stream no tensor and not the orchestration
 * uses: a run stays reproducible from its seed and resumable at any trial.
 */
import { native } from '../native.js';

export const LAYER_J = 2 ** 20 - 2;

/** transformer.h.3.attn.c_attn.weight -> transformer.h.3 (GPT-2, Llama, BERT, ... naming). */
export function layerOf(name: string): string {
  const m = /^(.*?\.(?:h|layers|layer|blocks|block)\.\d+)\./.exec(name);
  return m === null ? name : m[1]!;
}

/** For each evolved tensor (in plan order), whether it takes the mutant in trial k. */
export function layerTakesMutant(names: readonly string[], seed: number | bigint, k: number, CR: number): boolean[] {
  const groups: string[] = [];
  for (const n of names) if (!groups.includes(layerOf(n))) groups.push(layerOf(n));
  const words = native.kernels.philox({ seed: BigInt(seed), stream: BigInt(k) * 2n ** 20n + BigInt(LAYER_J), first: 0, count: groups.length });
  const take = groups.map((_, g) => Math.fround((words[g]! >>> 8) * 2 ** -24) < Math.fround(CR));
  return names.map((n) => take[groups.indexOf(layerOf(n))]!);
}
