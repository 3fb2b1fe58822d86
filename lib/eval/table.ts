/**
 * The held-out table a run ends with: every input model, the baselines, one-shot merges of the
 * population (their parameter chosen on the dev sets the fitness uses, never on the test sets)
 * and the evolved model, on each held-out set, with in-domain and out-of-domain means.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { EvolveConfig } from '../evolve/config.js';
import type { Evaluator } from '../evolve/evaluator.js';
import { onnxOptions } from '../evolve/fitness.js';
import { mergeToFile, type SimpleMerge } from '../merge/simple.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import { createOnnxEvaluator } from './onnx.js';

export interface TableRow {
  name: string;
  /** Set name -> metric (NLL for nll). */
  values: Record<string, number>;
  inDomainMean: number | null;
  outOfDomainMean: number | null;
  /** How the row's parameter was chosen, for merges. */
  note?: string;
}

export interface FinalTable {
  metric: string;
  sets: string[];
  inDomain: string[];
  outOfDomain: string[];
  rows: TableRow[];
}

type Log = (line: string) => void;

export async function buildFinalTable(config: EvolveConfig, bestFile: string, workDir: string, devEvaluator: Evaluator, log: Log = () => {}): Promise<FinalTable> {
  const t = config.final_table!;
  if (config.fitness.type !== 'onnx') throw new Error('final_table needs an onnx fitness (its graph evaluates the held-out sets)');
  const setNames = Object.keys(t.sets);
  const test = await createOnnxEvaluator(onnxOptions(config.fitness, Object.values(t.sets)));
  const mean = (values: Record<string, number>, names: string[]) => (names.length === 0 ? null : names.reduce((a, n) => a + values[n]!, 0) / names.length);
  const rows: TableRow[] = [];
  const row = async (name: string, weights: WeightSet, note?: string) => {
    const perFile = await test.evaluateSets(weights);
    const values = Object.fromEntries(setNames.map((s) => [s, perFile[t.sets[s]!]!]));
    rows.push({ name, values, inDomainMean: mean(values, t.in_domain), outOfDomainMean: mean(values, t.out_of_domain), ...(note ? { note } : {}) });
    log(`table: ${name}${note ? ` (${note})` : ''} done`);
  };
  const models = config.models.map((m) => openWeights(m));
  const opened: WeightSet[] = [...models];
  try {
    for (const [i, m] of models.entries()) await row(path.basename(config.models[i]!).replace(/\.safetensors$/, ''), m);
    for (const [name, file] of Object.entries(t.baselines)) {
      const w = openWeights(file);
      opened.push(w);
      await row(name, w);
    }
    const merges = t.merges;
    if (merges !== undefined) {
      fs.mkdirSync(workDir, { recursive: true });
      const base = merges.base === undefined ? undefined : openWeights(merges.base);
      if (base) opened.push(base);
      const make = async (m: SimpleMerge, label: string) => {
        const file = path.join(workDir, `${label}.safetensors`);
        fs.rmSync(file, { force: true });
        await mergeToFile(models, base, m, file);
        const w = openWeights(file);
        opened.push(w);
        return w;
      };
      /** Picks the parameter with the best dev fitness (the fitness sets, not the held-out ones). */
      const chooseOnDev = async (candidates: SimpleMerge[], label: string) => {
        let best: { w: WeightSet; score: number; m: SimpleMerge } | undefined;
        for (const [i, m] of candidates.entries()) {
          const w = await make(m, `${label}-${i}`);
          const { score } = await devEvaluator(w, { signal: new AbortController().signal });
          if (best === undefined || score > best.score) best = { w, score, m };
        }
        return best!;
      };
      if (merges.average) await row('average', await make({ kind: 'average' }, 'average'));
      if (base && merges.task_arithmetic.length > 0) {
        const b = await chooseOnDev(merges.task_arithmetic.map((lambda) => ({ kind: 'task_arithmetic', lambda })), 'task_arithmetic');
        await row('task_arithmetic', b.w, `λ = ${(b.m as { lambda: number }).lambda} chosen on dev`);
      }
      if (base && merges.ties) {
        const density = merges.ties.density;
        const b = await chooseOnDev(merges.ties.lambdas.map((lambda) => ({ kind: 'ties', lambda, density })), 'ties');
        await row('ties', b.w, `density ${density}, λ = ${(b.m as { lambda: number }).lambda} chosen on dev`);
      }
    }
    const best = openWeights(bestFile);
    opened.push(best);
    await row(config.merger ? `evolved + merger (${config.merger.method})` : 'evolved', best);
  } finally {
    for (const w of opened) w.close();
    await test.close();
  }
  return { metric: config.fitness.metric, sets: setNames, inDomain: t.in_domain, outOfDomain: t.out_of_domain, rows };
}

export function formatTable(t: FinalTable): string {
  const head = ['model', ...t.sets, ...(t.inDomain.length ? ['in-domain mean'] : []), ...(t.outOfDomain.length ? ['out-of-domain mean'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of t.rows) {
    const cells = [r.note ? `${r.name} (${r.note})` : r.name, ...t.sets.map((s) => r.values[s]!.toFixed(4))];
    if (t.inDomain.length) cells.push(r.inDomainMean!.toFixed(4));
    if (t.outOfDomain.length) cells.push(r.outOfDomainMean!.toFixed(4));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
