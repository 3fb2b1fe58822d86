/** report.json (the whole history, initial and final scores, throughput) and report.html. */
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

import type { EvolveConfig } from './config.js';
import type { InitialScore, StopReason } from './engine.js';
import type { FinalTable } from '../eval/table.js';
import type { JournalEntry } from './journal.js';
import { writeFileAtomic } from '../store/write-checkpoint.js';

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
    /** Accepted offspring written to disk (by this process), their seconds until in the page cache, and how many were written over a spare member file (spare-files.ts) instead of a new file. */
    persisted: number;
    persistSeconds: number;
    persistedOverSpare: number;
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
  timing: { offspring: number; evaluation: number; evaluations: number; persist: number; persisted: number; persistedOverSpare: number };
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
      persisted: t.persisted,
      persistSeconds: t.persist,
      persistedOverSpare: t.persistedOverSpare,
    },
    config: { ...r.config, fitness: { type: r.config.fitness?.type ?? 'library evaluator' } },
    ...(r.finalTable ? { finalTable: r.finalTable } : {}),
  };
}

/**
 * Fitness over trials (population best and mean), drawn by vega-lite and rendered to SVG by vega.
 * x = trials completed: 0 is the initial population, k + 1 the population after trial k.
 */
export async function fitnessChartSvg(report: RunReport): Promise<string> {
  const values = [
    { trials: 0, series: 'best', fitness: report.initialBest },
    { trials: 0, series: 'mean', fitness: report.initial.reduce((a, s) => a + s.fitness, 0) / Math.max(1, report.initial.length) },
    ...report.history.flatMap((h) => [
      { trials: h.k + 1, series: 'best', fitness: h.best },
      { trials: h.k + 1, series: 'mean', fitness: h.mean },
    ]),
  ].filter((v) => Number.isFinite(v.fitness));
  const last = values.reduce((m, v) => Math.max(m, v.trials), 1);  // no spread: long runs overflow the stack
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 640,
    height: 300,
    title: 'Population fitness over trials (higher is better)',
    data: { values },
    mark: { type: 'line', interpolate: 'step-after', point: values.length <= 80 },
    encoding: {
      x: {
        field: 'trials',
        type: 'quantitative',
        title: 'trials completed (0 = initial population)',
        scale: { domain: [0, last], nice: false, zero: true },
        axis: { tickMinStep: 1, format: 'd' },
      },
      // ~g: '-1.74' for NLLs, '-5e-6' for tiny weight-space fitnesses (never a row of zeros).
      y: { field: 'fitness', type: 'quantitative', title: 'fitness', scale: { zero: false }, axis: { format: '.4~g' } },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['best', 'mean'] } },
    },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Six decimals for ordinary magnitudes (NLL, accuracy); scientific notation for tiny or huge ones (weight-space fitness ~1e-5). */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? '∞' : '−∞';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return x.toExponential(4);
  return x.toFixed(6);
}
const num = formatNumber;


const isPathLike = (s: string) => /[\\/]/.test(s);

/**
 * Short, unique labels for file paths: the base name without its extension
 * (`/a/b/computers.safetensors` -> `computers`), with parent folders added only where two labels
 * would be equal (`/x/computers/dev.jsonl`, `/x/politics/dev.jsonl` -> `computers/dev`,
 * `politics/dev`). Strings that are not paths are returned unchanged.
 */
export function shortLabels(paths: string[]): string[] {
  const parts = paths.map((p) => {
    if (!isPathLike(p)) return [p];
    const segs = p.split(/[\\/]+/).filter((x) => x !== '');
    const lastSeg = segs.pop() ?? p;
    const dot = lastSeg.lastIndexOf('.');
    segs.push(dot > 0 ? lastSeg.slice(0, dot) : lastSeg);
    return segs;
  });
  const depth = parts.map(() => 1);
  const label = (i: number) => parts[i]!.slice(-depth[i]!).join('/');
  for (let round = 0; round < 64; round++) {
    const groups = new Map<string, number[]>();
    parts.forEach((_, i) => groups.set(label(i), [...(groups.get(label(i)) ?? []), i]));
    let changed = false;
    for (const [, members] of groups) {
      // The same path listed twice keeps one label; different paths get another parent folder.
      if (members.length < 2 || new Set(members.map((i) => paths[i])).size < 2) continue;
      for (const i of members) {
        if (depth[i]! < parts[i]!.length) {
          depth[i]!++;
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  return parts.map((_, i) => label(i));
}

/** A metric name as the evaluators write it (`nll:/abs/dev.jsonl`, `neg_mean_nll`): the kind and the path, if any. */
function splitMetric(name: string): { kind: string; target: string } {
  const m = /^([A-Za-z0-9_]+):(.+)$/.exec(name);
  return m && isPathLike(m[2]!) ? { kind: m[1]!, target: m[2]! } : { kind: '', target: name };
}

interface Legend {
  entries: { label: string; full: string }[];
}

/** Labels for the metric columns, and the legend rows for the ones that were shortened. */
function metricLabels(names: string[], legend: Legend): { label: string; kind: string; short: string; title: string }[] {
  const split = names.map(splitMetric);
  const short = shortLabels(split.map((s) => s.target));
  return split.map((s, i) => {
    const label = s.kind ? `${s.kind} ${short[i]}` : short[i]!;
    if (label !== names[i]) legend.entries.push({ label, full: s.kind ? `${s.kind} on ${s.target}` : s.target });
    return { label, kind: s.kind, short: short[i]!, title: s.kind ? `${s.kind} on ${s.target}` : s.target };
  });
}

const STYLE = `
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;padding:0 1.5em;max-width:80em;color:#1d232a}
h1{font-size:1.6em;margin:.2em 0 .6em}h2{font-size:1.2em;margin:1.6em 0 .5em}
.chart svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{border:1px solid #d0d7de;padding:4px 8px;white-space:nowrap}
th{background:#f3f5f7;font-weight:600;vertical-align:bottom;white-space:normal}
th .nw{white-space:nowrap}
th.num,td.num{text-align:right}
th.label,td.label{text-align:left}
th[title],td[title]{cursor:help}
th[title] span,td[title] span{text-decoration:underline dotted #8893a0}
tr.best td{background:#dcf2dc;font-weight:600}
tr.best td.label::after{content:" ★ best";color:#1a7f37;font-weight:600}
tr.evolved td{background:#dcf2dc;font-weight:600}
td.top{color:#0a5c2a;text-decoration:underline}
small{color:#57606a;font-weight:normal}
dl.legend{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:.6em 0 0;font-size:12px;color:#444}
dl.legend dt{font-weight:600}dl.legend dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
p.note{color:#57606a;font-size:12px}
`;

/** A self-contained page: the chart (inline SVG) and the tables. No scripts, no network. */
export async function renderReportHtml(report: RunReport): Promise<string> {
  const svg = await fitnessChartSvg(report);
  const metricNames = [...new Set(report.final.flatMap((f) => Object.keys(f.metrics)))];
  const legend: Legend = { entries: [] };
  const modelPaths = report.final.map((f) => report.initial[f.member]?.model ?? '');
  const modelLabels = shortLabels(modelPaths);
  modelLabels.forEach((label, i) => {
    if (label !== modelPaths[i] && !legend.entries.some((e) => e.label === label)) legend.entries.push({ label, full: modelPaths[i]! });
  });
  const metricCols = metricLabels(metricNames, legend);
  const rows = report.final.map((f, i) => {
    const initial = report.initial[f.member];
    const cells = metricNames.map((m) => `<td class="num">${num(f.metrics[m] ?? NaN)}</td>`).join('');
    const best = f.member === report.bestMember;
    const model = initial ? `<td class="label" title="${esc(modelPaths[i]!)}"><span>${esc(modelLabels[i]!)}</span></td>` : '<td class="label"></td>';
    return `<tr${best ? ' class="best"' : ''}><td class="num">${f.member}</td>${model}<td class="num">${num(initial?.fitness ?? NaN)}</td><td class="num">${num(f.fitness)}</td>${cells}</tr>`;
  });
  const head = [
    '<th class="num">member</th>',
    '<th class="label">initial model</th>',
    '<th class="num">initial fitness</th>',
    '<th class="num">final fitness</th>',
    // Two lines when the metric has a kind ("nll" over "computers/dev"): narrow columns, no odd breaks.
    ...metricCols.map((c) => c.title === c.label
      ? `<th class="num">${esc(c.label)}</th>`
      : `<th class="num" title="${esc(c.title)}"><span>${c.kind ? `${esc(c.kind)}<br><span class="nw">${esc(c.short)}</span>` : esc(c.label)}</span></th>`),
  ].join('');
  const t = report.throughput;
  const merged = report.merged
    ? `<p>With a ${esc(report.merged.method)} merger: the merged population's fitness ${num(report.merged.initial)} &rarr; <b>${num(report.merged.final)}</b> (the run's output).</p>`
    : '';
  const legendHtml = legend.entries.length === 0 ? '' : `<dl class="legend">${legend.entries.map((e) => `<dt>${esc(e.label)}</dt><dd>${esc(e.full)}</dd>`).join('')}</dl>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Evolver run report</title>
<style>${STYLE}</style>
</head><body>
<h1>Evolver run</h1>
<p>${report.trials} trials, ${report.accepted} accepted (${(report.acceptanceRate * 100).toFixed(1)}%), stopped by <b>${esc(report.stop)}</b>.
Best fitness ${num(report.initialBest)} &rarr; <b>${num(report.finalBest)}</b> (member ${report.bestMember}).
Strategy ${esc(report.config.strategy)}, F ${esc(JSON.stringify(report.config.F))}, CR ${esc(JSON.stringify(report.config.CR))}, ${esc(report.config.granularity)} granularity, ${esc(report.config.schedule)} schedule, seed ${esc(String(report.config.seed))}.</p>
${merged}<p>${t.evaluations} evaluations in ${t.seconds.toFixed(1)} s (${t.evaluationsPerMinute.toFixed(1)} per minute); making offspring ${(t.offspringShare * 100).toFixed(0)}% of the time, evaluating ${(t.evaluationShare * 100).toFixed(0)}%.</p>
<div class="chart">${svg}</div>
<h2>Population</h2>
<div class="scroll"><table id="population"><thead><tr>${head}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table></div>
${legendHtml}
<p class="note">Fitness: higher is better. The highlighted row is the best member (the run's output${report.merged ? ' is the merged population' : ''}); hover a shortened name for its full path.</p>
${report.finalTable ? finalTableHtml(report.finalTable) : ''}
</body></html>
`;
}

function finalTableHtml(t: FinalTable): string {
  const lowerIsBetter = t.metric === 'nll';
  const cols = [...t.sets, ...(t.inDomain.length ? ['in-domain mean'] : []), ...(t.outOfDomain.length ? ['out-of-domain mean'] : [])];
  const valuesOf = (r: FinalTable['rows'][number]) => [...t.sets.map((s) => r.values[s]!), ...(t.inDomain.length ? [r.inDomainMean!] : []), ...(t.outOfDomain.length ? [r.outOfDomainMean!] : [])];
  const all = t.rows.map(valuesOf);
  const bestPerColumn = cols.map((_, c) => {
    const xs = all.map((v) => v[c]!).filter(Number.isFinite);
    return xs.length === 0 ? NaN : lowerIsBetter ? Math.min(...xs) : Math.max(...xs);
  });
  const body = t.rows.map((r, i) => {
    const cells = all[i]!.map((c, j) => `<td class="num${c === bestPerColumn[j] ? ' top' : ''}">${Number.isFinite(c) ? c.toFixed(4) : esc(String(c))}</td>`);
    const evolved = r.name.startsWith('evolved');
    return `<tr${evolved ? ' class="evolved"' : ''}><td class="label">${esc(r.name)}${r.note ? ` <small>(${esc(r.note)})</small>` : ''}</td>${cells.join('')}</tr>`;
  });
  return `<h2>Held-out sets (${esc(t.metric)}; ${lowerIsBetter ? 'lower' : 'higher'} is better)</h2>
<div class="scroll"><table id="held-out"><thead><tr><th class="label">model</th>${cols.map((h) => `<th class="num">${esc(h)}</th>`).join('')}</tr></thead><tbody>
${body.join('\n')}
</tbody></table></div>
<p class="note">Underlined: the best value of each column. Highlighted: the evolved model. Never used for selection.</p>`;
}

/** Written atomically (a temp file in the same folder, fsync, rename): a reader never sees half a page. */
export async function writeReportHtml(report: RunReport, file: string): Promise<void> {
  writeFileAtomic(file, await renderReportHtml(report));
}
