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
import { chooseOnDev, mergeToFile, type SimpleMerge } from '../merge/simple.js';
import { carryModelFiles } from '../store/carried-files.js';
import { SINGLE_NAME, type WeightSet, openWeights } from '../store/checkpoint.js';
import { copyCarriedFiles } from '../store/write-checkpoint.js';
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

/**
 * Progress of the final table: called before each step with the steps done so far, the number
 * of steps and what runs now, and once at the end with done === total (label 'done'). A step is
 * one evaluation: a row on the held-out sets, or a merge candidate (made, then scored) on the
 * dev sets.
 */
export type FinalTableProgress = (done: number, total: number, label: string) => void;

export interface FinalTableOptions {
  /** One line per finished row (the engine's 'log' event). */
  log?: Log;
  onProgress?: FinalTableProgress;
  /**
   * Keep the merges' checkpoints in workDir after the table: one Hugging Face folder per merge
   * candidate (`<method>-<parameters>/model.safetensors` + config and tokenizer files). Default:
   * `config.final_table.keep_merges`, else false — each merge is deleted once scored, and
   * workDir with them.
   */
  keepMerges?: boolean;
  /**
   * Extra rows before the evolved model's: the run's merged initial members (initial_merges), so
   * the table shows where evolution started. Not counted by finalTableSteps(config).
   */
  initialMembers?: { name: string; file: string; note?: string }[];
  /**
   * Dev fitness already known for a merge row's candidates (the run's initial merges made the same
   * merges of the same models and base): key `mergeKey(merge)`. When every candidate of a row is
   * known, only the chosen one is made, and none is scored again.
   */
  knownDevScores?: ReadonlyMap<string, number>;
  /** Where kept merges get config.json / tokenizer files (default: config.copy_files_from, else the base's or first model's: see carriedFilesFolder). */
  copyFilesFrom?: string;
}

/** The steps buildFinalTable runs for `config` (its progress total). */
export function finalTableSteps(config: EvolveConfig): number {
  const t = config.final_table;
  if (t === undefined) return 0;
  const m = t.merges;
  const withBase = m?.base !== undefined;
  return config.models.length + Object.keys(t.baselines).length + 1
    + (m?.average ? 1 : 0)
    + (withBase && m!.task_arithmetic.length > 0 ? m!.task_arithmetic.length + 1 : 0)
    + (withBase && m!.ties ? m!.ties.lambdas.length + 1 : 0);
}

export async function buildFinalTable(config: EvolveConfig, bestFile: string, workDir: string, devEvaluator: Evaluator, logOrOptions: Log | FinalTableOptions = {}): Promise<FinalTable> {
  const o: FinalTableOptions = typeof logOrOptions === 'function' ? { log: logOrOptions } : logOrOptions;
  const log = o.log ?? (() => {});
  const t = config.final_table!;
  const keepMerges = o.keepMerges ?? (t as { keep_merges?: boolean }).keep_merges ?? false;
  if (config.fitness?.type !== 'onnx') throw new Error('final_table needs an onnx fitness (its graph evaluates the held-out sets)');
  const setNames = Object.keys(t.sets);
  const total = finalTableSteps(config) + (o.initialMembers?.length ?? 0);
  let done = 0;
  const step = (label: string) => o.onProgress?.(done, total, label);
  const test = await createOnnxEvaluator(onnxOptions(config.fitness, config, Object.values(t.sets)));
  const mean = (values: Record<string, number>, names: string[]) => (names.length === 0 ? null : names.reduce((a, n) => a + values[n]!, 0) / names.length);
  const rows: TableRow[] = [];
  const row = async (name: string, weights: WeightSet, note?: string) => {
    step(`${name}${note ? ` (${note})` : ''}: held-out sets`);
    const perFile = await test.evaluateSets(weights);
    done++;
    const values = Object.fromEntries(setNames.map((s) => [s, perFile[t.sets[s]!]!]));
    rows.push({ name, values, inDomainMean: mean(values, t.in_domain), outOfDomainMean: mean(values, t.out_of_domain), ...(note ? { note } : {}) });
    log(`table: ${name}${note ? ` (${note})` : ''} done`);
  };
  const models = config.models.map((m) => openWeights(m));
  const opened: WeightSet[] = [...models];
  /** Merge folders this call wrote (removed at the end unless kept). */
  const written: string[] = [];
  const closeAndDrop = (w: WeightSet, dir: string) => {
    w.close();
    opened.splice(opened.indexOf(w), 1);
    if (!keepMerges) fs.rmSync(dir, { recursive: true, force: true });
  };
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
      const carryFrom = o.copyFilesFrom ?? config.copy_files_from;
      /** Writes one merge, in the inputs' dtype, as workDir/<label>/model.safetensors. */
      const make = async (m: SimpleMerge, label: string) => {
        const dir = path.join(workDir, label);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        written.push(dir);
        await mergeToFile(models, base, m, path.join(dir, SINGLE_NAME));
        if (keepMerges) {
          if (carryFrom !== undefined) copyCarriedFiles(carryFrom, dir);
          else carryModelFiles([merges.base, config.models[0]], dir);
        }
        const w = openWeights(dir);
        opened.push(w);
        return { w, dir };
      };
      /** Picks the parameter with the best dev fitness (the fitness sets, not the held-out ones). */
      const bestOnDev = async (candidates: { m: SimpleMerge; label: string; what: string }[]) => {
        const known = candidates.map((c) => o.knownDevScores?.get(mergeKey(c.m)));
        if (known.every((x): x is number => x !== undefined)) {
          // The first highest, as chooseOnDev picks (all -Infinity: the first).
          const chosen = candidates[Math.max(0, known.indexOf(Math.max(...known)))]!;
          step(`${chosen.what}: chosen on dev (scored when the run started)`);
          done += candidates.length;
          return { ...(await make(chosen.m, chosen.label)), m: chosen.m };
        }
        const { candidate, made } = await chooseOnDev(
          candidates,
          (c) => {
            step(`${c.what}: dev sets`);
            return make(c.m, c.label);
          },
          async ({ w }) => {
            const { score } = await devEvaluator(w, { signal: new AbortController().signal });
            done++;
            return score;
          },
          ({ w, dir }) => closeAndDrop(w, dir),
        );
        return { ...made, m: candidate.m };
      };
      if (merges.average) {
        step('average: merging');
        const { w, dir } = await make({ kind: 'average' }, 'average');
        await row('average', w);
        closeAndDrop(w, dir);
      }
      if (base && merges.task_arithmetic.length > 0) {
        const b = await bestOnDev(merges.task_arithmetic.map((lambda) => ({ m: { kind: 'task_arithmetic', lambda }, label: `task_arithmetic-lambda${lambda}`, what: `task_arithmetic λ = ${lambda}` })));
        await row('task_arithmetic', b.w, `λ = ${(b.m as { lambda: number }).lambda} chosen on dev`);
        closeAndDrop(b.w, b.dir);
      }
      if (base && merges.ties) {
        const density = merges.ties.density;
        const b = await bestOnDev(merges.ties.lambdas.map((lambda) => ({ m: { kind: 'ties', lambda, density }, label: `ties-density${density}-lambda${lambda}`, what: `ties density ${density}, λ = ${lambda}` })));
        await row('ties', b.w, `density ${density}, λ = ${(b.m as { lambda: number }).lambda} chosen on dev`);
        closeAndDrop(b.w, b.dir);
      }
    }
    for (const m of o.initialMembers ?? []) {
      const w = openWeights(m.file);
      opened.push(w);
      await row(m.name, w, m.note);
    }
    const best = openWeights(bestFile);
    opened.push(best);
    await row(config.merger ? `evolved + merger (${config.merger.method})` : 'evolved', best);
    o.onProgress?.(done, total, 'done');
  } finally {
    for (const w of opened) w.close();
    await test.close();
    if (!keepMerges) {
      for (const dir of written) fs.rmSync(dir, { recursive: true, force: true });
      // workDir itself, when nothing else is in it.
      if (t.merges !== undefined) {
        try {
          fs.rmdirSync(workDir);
        } catch {
          // not empty (files of someone else's) or already gone: leave it
        }
      }
    }
  }
  return { metric: config.fitness.metric, sets: setNames, inDomain: t.in_domain, outOfDomain: t.out_of_domain, rows };
}

/** The key of knownDevScores: a merge's kind and parameters. */
export const mergeKey = (m: SimpleMerge): string => JSON.stringify(m);

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
