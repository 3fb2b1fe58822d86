/** report.json (the whole history, initial and final scores, throughput) and report.html. */
import fs from 'node:fs';

import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

import type { EvolveConfig } from './config.js';
import type { InitialScore, StopReason } from './engine.js';
import type { FinalTable } from '../eval/table.js';
import type { JournalEntry } from './journal.js';

export interface FinalScore {
  member: number;
  file: string;
  checksum: string;
  fitness: number;
  metrics: Record<string, number>;
}

export interface RunReport {
  format: 'evolver-report/1';
  stop: StopReason;
  trials: number;
  accepted: number;
  acceptanceRate: number;
  bestMember: number;
  initialBest: number;
  finalBest: number;
  initial: InitialScore[];
  final: FinalScore[];
  /** Per trial: the offspring's fitness, whether it was accepted, the population's best and mean after it. */
  history: { k: number; generation: number; target: number; fitness: number; accepted: boolean; best: number; mean: number }[];
  throughput: {
    seconds: number;
    evaluations: number;
    evaluationsPerMinute: number;
    offspringSeconds: number;
    evaluationSeconds: number;
    /** Share of the run's time spent making offspring and evaluating them. */
    offspringShare: number;
    evaluationShare: number;
  };
  config: Omit<EvolveConfig, 'fitness'> & { fitness: { type: string } };
  /** The held-out table (config.final_table), when asked for. */
  finalTable?: FinalTable;
  /** With a merger: the merged population's fitness before and after (initialBest/finalBest are these). */
  merged?: { method: string; initial: number; final: number };
}

export function buildReport(r: {
  config: EvolveConfig;
  initial: InitialScore[];
  entries: JournalEntry[];
  final: FinalScore[];
  bestMember: number;
  stop: StopReason;
  seconds: number;
  timing: { offspring: number; evaluation: number; evaluations: number };
  evolved: number;
  finalTable?: FinalTable;
}): RunReport {
  const scores = r.initial.map((s) => s.fitness);
  const history = r.entries.map((e) => {
    if (e.accepted) scores[e.target] = e.fitness;
    return {
      k: e.k,
      generation: e.generation,
      target: e.target,
      fitness: e.fitness,
      accepted: e.accepted,
      best: Math.max(...scores),
      mean: scores.reduce((a, b) => a + b, 0) / scores.length,
    };
  });
  const accepted = r.entries.filter((e) => e.accepted).length;
  const t = r.timing;
  return {
    format: 'evolver-report/1',
    stop: r.stop,
    trials: r.entries.length,
    accepted,
    acceptanceRate: r.entries.length === 0 ? 0 : accepted / r.entries.length,
    bestMember: r.bestMember,
    initialBest: Math.max(...r.initial.map((s) => s.fitness)),
    finalBest: r.final[r.bestMember]!.fitness,
    initial: r.initial,
    final: r.final,
    history,
    throughput: {
      seconds: r.seconds,
      evaluations: t.evaluations,
      evaluationsPerMinute: r.seconds > 0 ? (t.evaluations / r.seconds) * 60 : 0,
      offspringSeconds: t.offspring,
      evaluationSeconds: t.evaluation,
      offspringShare: r.seconds > 0 ? t.offspring / r.seconds : 0,
      evaluationShare: r.seconds > 0 ? t.evaluation / r.seconds : 0,
    },
    config: { ...r.config, fitness: { type: r.config.fitness.type } },
    ...(r.finalTable ? { finalTable: r.finalTable } : {}),
  };
}

/** Fitness over trials (population best and mean), drawn by vega-lite and rendered to SVG by vega. */
export async function fitnessChartSvg(report: RunReport): Promise<string> {
  const values = [
    { k: -1, series: 'best', fitness: report.initialBest },
    { k: -1, series: 'mean', fitness: report.initial.reduce((a, s) => a + s.fitness, 0) / Math.max(1, report.initial.length) },
    ...report.history.flatMap((h) => [
      { k: h.k, series: 'best', fitness: h.best },
      { k: h.k, series: 'mean', fitness: h.mean },
    ]),
  ].filter((v) => Number.isFinite(v.fitness));
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 300,
    title: 'Population fitness over trials (higher is better)',
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'k', type: 'quantitative', title: 'trial (k; -1 = initial population)' },
      y: { field: 'fitness', type: 'quantitative', title: 'fitness', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const num = (x: number) => (Number.isFinite(x) ? x.toFixed(6) : String(x));

/** A self-contained page: the chart (inline SVG) and the final table. No scripts, no network. */
export async function renderReportHtml(report: RunReport): Promise<string> {
  const svg = await fitnessChartSvg(report);
  const metricNames = [...new Set(report.final.flatMap((f) => Object.keys(f.metrics)))];
  const rows = report.final.map((f) => {
    const initial = report.initial[f.member];
    const cells = metricNames.map((m) => `<td>${num(f.metrics[m] ?? NaN)}</td>`).join('');
    const mark = f.member === report.bestMember ? ' class="best"' : '';
    return `<tr${mark}><td>${f.member}</td><td>${esc(initial?.model ?? '')}</td><td>${num(initial?.fitness ?? NaN)}</td><td>${num(f.fitness)}</td>${cells}</tr>`;
  });
  const t = report.throughput;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evolver run report</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2){text-align:left}tr.best{background:#eef8ee}</style>
</head><body>
<h1>Evolver run</h1>
<p>${report.trials} trials, ${report.accepted} accepted (${(report.acceptanceRate * 100).toFixed(1)}%), stopped by <b>${report.stop}</b>.
Best fitness ${num(report.initialBest)} &rarr; <b>${num(report.finalBest)}</b> (member ${report.bestMember}).
Strategy ${esc(report.config.strategy)}, F ${esc(JSON.stringify(report.config.F))}, CR ${esc(JSON.stringify(report.config.CR))}, ${esc(report.config.granularity)} granularity, ${esc(report.config.schedule)} schedule, seed ${report.config.seed}.</p>
<p>${t.evaluations} evaluations in ${t.seconds.toFixed(1)} s (${t.evaluationsPerMinute.toFixed(1)} per minute); making offspring ${(t.offspringShare * 100).toFixed(0)}% of the time, evaluating ${(t.evaluationShare * 100).toFixed(0)}%.</p>
${svg}
<h2>Population</h2>
<table><tr><th>member</th><th>initial model</th><th>initial fitness</th><th>final fitness</th>${metricNames.map((m) => `<th>${esc(m)}</th>`).join('')}</tr>
${rows.join('\n')}
</table>
${report.finalTable ? finalTableHtml(report.finalTable) : ''}
</body></html>
`;
}

function finalTableHtml(t: FinalTable): string {
  const head = ['model', ...t.sets, ...(t.inDomain.length ? ['in-domain mean'] : []), ...(t.outOfDomain.length ? ['out-of-domain mean'] : [])];
  const body = t.rows.map((r) => {
    const cells = [...t.sets.map((s) => r.values[s]!), ...(t.inDomain.length ? [r.inDomainMean!] : []), ...(t.outOfDomain.length ? [r.outOfDomainMean!] : [])];
    return `<tr><td>${esc(r.name)}${r.note ? ` <small>(${esc(r.note)})</small>` : ''}</td>${cells.map((c) => `<td>${c.toFixed(4)}</td>`).join('')}</tr>`;
  });
  return `<h2>Held-out sets (${esc(t.metric)}; lower is better for nll)</h2>
<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>
${body.join('\n')}
</table>`;
}

export async function writeReportHtml(report: RunReport, file: string): Promise<void> {
  fs.writeFileSync(file, await renderReportHtml(report));
}
