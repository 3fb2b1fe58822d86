/**
 * Selection: does an offspring replace its parent? Greedy on the combined fitness (`accept`),
 * optionally guarded per dev set (`per_set_tolerance`): an offspring that improves the mean by
 * getting worse on one domain is a specialist in the making, and a specialist generalizes worse
 * to held-out domains; with the guard, it is kept only when no set's metric got worse than the
 * parent's by more than the tolerance. Only the fitness and its metrics (both journaled) decide,
 * so a resume and a replay decide the same way.
 */
import type { EvolveConfig } from './config.js';
import type { Fitness } from './evaluator.js';

/** Per-set metrics the evaluators report, and whether lower is better (onnx.ts: nll:FILE, accuracy:FILE, f1:FILE). */
function direction(metric: string): -1 | 1 | undefined {
  if (metric.startsWith('nll:')) return -1;
  if (metric.startsWith('accuracy:') || metric.startsWith('f1:')) return 1;
  return undefined;
}

/** How much worse than the parent the child is on its worst set (0 when it is nowhere worse). */
export function worstSetLoss(child: Fitness, parent: Fitness): number {
  let worst = 0;
  for (const [name, value] of Object.entries(child.metrics)) {
    const d = direction(name);
    const before = parent.metrics[name];
    if (d === undefined || before === undefined) continue;
    worst = Math.max(worst, d * (before - value));
  }
  return worst;
}

export function accepts(c: Pick<EvolveConfig, 'accept' | 'per_set_tolerance'>, child: Fitness, parent: Fitness): boolean {
  if (child.score === -Infinity) return false;
  const better = c.accept === 'better' ? child.score > parent.score : child.score >= parent.score;
  if (!better || c.per_set_tolerance === undefined) return better;
  return worstSetLoss(child, parent) <= c.per_set_tolerance;
}
