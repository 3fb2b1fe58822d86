/** `evolver evolve CONFIG.yaml [--json]` and `evolver evolve --resume RUN_DIR`. */
import path from 'node:path';

import cliProgress from 'cli-progress';
import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { type EvolveConfig, loadConfig } from '../evolve/config.js';
import { EvolutionRun, type InitialScore, type TableProgress, type TrialEvent } from '../evolve/engine.js';
import { formatTable } from '../eval/table.js';
import { evaluatorFor } from '../evolve/fitness.js';
import type { Evaluator } from '../evolve/evaluator.js';
import { QueueEvaluator } from '../distributed/coordinator.js';
import type { RunReport } from '../evolve/report.js';
import { RunFolder } from '../evolve/run-folder.js';

export function registerEvolve(program: Command): void {
  program
    .command('evolve')
    .description('evolve a population of models (Evolver, Du et al. 2024); resumable')
    .argument('[config]', 'the run configuration (YAML)')
    .option('--resume <run_dir>', 'continue a stopped or killed run (the folder itself, wherever it is now)')
    .option('--repair', 'with --resume: cut a damaged journal at its first bad line (keeping a copy) and rebuild the population from the lines before it')
    .option('--output <dir>', 'the run folder (overrides the config\'s output)')
    .option('--json', 'one JSON event per line on stdout')
    .option('--threads <n>', 'kernel threads (default: all cores)')
    .option('--queue <url>', 'evaluate on workers (`evolver worker`) through BullMQ at redis://HOST:PORT[/DB] (overrides the config\'s queue)')
    .action(async (configPath: string | undefined, o: { resume?: string; repair?: boolean; output?: string; json?: boolean; threads?: string; queue?: string }) => {
      if ((configPath === undefined) === (o.resume === undefined)) throw new EvolverArgumentError('give a config file, or --resume RUN_DIR (not both)');
      if (o.repair && o.resume === undefined) throw new EvolverArgumentError('--repair goes with --resume RUN_DIR');
      if (o.output !== undefined && o.resume !== undefined) throw new EvolverArgumentError('--output cannot change where a resumed run is: --resume names the folder');
      let config: EvolveConfig;
      let configFile: string;
      if (o.resume !== undefined) {
        const folder = new RunFolder(o.resume);
        if (!folder.exists()) throw new EvolverArgumentError(`${folder.dir} holds no run to resume (no run.json)`);
        config = { ...folder.readJson<{ config: EvolveConfig }>(folder.runJson).config, output: folder.dir };
        configFile = folder.runJson;
      } else {
        configFile = path.resolve(configPath!);
        config = loadConfig(configFile);
        if (o.output !== undefined) config = { ...config, output: path.resolve(o.output) };
      }
      const threads = o.threads === undefined ? undefined : Number(o.threads);
      if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) throw new EvolverArgumentError(`--threads: expected a positive integer, got '${o.threads}'`);
      const queueUrl = o.queue ?? config.queue;
      if (queueUrl !== undefined && o.queue !== undefined) config = { ...config, queue: o.queue };
      // With a queue, workers score trials; the local evaluator serves only the final table.
      const evaluator = queueUrl === undefined ? await evaluatorFor(config, configFile) : lazyEvaluator(config, configFile);
      const remote = queueUrl === undefined ? undefined : new QueueEvaluator(queueUrl, { log: (l) => process.stderr.write(l + '\n') });
      // First Ctrl-C: the trial in flight finishes and is journaled, best/ and the report are
      // written, and the run exits 130. Second: exit at once — the journal is only ever
      // appended whole, so the folder stays resumable (the unfinished trial is made again).
      const stop = new AbortController();
      let interrupts = 0;
      const resumeHint = `npx evolver evolve --resume ${config.output}`;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) {
          process.stderr.write(`\nevolver: stopping after the trial in flight (Ctrl-C again to quit now; the run stays resumable: ${resumeHint})\n`);
          stop.abort();
        } else {
          process.stderr.write(`\nevolver: quit; resume with: ${resumeHint}\n`);
          process.exit(130);
        }
      };
      process.on('SIGINT', onSigint);
      const run = new EvolutionRun({
        config,
        evaluator,
        ...(o.resume !== undefined ? { resume: true, folder: config.output } : {}),
        ...(o.repair ? { repair: true } : {}),
        signal: stop.signal,
        ...(threads ? { threads } : {}),
        ...(remote ? { remote } : {}),
      });
      const view = o.json ? jsonEvents(run) : process.stderr.isTTY ? progressBar(run) : plainLines(run);
      try {
        const report = await run.run();
        view.end(report);
        if (!o.json) process.stdout.write(summary(report, run.folder.dir));
        if (!o.json && report.finalTable) process.stdout.write(`\nHeld-out sets (${report.finalTable.metric}):\n\n${formatTable(report.finalTable)}`);
        if (report.stop === 'aborted') {
          if (!o.json) process.stdout.write(`stopped by Ctrl-C; resume with: ${resumeHint}\n`);
          process.exitCode = 130;
        }
      } finally {
        view.end();
        process.off('SIGINT', onSigint);
        await remote?.close();
      }
    });
}

/** The config's evaluator, built on first use. */
function lazyEvaluator(config: EvolveConfig, configFile: string): Evaluator {
  let built: Promise<Evaluator> | undefined;
  return async (weights, options) => {
    built ??= evaluatorFor(config, configFile) as Promise<Evaluator>;
    return (await built)(weights, options);
  };
}

interface View {
  end(report?: RunReport): void;
}

function jsonEvents(run: EvolutionRun): View {
  const out = (type: string, data: unknown) => process.stdout.write(JSON.stringify({ type, ...(data as object) }) + '\n');
  run.on('initial', (s: InitialScore) => out('initial', s));
  run.on('trial', (t: TrialEvent) => out('trial', { ...t.entry, best: t.best, mean: t.mean, acceptanceRate: t.acceptanceRate, elapsedSeconds: t.elapsedSeconds }));
  run.on('generation', (g) => out('generation', g));
  run.on('table', (p: TableProgress) => out('table', p));
  return { end: (report) => report && out('done', { stop: report.stop, trials: report.trials, initialBest: report.initialBest, finalBest: report.finalBest, bestMember: report.bestMember, folder: run.folder.dir }) };
}

function progressBar(run: EvolutionRun): View {
  const bar = new cliProgress.SingleBar(
    { format: 'trials {bar} {value}/{total} | best {best} | accepted {rate}% | ETA {eta_text}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let firstDone = 0;
  let t0 = 0;
  run.on('initial', (s: InitialScore) => process.stderr.write(`initial fitness of member ${s.member}: ${s.fitness.toFixed(6)}  (${path.basename(s.model)})${s.recorded ? ', recorded' : ''}\n`));
  run.on('trial', (t: TrialEvent) => {
    if (!started) {
      bar.start(t.trialsPlanned, t.trialsDone - 1, { best: t.best.toFixed(6), rate: '0', eta_text: '-' });
      started = true;
      firstDone = t.trialsDone - 1;
      t0 = t.elapsedSeconds;
    }
    // Our own ETA over this session's trials, as `eta_text`: cli-progress fills its own `eta`
    // placeholder itself (raw seconds, 'INF'), and its `eta_formatted` printed '2m60s' at times.
    const done = t.trialsDone - firstDone;
    const eta = done > 0 ? formatDuration(((t.elapsedSeconds - t0) / done) * (t.trialsPlanned - t.trialsDone)) : '-';
    bar.update(t.trialsDone, { best: t.best.toFixed(6), rate: (t.acceptanceRate * 100).toFixed(0), eta_text: eta });
  });
  run.on('log', (l: string) => {
    if (started) bar.stop();
    started = false;
    process.stderr.write(l + '\n');
  });
  // The final table: its own bar (the longest quiet phase otherwise).
  const table = new cliProgress.SingleBar({ format: 'final table {bar} {value}/{total} | {label} | ETA {eta_text}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  let tableStarted = 0;
  run.on('table', (p: TableProgress) => {
    if (started) bar.stop();
    started = false;
    if (tableStarted === 0) {
      tableStarted = performance.now();
      table.start(p.total, p.done, { label: p.label, eta_text: '-' });
    }
    const elapsed = (performance.now() - tableStarted) / 1000;
    const eta = p.done > 0 ? formatDuration((elapsed / p.done) * (p.total - p.done)) : '-';
    table.update(p.done, { label: p.label, eta_text: eta });
    if (p.done === p.total) table.stop();
  });
  return { end: () => started && bar.stop() };
}

function plainLines(run: EvolutionRun): View {
  run.on('log', (l: string) => process.stderr.write(l + '\n'));
  run.on('table', (p: TableProgress) => p.done < p.total && process.stderr.write(`final table ${p.done + 1}/${p.total}: ${p.label}\n`));
  run.on('initial', (s: InitialScore) => process.stderr.write(`initial member ${s.member} fitness ${s.fitness.toFixed(6)} (${path.basename(s.model)}${s.recorded ? ', recorded in run.json' : ''})\n`));
  run.on('trial', (t: TrialEvent) => {
    const e = t.entry;
    process.stderr.write(`trial ${e.k} gen ${e.generation} target ${e.target}: fitness ${e.fitness.toFixed(6)} vs ${e.parentFitness.toFixed(6)} ${e.accepted ? 'accepted' : 'rejected'}${e.reason ? ` (${e.reason})` : ''}; best ${t.best.toFixed(6)}\n`);
  });
  return { end: () => {} };
}

function summary(r: RunReport, dir: string): string {
  const t = r.throughput;
  return [
    `run ${dir}: ${r.trials} trials, ${r.accepted} accepted (${(r.acceptanceRate * 100).toFixed(1)}%), stopped by ${r.stop === 'aborted' ? 'Ctrl-C (the stop signal)' : r.stop}`,
    r.merged
      ? `merged population (${r.merged.method}) fitness ${r.merged.initial.toFixed(6)} -> ${r.merged.final.toFixed(6)}; merged weights in ${path.join(dir, 'best')}`
      : `best fitness ${r.initialBest.toFixed(6)} -> ${r.finalBest.toFixed(6)} (member ${r.bestMember}); best weights in ${path.join(dir, 'best')}`,
    `${t.evaluations} evaluations in ${t.seconds.toFixed(1)} s (${t.evaluationsPerMinute.toFixed(1)}/min); offspring ${(t.offspringShare * 100).toFixed(0)}%, evaluation ${(t.evaluationShare * 100).toFixed(0)}% of the time`,
    `report: ${path.join(dir, 'report.html')}`,
    '',
  ].join('\n');
}

/** 59.6 s -> '1m00s', never '0m60s': rounds to whole seconds first, then splits. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), sec = total % 60;
  const pad = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : m > 0 ? `${m}m${pad(sec)}s` : `${sec}s`;
}
