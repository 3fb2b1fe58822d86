/**
 * The Evolver run: a population of weight sets, offspring by mutation + crossover, greedy
 * one-to-one replacement on dev-set fitness (Du et al., 2024). Sequential (the paper: each
 * trial is selected before the next is made) or generational (a generation's offspring are
 * made from the same parents, evaluated concurrently, then selected). Everything a resume
 * needs is on disk: a killed run continues to bit-identical final weights.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { BadInputError, EvolverArgumentError, StoppedError } from '../errors.js';
import { STRATEGIES, type Granularity, type Strategy } from '../kernels/strategies.js';
import { bestIsa } from '../kernels/index.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import type { SafetensorsFile } from '../store/safetensors.js';
import type { GgufFile } from '../store/gguf.js';
import { writeCheckpoint } from '../store/write-checkpoint.js';
import { writeGgufCheckpoint } from '../store/write-gguf-like.js';
import { fsyncDir } from '../store/writer.js';
import type { EvolveConfig } from './config.js';
import { DRAW, dither, trialUniforms } from './draws.js';
import { type Evaluator, type Fitness, checkFitness } from './evaluator.js';
import { Journal, type JournalEntry, byteLengthOfLines, decodeNumber, readJournal } from './journal.js';
import { InputWatch, type InputFileIdentity, type InputIdentity, fingerprintFile, identify, mergerFiles, verifyFiles, verifyInputs } from './inputs.js';
import { type TrialMembers, chooseMembers } from './members.js';
import { makeOffspring } from './offspring.js';
import { type ChecksumAlgorithm, DEFAULT_CHECKSUM, contentHash } from './content-hash.js';
import { TrialSlot } from './trial-slot.js';
import type { AcceptedTrial, RemoteEvaluator, TrialRecipe } from './remote.js';
import { Merger } from './merger.js';
import { type InitialMerge, makeInitialMerges, openInitialMerges } from './initial-merges.js';
import { type TensorPlanEntry, checkPopulation, openModels, selectTensors, tensorPlan } from './population.js';
import { type FinalTable, buildFinalTable, mergeKey } from '../eval/table.js';
import type { SimpleMerge } from '../merge/simple.js';
import { type RunReport, buildReport, writeReportHtml } from './report.js';
import { RunFolder, RunFolderError, RunFolderExistsError } from './run-folder.js';
import { SpareFiles } from './spare-files.js';
import { carriedFilesFolder } from '../store/carried-files.js';

export const VERSION = '0.1.0';

/**
 * The evaluator threw. The run stops cleanly (a throw is usually the environment — out of
 * memory, a missing file, a lost GPU — and journaling it as a score would bake a passing
 * failure into the run's history); the failed trial is not journaled and its file is removed,
 * so `--resume` retries it. A NaN score, by contrast, is a result: journaled as rejected.
 */
export class EvaluationError extends BadInputError {
  override readonly name = 'EvaluationError';
  constructor(what: string, dir: string, cause: unknown) {
    super(`the evaluator failed on ${what}: ${cause instanceof Error ? cause.message : String(cause)}; the run stopped and is resumable (\`evolver evolve --resume ${dir}\`)`, { cause });
  }
}

interface RunJson {
  format: 'evolver-run/1';
  version: string;
  /** Names the run to workers (a queue); made when first needed. */
  id?: string;
  created: string;
  config: EvolveConfig;
  evolved: string[];
  carried: string[];
  environment: { node: string; isa: string; host: string };
  /** How trial checksums are computed (content-hash.ts); absent in runs made before it: sha256. */
  checksum?: ChecksumAlgorithm;
  /** What identifies each input model's files (lib/evolve/inputs.ts); absent in runs made before it. */
  inputs?: InputIdentity[];
  /** The merger's files (statistics, base), identified like the inputs; absent without a merger or in older runs. */
  mergerInputs?: InputFileIdentity[];
  initial?: InitialScore[];
  /** With a merger: the merged initial population's fitness. */
  initialMerged?: { checksum: string; fitness: number; metrics: Record<string, number> };
  /** Extra initial members made from merges (config.initial_merges), members N.. in this order. */
  initialMerges?: InitialMerge[];
  finished?: string;
}

export interface InitialScore {
  member: number;
  model: string;
  checksum: string;
  fitness: number;
  metrics: Record<string, number>;
  /** On resume: read from run.json, not evaluated again. */
  recorded?: boolean;
}

interface Member {
  weights: WeightSet;
  /** population/member-i.safetensors when changed, else the input path. */
  file: string;
  checksum: string;
  fitness: Fitness;
}

/** The 'table' event: the final table's progress (one step = one evaluation). */
export interface TableProgress {
  done: number;
  total: number;
  label: string;
}

export type StopReason = 'generations' | 'max_trials' | 'max_seconds' | 'patience' | 'aborted';

export interface TrialEvent {
  entry: JournalEntry;
  best: number;
  bestMember: number;
  mean: number;
  acceptanceRate: number;
  trialsDone: number;
  trialsPlanned: number;
  elapsedSeconds: number;
  /**
   * An accepted trial whose file this process wrote: true when it went over a spare member file
   * (spare-files.ts), false when into a new file (the costly case: README, "The engine at model
   * scale"). Absent otherwise (rejected, or accepted by an earlier process of a resumed run).
   */
  writtenOverSpare?: boolean;
}

export interface EvolveOptions {
  /** The run's configuration. On resume it may be omitted: the one run.json recorded is used. */
  config?: EvolveConfig;
  /** The fitness; required (the CLI builds it from config.fitness). */
  evaluator: Evaluator;
  /** Continue the run in `folder` (default: config.output) instead of starting one. */
  resume?: boolean;
  /** The run folder (default: config.output). A resume works on this folder wherever it was moved or copied to. */
  folder?: string;
  /**
   * On resume: a damaged journal line is cut off (the original is kept beside it) and the
   * population is rebuilt from the journal lines before it, instead of refusing.
   */
  repair?: boolean;
  /** Stops the run after the trial in flight (finished and journaled); the run stays resumable. */
  signal?: AbortSignal;
  /** Aborts evaluations in flight (passed on to the evaluator); the trial is dropped, the run stays resumable. */
  cancel?: AbortSignal;
  /** Kernel threads (default: all cores). */
  threads?: number;
  /**
   * Scores trials (and the initial population) elsewhere, e.g. on queue workers
   * (lib/distributed); `evaluator` then only serves the final table.
   */
  remote?: RemoteEvaluator;
}

/**
 * Events: 'initial' (InitialScore), 'trial' (TrialEvent), 'generation' ({generation, best,
 * mean}), 'table' (TableProgress: the final table), 'done' (RunReport), 'log' (string).
 */
export class EvolutionRun extends EventEmitter {
  /** The run's configuration (on resume: the one run.json recorded). */
  config: EvolveConfig;
  readonly folder: RunFolder;
  private readonly evaluator: Evaluator;
  private readonly signal: AbortSignal | undefined;
  private readonly threads: number | undefined;
  private inputs: WeightSet[] = [];
  private plan: TensorPlanEntry[] = [];
  private evolved: string[] = [];
  private members: Member[] = [];
  private entries: JournalEntry[] = [];
  private cache = new Map<string, Fitness>();
  private journal: Journal | undefined;
  private release: (() => void) | undefined;
  private runJson!: RunJson;
  private started = 0;
  private timing = { offspring: 0, hash: 0, persist: 0, evaluation: 0, evaluations: 0, persisted: 0, persistedOverSpare: 0 };
  /** Trial slots in memory (trial-slot.ts): one per offspring made at once. */
  private slots: TrialSlot[] = [];
  /** The journal lines (and renames) of decided trials, in order; see land(). */
  private landing: Promise<void> = Promise.resolve();
  private landingError: unknown;
  private readonly unlanded = new Set<string>();
  /** Replaced member files that the next accepted offspring is written over (spare-files.ts). */
  private readonly spares: SpareFiles;
  /** Accepted trials persisted by this process, until their 'trial' event: over a spare or not. */
  private readonly overSpare = new Map<number, boolean>();
  private merger: Merger | undefined;
  private mergerBase: WeightSet | undefined;
  /** With a merger: the current merged population and its fitness (what offspring must beat). */
  private merged: { weights: WeightSet; checksum: string; fitness: Fitness } | undefined;

  constructor(options: EvolveOptions) {
    super();
    const dir = options.folder ?? options.config?.output;
    if (dir === undefined) throw new EvolverArgumentError('EvolutionRun: give config (with output) or folder');
    if (options.config === undefined && options.resume !== true) throw new EvolverArgumentError('EvolutionRun: a new run needs a config');
    if (typeof options.evaluator !== 'function') throw new EvolverArgumentError('EvolutionRun: an evaluator function is required');
    this.folder = new RunFolder(dir);
    this.spares = new SpareFiles(this.folder.trial);
    this.config = options.config ?? ({ output: this.folder.dir } as EvolveConfig);
    this.evaluator = options.evaluator;
    this.signal = options.signal;
    this.cancel = options.cancel;
    this.threads = options.threads;
    this.resume = options.resume === true;
    this.repair = options.repair === true;
    this.remote = options.remote;
    // Refused before a run folder exists (startRemote checks a resumed run's recorded config too).
    if (this.remote !== undefined && options.config !== undefined) EvolutionRun.checkRemoteConfig(options.config);
  }

  private static checkRemoteConfig(c: EvolveConfig): void {
    if (c.schedule === 'sequential') throw new EvolverArgumentError('evaluation on a queue needs schedule: generational or asynchronous (the sequential schedule decides each trial before the next is made: nothing to fan out)');
    if (c.merger !== undefined) throw new EvolverArgumentError('evaluation on a queue does not combine with a merger (a merger runs the sequential schedule)');
    if (c.initial_merges !== undefined) throw new EvolverArgumentError('evaluation on a queue does not combine with initial_merges yet (workers rebuild members from the input models only)');
  }
  private readonly remote: RemoteEvaluator | undefined;
  /** With a remote evaluator the one slot is shared: held while an offspring is made and hashed. */
  private slotTurn: Promise<void> = Promise.resolve();
  /** Asynchronous schedule: the population after each number of decided trials still needed. */
  private versions = new Map<number, Member[]>();
  /** Asynchronous schedule: member files kept for trials made before they were replaced. */
  private supersededFiles: { a: number; s: number }[] = [];
  private readonly resume: boolean;
  private readonly repair: boolean;
  private readonly cancel: AbortSignal | undefined;
  private inputWatch: InputWatch | undefined;
  /** A fresh run created the folder: a failure before run.json exists removes it again. */
  private createdFolder = false;

  /** Runs (or resumes) to a stop condition; writes best/, report.json and report.html. */
  async run(): Promise<RunReport> {
    this.started = Date.now();
    try {
      const done = this.finishedReport();
      if (done !== undefined) return done;
      await this.open();
      const schedule = this.config.schedule;
      const stop = schedule === 'sequential' ? await this.sequential() : schedule === 'asynchronous' ? await this.asynchronous() : await this.generational();
      this.spares.clear();  // no more trials: the disk a spare holds is free before best/ is written
      return await this.finish(stop);
    } finally {
      this.close();
    }
  }

  // ---------- opening, resuming ----------

  /** A resume of a finished run reports it, without recomputing anything. */
  private finishedReport(): RunReport | undefined {
    if (!this.resume || !this.folder.exists()) return undefined;
    const runJson = this.folder.readJson<RunJson>(this.folder.runJson);
    if (runJson.finished === undefined || !fs.existsSync(this.folder.reportJson)) return undefined;
    this.config = { ...runJson.config, output: this.folder.dir };
    const report = this.folder.readJson<RunReport>(this.folder.reportJson);
    this.emit('log', `${this.folder.dir} is a finished run (${runJson.finished}); nothing to resume. Its report: ${this.folder.reportHtml}`);
    this.emit('done', report);
    return report;
  }

  private async open(): Promise<void> {
    if (this.resume) {
      if (!this.folder.exists()) throw new RunFolderError(`${this.folder.dir} holds no run to resume (no run.json)`);
      this.runJson = this.folder.readJson<RunJson>(this.folder.runJson);
      if (this.runJson.format !== 'evolver-run/1' || typeof this.runJson.config !== 'object') throw new RunFolderError(`${this.folder.runJson}: not an evolver run (format ${JSON.stringify(this.runJson.format)})`);
      // The folder is the run, wherever it is now: the output recorded at its start is history.
      this.config = { ...this.runJson.config, output: this.folder.dir };
    } else {
      if (this.folder.exists()) throw new RunFolderExistsError(`${this.folder.dir} already holds a run; resume it with \`evolver evolve --resume ${this.folder.dir}\` or choose another output`);
      const stray = this.folder.strayContents();
      if (stray.length > 0) throw new RunFolderExistsError(`${this.folder.dir} is not empty (${stray.slice(0, 3).join(', ')}${stray.length > 3 ? ', ...' : ''}) and holds no run.json: it is not a complete run, and a new run never adopts what is there — choose another output or remove it`);
    }
    const c = this.config;
    // Inputs are checked before anything is created: a failed start leaves no folder behind.
    this.inputs = openModels(c.models);
    const { evolved, carried } = selectTensors(this.inputs[0]!.names(), c.include, c.exclude);
    this.evolved = evolved;
    // Extra members from merges count towards the strategy's minimum (they are made below).
    const m = c.initial_merges;
    const extra = m === undefined ? 0 : Number(m.average) + Number(m.task_arithmetic !== undefined) + Number(m.ties !== undefined);
    checkPopulation(this.inputs, evolved, STRATEGIES[c.strategy as Strategy].othersNeeded + 1 - extra, c.strategy);
    this.plan = tensorPlan(this.inputs[0]!, evolved);
    if (this.resume) {
      this.release = this.folder.acquireLock();
      if (this.runJson.inputs !== undefined) verifyInputs(this.runJson.inputs, this.inputs);
      // Statistics regenerated between a stop and a resume would mix two mergers in one run.
      if (this.runJson.mergerInputs !== undefined) verifyFiles(this.runJson.mergerInputs);
      await this.reopenInitialMerges();
    } else {
      this.createdFolder = !fs.existsSync(this.folder.dir);
      try {
        this.folder.create();
        this.release = this.folder.acquireLock();
        this.runJson = {
          format: 'evolver-run/1',
          version: VERSION,
          created: new Date().toISOString(),
          config: c,
          evolved,
          carried,
          environment: { node: process.version, isa: bestIsa(), host: os.hostname() },
          checksum: DEFAULT_CHECKSUM,
          inputs: this.inputs.map(identify),
          ...(c.merger === undefined ? {} : { mergerInputs: mergerFiles(c).map(fingerprintFile) }),
        };
        // Made before run.json exists: a failure here leaves no folder behind (catch below).
        // The stop signal is honoured between merges: nothing of a run without run.json is
        // resumable, so a stop here removes the folder (catch below) and says so.
        const scoreMerge = (w: WeightSet, what = w.path) => {
          if (this.signal?.aborted) throw new StoppedError(`while making the initial merges of ${this.folder.dir} (before the run started): nothing was kept; run the command again to start over`);
          return this.evaluate(w, `initial merge ${what}`);
        };
        const merges = await makeInitialMerges(c, this.inputs, this.folder.dir, scoreMerge, (l) => this.emit('log', l));
        if (merges.length > 0) {
          this.inputs.push(...openInitialMerges(merges, this.folder.dir));
          this.runJson.initialMerges = merges;
          for (const x of merges) {
            this.emit('log', `initial member ${this.inputs.length - merges.length + merges.indexOf(x)}: ${x.name} merge (${JSON.stringify(x.merge)})`);
            const d = x.depthSearch;
            if (d !== undefined) this.emit('log', `  by depth: dev fitness ${d.from.toFixed(6)} -> ${d.to.toFixed(6)} in ${d.evaluations} merges scored`);
          }
        }
        this.folder.writeJson(this.folder.runJson, this.runJson);
      } catch (err) {
        this.release?.();
        this.release = undefined;
        if (this.createdFolder) fs.rmSync(this.folder.dir, { recursive: true, force: true });
        throw err;
      }
    }
    if (this.runJson.inputs !== undefined) this.inputWatch = new InputWatch(this.runJson.inputs);
    await this.openJournal();
    if (this.remote !== undefined) await this.startRemote();
    // The trial slot's memory and the members' views are made now, with the rest of opening the
    // run, rather than by its first trial (trial-slot.ts; makeViews()); not for a run that will
    // make no trial (all done, or stopped already).
    if (this.stopBeforeTrial(this.entries.length) === undefined) {
      this.slot(0);
      for (const m of this.members) this.makeViews(m.weights);
    }
    await this.initialFitness();
    if (c.merger !== undefined) await this.openMerger();
  }

  /**
   * Reads the journal and brings population/ in line with it. Nothing is changed on disk until
   * every check passed: a refused resume leaves the folder exactly as it was.
   */
  private async openJournal(): Promise<void> {
    const read = readJournal(this.folder.journal);
    let keep = read.validBytes;
    if (read.damaged !== undefined) {
      const where = `${this.folder.journal}: line ${read.damaged.line} is damaged (${read.damaged.reason})`;
      if (!this.repair) throw new RunFolderError(`${where}; nothing was changed. \`evolver evolve --resume ${this.folder.dir} --repair\` keeps the ${read.damaged.line - 1} lines before it (saving the journal as journal.jsonl.damaged-*), rebuilds the population from them and continues`);
      this.emit('log', `repair: ${where}; keeping lines 1-${read.damaged.line - 1}`);
    }
    let entries = read.entries;
    const firstWrongK = entries.findIndex((e, i) => e.k !== i);
    if (firstWrongK >= 0) {
      const where = `${this.folder.journal}: line ${firstWrongK + 1} has k = ${entries[firstWrongK]!.k}, expected ${firstWrongK} (a damaged journal)`;
      if (!this.repair) throw new RunFolderError(`${where}; nothing was changed. \`evolver evolve --resume ${this.folder.dir} --repair\` keeps the lines before it and continues`);
      entries = entries.slice(0, firstWrongK);
    }
    this.entries = this.completeUnits(entries);
    if (this.entries.length !== read.entries.length || read.damaged !== undefined) keep = byteLengthOfLines(this.folder.journal, this.entries.length);
    const consistent = await this.populationMatchesJournal();
    if (consistent !== true || read.damaged !== undefined || firstWrongK >= 0) {
      if (!this.repair) throw new RunFolderError(`${consistent}; nothing was changed. \`evolver evolve --resume ${this.folder.dir} --repair\` rebuilds the population from the journal (no evaluations needed)`);
      if (this.config.schedule === 'asynchronous') throw new RunFolderError(`${this.folder.dir}: --repair does not rebuild runs of the asynchronous schedule yet (their trials were made from earlier population versions); nothing was changed`);
      if (this.config.merger !== undefined) throw new RunFolderError(`${this.folder.dir}: --repair does not rebuild runs with a merger (the merged model's incremental history cannot be replayed exactly); nothing was changed`);
      // The original journal is kept, durably, before anything changes.
      const backup = `${this.folder.journal}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      fs.copyFileSync(this.folder.journal, backup);
      fsyncDir(backup);  // a file: opened read-only and fsync'd the same way
      this.emit('log', `repair: the original journal is ${backup}`);
      // Members are rebuilt beside the population and swapped in only when every replay matched.
      await this.rebuildPopulation();
    } else {
      this.recoverPopulation();
    }
    this.journal = new Journal(this.folder.journal, keep);
    // With a merger, trials are cached by the merged model's checksum, as in the live run.
    for (const e of this.entries) this.cache.set(e.mergedChecksum ?? e.checksum, { score: e.fitness, metrics: e.metrics });
  }
  /**
   * Resume: the merged members made at the start, checked against the checksums their initial
   * scores recorded (a changed file would make every later trial differ from the journal).
   */
  private async reopenInitialMerges(): Promise<void> {
    const recorded = this.runJson.initialMerges ?? [];
    const opened = openInitialMerges(recorded, this.folder.dir);
    this.inputs.push(...opened);
    for (const [i, w] of opened.entries()) {
      const member = this.inputs.length - opened.length + i;
      const expected = this.runJson.initial?.[member]?.checksum;
      if (expected === undefined) continue;  // not scored yet: it is scored (and recorded) now
      const sum = await this.hash(w);
      if (sum !== expected) throw new RunFolderError(`${w.path} does not hold the ${recorded[i]!.name} merge this run started with (checksum ${sum.slice(0, 12)} != ${expected.slice(0, 12)}); the run folder was changed by hand`);
    }
  }

  /** Publishes what workers need: the run's spec and its accepted history. */
  private async startRemote(): Promise<void> {
    const c = this.config;
    EvolutionRun.checkRemoteConfig(c);
    if (this.runJson.inputs === undefined) throw new RunFolderError(`${this.folder.runJson} predates input fingerprints, which workers check their inputs against; start a new run to use a queue`);
    if (this.runJson.id === undefined) {
      this.runJson.id = randomUUID();
      this.folder.writeJson(this.folder.runJson, this.runJson);
    }
    const accepted = this.entries.filter((e) => e.accepted).map((e) => this.acceptedTrial(e));
    await this.remote!.start({ runId: this.runJson.id, config: c, evolved: this.evolved, checksum: this.runJson.checksum ?? 'sha256', inputs: this.runJson.inputs }, accepted);
  }

  /** The version (decided trials) trial k of a journal entry was made from. */
  private versionOf(k: number): number {
    const c = this.config;
    if (c.schedule === 'sequential') return k;
    if (c.schedule === 'generational') return Math.floor(k / this.n) * this.n;
    return Math.max(0, k - c.concurrency + 1);
  }

  private acceptedTrial(e: JournalEntry): AcceptedTrial {
    return { k: e.k, version: e.version ?? this.versionOf(e.k), target: e.target, members: e.members, F: e.F, CR: e.CR, checksum: e.checksum };
  }

  private mergedFile(k?: number): string {
    return path.join(this.folder.dir, 'merged', k === undefined ? 'current.safetensors' : `k-${k}.safetensors`);
  }

  /** The merged population: made and evaluated once, then kept in merged/current.safetensors. */
  private async openMerger(): Promise<void> {
    const m = this.config.merger!;
    if (this.config.schedule !== 'sequential') throw new RunFolderError('evolution with a merger runs the sequential schedule (each trial is selected against the current merged model)');
    this.merger = new Merger(m, this.n);
    if (this.merger.method.needsBase && m.base === undefined) throw new RunFolderError(`merger.method ${m.method} needs merger.base`);
    if (m.base !== undefined) this.mergerBase = openWeights(m.base);
    fs.mkdirSync(path.join(this.folder.dir, 'merged'), { recursive: true });
    const lastAccepted = [...this.entries].reverse().find((e) => e.accepted);
    if (lastAccepted !== undefined && fs.existsSync(this.mergedFile(lastAccepted.k))) fs.renameSync(this.mergedFile(lastAccepted.k), this.mergedFile());
    for (const f of fs.readdirSync(path.join(this.folder.dir, 'merged'))) if (f !== 'current.safetensors') fs.rmSync(path.join(this.folder.dir, 'merged', f), { force: true });
    // prepare() first: a regmean merger's full merge then reuses the factors and terms it made.
    await this.merger.prepare(this.members.map((x) => x.weights), this.evolved);
    if (!fs.existsSync(this.mergedFile())) {
      await this.merger.full(this.members.map((x) => x.weights), this.mergerBase, this.evolved, this.mergedFile());
    }
    const weights = openWeights(this.mergedFile());
    const sum = await this.hash(weights);
    const expected = lastAccepted?.mergedChecksum ?? this.runJson.initialMerged?.checksum;
    if (expected !== undefined && sum !== expected) throw new RunFolderError(`${this.mergedFile()} does not hold the merged model the journal expects (the run folder was changed by hand)`);
    let fitness: Fitness;
    if (lastAccepted !== undefined) fitness = { score: lastAccepted.fitness, metrics: lastAccepted.metrics };
    else if (this.runJson.initialMerged !== undefined) fitness = { score: decodeNumber(this.runJson.initialMerged.fitness, 'initialMerged.fitness'), metrics: this.runJson.initialMerged.metrics };
    else {
      fitness = await this.evaluate(weights);
      this.runJson.initialMerged = { checksum: sum, fitness: fitness.score, metrics: fitness.metrics };
      this.folder.writeJson(this.folder.runJson, this.runJson);
    }
    this.merged = { weights, checksum: sum, fitness };
    this.emit('log', `merged population (${m.method}): fitness ${fitness.score.toFixed(6)}`);
  }

  /** Sequential, asynchronous: every line stands alone. Generational: only whole generations count. */
  private completeUnits(entries: JournalEntry[]): JournalEntry[] {
    if (this.config.schedule !== 'generational') return entries;
    const n = this.inputs.length;
    return entries.slice(0, Math.floor(entries.length / n) * n);
  }

  /** The latest accepted journal entry of every member that changed. */
  private latestAccepted(): Map<number, JournalEntry> {
    const latest = new Map<number, JournalEntry>();
    for (const e of this.entries) if (e.accepted) latest.set(e.target, e);
    return latest;
  }

  /** True, or what is wrong: a member file missing or not holding what the journal accepted last. */
  private async populationMatchesJournal(): Promise<true | string> {
    for (const [t, e] of this.latestAccepted()) {
      const pending = this.folder.trialFile(e.k);
      const file = fs.existsSync(pending) ? pending : this.folder.member(t);
      if (!fs.existsSync(file)) return `${this.folder.member(t)} is missing (the journal accepted trial k=${e.k} into it)`;
      let sum: string;
      try {
        const weights = openWeights(file);
        try {
          sum = await this.hash(weights);
        } finally {
          weights.close();
        }
      } catch (err) {
        return `${file} cannot be read (${(err as Error).message})`;
      }
      if (sum !== e.checksum) return `${file} does not hold the weights journal line k=${e.k} accepted (checksum ${sum.slice(0, 12)} != ${e.checksum.slice(0, 12)}); the run folder was changed by hand or the journal was cut`;
    }
    return true;
  }

  /** Brings population/ in line with the journal (a crash between journal line and rename), then opens the members. */
  private recoverPopulation(): void {
    const latest = this.latestAccepted();
    // An accepted trial's file waits in trial/ until renamed: finish renames a crash interrupted.
    for (const [t, e] of latest) {
      const pending = this.folder.trialFile(e.k);
      if (fs.existsSync(pending)) fs.renameSync(pending, this.folder.member(t));
    }
    this.clearTrials();
    this.members = this.inputs.map((input, i) => {
      const e = latest.get(i);
      if (e === undefined) return { weights: input, file: input.path, checksum: '', fitness: { score: NaN, metrics: {} } };
      return { weights: openWeights(this.folder.member(i)), file: this.folder.member(i), checksum: e.checksum, fitness: { score: e.fitness, metrics: e.metrics } };
    });
  }

  private clearTrials(): void {
    this.spares.clear();
    fs.mkdirSync(this.folder.trial, { recursive: true });
    for (const f of fs.readdirSync(this.folder.trial)) fs.rmSync(path.join(this.folder.trial, f), { force: true });
  }

  /**
   * Repair: replays every accepted journal line from the inputs — each offspring is made again
   * from its parents with the journaled members, F and CR, and must have the journaled checksum.
   * No evaluation is needed; the result is the population an uninterrupted run had.
   */
  private async rebuildPopulation(): Promise<void> {
    this.emit('log', `repair: rebuilding the population from ${this.entries.length} journal lines`);
    this.clearTrials();
    this.members = this.inputs.map((input) => ({ weights: input, file: input.path, checksum: '', fitness: { score: NaN, metrics: {} } }));
    // Rebuilt members live in trial/ until every replay matched; population/ is untouched till then.
    const files = new Map<number, string>();
    const unit = this.config.schedule === 'sequential' ? 1 : this.n;
    try {
      for (let at = 0; at < this.entries.length; at += unit) {
        const parents = [...this.members];
        const made: { e: JournalEntry; file: string; weights: WeightSet }[] = [];
        const slot = this.slot(0);
        for (const e of this.entries.slice(at, at + unit)) {
          if (!e.accepted) continue;
          await makeOffspring(this.offspringSpec(e.k, e.target, parents, e.members, e.F, e.CR), slot);
          const sum = await this.hash(slot.weights);
          if (sum !== e.checksum) throw new RunFolderError(`repair: trial k=${e.k} rebuilt from the journal has checksum ${sum.slice(0, 12)}, the journal says ${e.checksum.slice(0, 12)}; the inputs or the journal differ from the run's — this folder cannot be repaired (population/ and the journal were not changed; the original journal is kept)`);
          const { file, weights, durable } = await this.persist({ ...e, seconds: { ...e.seconds } }, slot);
          await durable;
          made.push({ e, file, weights });
        }
        for (const { e, file, weights } of made) {
          const superseded = files.get(e.target);
          this.install(e, weights);
          if (superseded !== undefined) fs.rmSync(superseded, { force: true });
          files.set(e.target, file);
        }
      }
    } catch (err) {
      for (const m of this.members) if (!this.inputs.includes(m.weights)) m.weights.close();
      this.members = [];
      this.clearTrials();
      throw err;
    }
    // Every replay matched: the rebuilt members replace population/ (stale member files go).
    for (let i = 0; i < this.inputs.length; i++) {
      const file = files.get(i);
      if (file !== undefined) fs.renameSync(file, this.folder.member(i));
      else fs.rmSync(this.folder.member(i), { force: true });
    }
    fsyncDir(this.folder.population);
  }

  private offspringSpec(k: number, target: number, parents: readonly Member[], used: TrialMembers, F: number, CR: number) {
    const c = this.config;
    return {
      plan: this.plan,
      members: parents.map((m) => m.weights),
      target,
      used,
      strategy: c.strategy as Strategy,
      granularity: c.granularity as Granularity,
      F,
      CR,
      seed: c.seed,
      k,
      ...(this.threads ? { threads: this.threads } : {}),
    };
  }

  private async initialFitness(): Promise<void> {
    const known = new Map((this.runJson.initial ?? []).map((s) => [s.member, { ...s, fitness: decodeNumber(s.fitness, 'initial fitness') }]));
    const score = async (i: number): Promise<InitialScore> => {
      const input = this.inputs[i]!;
      const sum = await this.hash(input);
      const fitness = this.cache.get(sum) ?? (await this.evaluate(input, input.path, this.remote && ((signal) => this.remote!.initial(i, sum, signal))));
      input.checkIntact();
      return { member: i, model: input.path, checksum: sum, fitness: fitness.score, metrics: fitness.metrics };
    };
    // Remote: all members at once (workers evaluate them in parallel); a local evaluator: one at a time.
    const missing = this.inputs.map((_, i) => i).filter((i) => !known.has(i));
    const scored = new Map<number, InitialScore>();
    if (this.remote !== undefined) (await Promise.all(missing.map(score))).forEach((s) => scored.set(s.member, s));
    else for (const i of missing) scored.set(i, await score(i));
    const initial: InitialScore[] = [];
    for (let i = 0; i < this.inputs.length; i++) {
      let score = known.get(i) ?? scored.get(i)!;
      initial.push(score);
      if (known.has(i)) score = { ...score, recorded: true };
      this.cache.set(score.checksum, { score: score.fitness, metrics: score.metrics });
      const m = this.members[i]!;
      if (m.file === this.inputs[i]!.path) {
        m.checksum = score.checksum;
        m.fitness = { score: score.fitness, metrics: score.metrics };
      }
      this.emit('initial', score);
    }
    if (this.runJson.initial === undefined) {
      this.runJson.initial = initial;
      this.folder.writeJson(this.folder.runJson, this.runJson);
    }
  }

  /** The checksum of the evolved tensors of `weights`, by the run's algorithm (content-hash.ts). */
  private async hash(weights: WeightSet): Promise<string> {
    const sum = await contentHash(weights, this.evolved, this.runJson.checksum ?? 'sha256', this.threads ?? 0);
    weights.checkIntact();  // a file that shrank under its mapping read as zeros: never a valid checksum
    return sum;
  }

  /** Runs the evaluator; a throw becomes an EvaluationError naming what was evaluated (`what`). */
  private async evaluate(weights: WeightSet, what = `${weights.path}`, remotely?: (signal: AbortSignal) => Promise<Fitness>): Promise<Fitness> {
    const t0 = performance.now();
    // The stop signal lets the evaluation in flight finish; only `cancel` aborts it.
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    this.cancel?.addEventListener('abort', onAbort);
    try {
      let result: unknown;
      try {
        result = remotely !== undefined ? await remotely(controller.signal) : await this.evaluator(weights, { signal: controller.signal });
      } catch (err) {
        throw new EvaluationError(what, this.folder.dir, err);
      }
      return checkFitness(result);
    } finally {
      this.cancel?.removeEventListener('abort', onAbort);
      this.timing.evaluation += (performance.now() - t0) / 1000;
      this.timing.evaluations++;
    }
  }

  // ---------- trials ----------

  private get n(): number {
    return this.members.length;
  }

  /**
   * Makes trial k into `slot` from `parents` (a snapshot of the population: `version` decided
   * trials) and evaluates it.
   */
  private async trial(k: number, parents: readonly Member[], slot: TrialSlot, version = this.versionOf(k)): Promise<JournalEntry> {
    const c = this.config;
    const generation = Math.floor(k / this.n);
    const target = k % this.n;
    const u = trialUniforms(c.seed, k);
    const used = chooseMembers(c.strategy as Strategy, target, this.n, u, parents.map((m) => m.fitness.score), generation, c.generations);
    const F = dither(c.F, u[DRAW.F]!);
    const CR = dither(c.CR, u[DRAW.CR]!);
    try {
      return await this.scoreTrial({ k, version, target, members: used, F, CR }, generation, parents, slot);
    } catch (err) {
      // Nothing of a failed trial stays behind: a resume makes it again from the journal.
      if (this.merger !== undefined) fs.rmSync(this.mergedFile(k), { force: true });
      throw err;
    }
  }

  /**
   * Takes the shared slot (remote evaluation: one slot, held only while an offspring is made and
   * hashed, or remade to be persisted); a local run has a slot per offspring in flight.
   */
  private async withSlot<T>(use: () => Promise<T>): Promise<T> {
    if (this.remote === undefined) return use();
    const previous = this.slotTurn;
    let release!: () => void;
    this.slotTurn = new Promise((resolve) => (release = resolve));
    await previous;
    try {
      return await use();
    } finally {
      release();
    }
  }

  /** Makes the offspring of `recipe` into `slot` and returns its checksum. */
  private async makeAndHash(recipe: TrialRecipe, parents: readonly Member[], slot: TrialSlot): Promise<{ sum: string; offspringSeconds: number; hashSeconds: number }> {
    const t0 = performance.now();
    await makeOffspring(this.offspringSpec(recipe.k, recipe.target, parents, recipe.members, recipe.F, recipe.CR), slot);
    const offspringSeconds = (performance.now() - t0) / 1000;
    this.timing.offspring += offspringSeconds;
    const h0 = performance.now();
    const sum = await this.hash(slot.weights);
    const hashSeconds = (performance.now() - h0) / 1000;
    this.timing.hash += hashSeconds;
    return { sum, offspringSeconds, hashSeconds };
  }

  private async scoreTrial(recipe: TrialRecipe, generation: number, parents: readonly Member[], slot: TrialSlot): Promise<JournalEntry> {
    const c = this.config;
    const { k, target, members: used, F, CR } = recipe;
    const child = slot.weights;
    let fitness: Fitness;
    let mergedSum: string | undefined;
    let cached = false;
    const { sum, offspringSeconds, hashSeconds } = await this.withSlot(() => this.makeAndHash(recipe, parents, slot));
    // With a merger the offspring is scored inside the merged population.
    let scored: WeightSet = child;
    let scoredSum = sum;
    if (this.merger !== undefined) {
      const m0 = performance.now();
      const mergedTrial = this.mergedFile(k);
      fs.rmSync(mergedTrial, { force: true });
      if (this.merger.incremental) await this.merger.update(this.merged!.weights, parents.map((p) => p.weights), child, target, this.evolved, mergedTrial);
      else await this.merger.full(parents.map((p, i) => (i === target ? child : p.weights)), this.mergerBase, this.evolved, mergedTrial);
      this.timing.offspring += (performance.now() - m0) / 1000;
      scored = openWeights(mergedTrial);
      scoredSum = mergedSum = await this.hash(scored);
    }
    // This trial's own evaluation time (others may be evaluated at the same time).
    const e0 = performance.now();
    try {
      const hit = this.cache.get(scoredSum);
      if (hit !== undefined) {
        fitness = hit;
        cached = true;
      } else {
        const remote = this.remote;
        fitness = await this.evaluate(scored, `trial k=${k} (generation ${generation}, target ${target})`, remote && ((signal) => remote.trial(recipe, sum, signal)));
      }
      // An evaluation that read a file which shrank under it read zeros: not a result.
      scored.checkIntact();
      slot.checkIntact();
    } finally {
      if (scored !== child) scored.close();
    }
    this.cache.set(scoredSum, fitness);
    const parentFitness = this.merged !== undefined ? this.merged.fitness.score : parents[target]!.fitness.score;
    const better = c.accept === 'better' ? fitness.score > parentFitness : fitness.score >= parentFitness;
    const entry: JournalEntry = {
      k,
      generation,
      target,
      members: used,
      strategy: c.strategy,
      F,
      CR,
      granularity: c.granularity,
      seed: c.seed,
      fitness: fitness.score,
      metrics: fitness.metrics,
      parentFitness,
      accepted: better && fitness.score !== -Infinity,
      checksum: sum,
      seconds: { offspring: offspringSeconds, hash: hashSeconds, evaluation: cached ? 0 : (performance.now() - e0) / 1000 },
    };
    if (c.schedule === 'asynchronous') entry.version = recipe.version;
    if (cached) entry.cached = true;
    if (mergedSum !== undefined) entry.mergedChecksum = mergedSum;
    if (fitness.score === -Infinity) entry.reason = fitness.reason ?? 'fitness is -Infinity or NaN (e.g. NaN weights or an evaluation failure)';
    return entry;
  }

  /**
   * Writes an accepted offspring from its slot to trial/k-<k>.safetensors (at memory speed, into
   * the page cache) and opens it: the new member. `durable` resolves after its fsync.
   */
  private async persist(entry: JournalEntry, slot: TrialSlot): Promise<{ file: string; weights: WeightSet; durable: Promise<void> }> {
    const p0 = performance.now();
    const file = this.folder.trialFile(entry.k);
    fs.rmSync(file, { force: true });
    const overwrite = this.spares.take(file);
    const { durable } = await slot.persist(file, { evolver_trial: String(entry.k) }, overwrite);
    const weights = openWeights(file);
    this.makeViews(weights);
    const seconds = (performance.now() - p0) / 1000;
    entry.seconds.persist = seconds;
    this.timing.persist += seconds;
    this.timing.persisted++;
    if (overwrite) this.timing.persistedOverSpare++;
    this.overSpare.set(entry.k, overwrite);
    return { file, weights, durable };
  }

  /**
   * Makes the views the kernels read of a member's evolved tensors, in one burst before a trial
   * uses them (a WeightSet keeps its views). Made during a trial instead, each new view's bytes,
   * which V8 counts as external memory, set off garbage collections whose threads took the
   * kernels' cores: the trial after an acceptance took 0.45 – 0.5 s instead of 0.23 s at 0.75B
   * (README, "The engine at model scale").
   */
  private makeViews(weights: WeightSet): void {
    for (const e of this.plan) if (e.evolved) weights.chunks(e.name);
  }

  /** persist(), remaking the offspring first when the shared slot has moved on (remote evaluation). */
  private async persistTrial(entry: JournalEntry, slot: TrialSlot, parents: readonly Member[]): Promise<{ file: string; weights: WeightSet; durable: Promise<void> }> {
    if (this.remote === undefined) return this.persist(entry, slot);
    return this.withSlot(async () => {
      const recipe = { k: entry.k, version: entry.version ?? this.versionOf(entry.k), target: entry.target, members: entry.members, F: entry.F, CR: entry.CR };
      const { sum } = await this.makeAndHash(recipe, parents, slot);
      if (sum !== entry.checksum) throw new RunFolderError(`trial k=${entry.k} made again to be kept has checksum ${sum.slice(0, 12)}, not ${entry.checksum.slice(0, 12)} as when it was scored`);
      return this.persist(entry, slot);
    });
  }

  /**
   * Renames an accepted trial's file into the population (atomic) and installs it as member
   * `target` (already opened by persist(), or opened here).
   */
  private accept(entry: JournalEntry, file: string, opened?: WeightSet): void {
    const dest = this.folder.member(entry.target);
    this.replaceMember(file, dest);
    this.install(entry, opened ?? openWeights(dest));
    this.acceptMerged(entry);
  }

  /**
   * Renames an accepted trial's file over member file `dest`, keeping the file it replaces as a
   * spare (spare-files.ts) when the run wrote it. With a spare kept, the rename is made durable
   * (population/ fsync'd) before anything can write over the spare: no crash can then leave
   * `dest` naming rewritten bytes, whatever order the file system writes its changes in.
   */
  private replaceMember(file: string, dest: string): void {
    const kept = this.spares.keep(dest);
    fs.renameSync(file, dest);
    if (kept) fsyncDir(path.dirname(dest));
  }

  /** `keepOld`: the replaced member's weights stay open (older population versions use them). */
  private install(entry: JournalEntry, weights: WeightSet, keepOld = false): void {
    const old = this.members[entry.target]!;
    if (!keepOld && old.weights !== this.inputs[entry.target]) old.weights.close();
    this.members[entry.target] = { weights, file: this.folder.member(entry.target), checksum: entry.checksum, fitness: { score: entry.fitness, metrics: entry.metrics } };
  }

  private acceptMerged(entry: JournalEntry): void {
    if (this.merged === undefined) return;
    this.merger!.memberReplaced(entry.target);
    this.merged.weights.close();
    fs.renameSync(this.mergedFile(entry.k), this.mergedFile());
    this.merged = { weights: openWeights(this.mergedFile()), checksum: entry.mergedChecksum!, fitness: { score: entry.fitness, metrics: entry.metrics } };
  }

  private record(entry: JournalEntry): void {
    this.entries.push(entry);
    const scores = this.members.map((m) => m.fitness.score);
    const best = Math.max(...scores);
    const accepted = this.entries.filter((e) => e.accepted).length;
    const event: TrialEvent = {
      entry,
      best,
      bestMember: scores.indexOf(best),
      mean: scores.reduce((a, b) => a + b, 0) / scores.length,
      acceptanceRate: accepted / this.entries.length,
      trialsDone: this.entries.length,
      trialsPlanned: this.plannedTrials(),
      elapsedSeconds: (Date.now() - this.started) / 1000,
    };
    const overSpare = this.overSpare.get(entry.k);
    this.overSpare.delete(entry.k);
    if (overSpare !== undefined) event.writtenOverSpare = overSpare;
    this.emit('trial', event);
  }

  private plannedTrials(): number {
    const byGenerations = this.config.generations * this.n;
    return Math.min(byGenerations, this.config.max_trials ?? Infinity);
  }

  /** `decided`: the trials whose results may count (asynchronous: those trial k was made after). */
  private stopBeforeTrial(k: number, decided = this.entries.length): StopReason | undefined {
    const c = this.config;
    if (this.signal?.aborted) return 'aborted';
    if (Math.floor(k / this.n) >= c.generations) return 'generations';
    if (c.max_trials !== undefined && k >= c.max_trials) return 'max_trials';
    if (c.max_seconds !== undefined && (Date.now() - this.started) / 1000 >= c.max_seconds) return 'max_seconds';
    if (c.patience !== undefined && k % this.n === 0 && this.generationsWithoutImprovement(decided) >= c.patience) return 'patience';
    return undefined;
  }

  /** Whole generations since the best fitness last improved, over the first `decided` trials. */
  private generationsWithoutImprovement(decided: number): number {
    const entries = this.entries.slice(0, decided);
    const initialBest = Math.max(...(this.runJson.initial ?? []).map((s) => s.fitness));
    let best = initialBest;
    let lastImprovement = 0;
    for (const e of entries) {
      if (e.accepted && e.fitness > best) {
        best = e.fitness;
        lastImprovement = e.generation + 1;
      }
    }
    return Math.floor(entries.length / this.n) - lastImprovement;
  }

  /**
   * Sequential: each trial is selected before the next is made. An accepted offspring's fsync,
   * journal line and rename ("landing") overlap the next trial; landings run one after another
   * in trial order, so the journal's order and its guarantees are those of a plain loop: a line
   * is appended only after the file it accepts is durable, and before the rename. A crash
   * loses the trials whose lines were not yet written (the landing one and the one in flight);
   * a resume makes them again, identically.
   */
  private async sequential(): Promise<StopReason> {
    const slot = this.slot(0);
    // At most one landing overlaps a trial: before trial k starts, trial k-2's line is written.
    let landedBefore: Promise<void> = this.landing;
    try {
      for (let k = this.entries.length; ; k++) {
        await landedBefore.catch(() => {});
        landedBefore = this.landing;
        this.throwIfLandingFailed();
        const stop = this.stopBeforeTrial(k);
        if (stop) {
          await this.landing.catch(() => {});
          this.throwIfLandingFailed();  // the last trial's line must be written before outputs are
          return stop;
        }
        const entry = await this.trial(k, this.members, slot);
        if (entry.accepted) {
          const { file, weights, durable } = await this.persist(entry, slot);
          if (this.merger !== undefined) {
            // The merged model is renamed with the member: no overlap with a merger.
            await durable;
            this.land([entry], async () => () => this.accept(entry, file, weights));
            await this.landing;
          } else {
            this.install(entry, weights);  // the next trial reads it from the page cache
            this.unlanded.add(file);
            this.land([entry], async () => {
              await durable;
              // install() above closed the replaced member: its file may become a spare.
              return () => this.replaceMember(file, this.folder.member(entry.target));
            }, file);
          }
        } else {
          this.land([entry], async () => () => this.merger !== undefined && fs.rmSync(this.mergedFile(k), { force: true }));
        }
        this.record(entry);
        if ((k + 1) % this.n === 0) this.emitGeneration(Math.floor(k / this.n));
      }
    } finally {
      await this.landing.catch(() => {});
      // Accepted files whose journal line was never written: not part of the run (a resume remakes them).
      for (const f of this.unlanded) fs.rmSync(f, { force: true });
      this.unlanded.clear();
    }
  }

  /**
   * Queues the journal line(s) of decided trials: after the landings before them, after
   * `ready` (which returns what to do once the line is durable: the renames), and after the
   * last checks (beforeJournal).
   */
  private land(entries: JournalEntry[], ready: () => Promise<(() => unknown) | void>, file?: string): void {
    const previous = this.landing;
    this.landing = (async () => {
      await previous;
      const after = await ready();
      this.beforeJournal();
      this.journal!.append(entries);
      if (file !== undefined) this.unlanded.delete(file);  // journaled: a resume finishes its rename
      if (typeof after === 'function') after();
    })();
    this.landing.catch((err: unknown) => {
      this.landingError ??= err;
    });
  }

  private throwIfLandingFailed(): void {
    if (this.landingError !== undefined) throw this.landingError;
  }

  /**
   * Asynchronous (steady-state DE with a window W = concurrency): trial k is made from the
   * population after trials 0..k-W are decided (its journal line records that `version`); up to
   * W trials are in flight, and they are decided in k order against the member as it is then.
   * The schedule is thus a function of the journal alone: a resume, a local run and a run on any
   * number of queue workers make the same trials. W = 1 is the sequential schedule. A member
   * replaced while older trials still need it stays in population/superseded/ until no trial a
   * resume could make needs it.
   */
  private async asynchronous(): Promise<StopReason> {
    const W = this.config.concurrency;
    const first = this.entries.length;
    await this.openVersions(first);
    const inflight = new Map<number, { trial: Promise<JournalEntry>; parents: Member[]; slot: TrialSlot }>();
    let next = first;
    let stop: StopReason | undefined;
    const launch = () => {
      while (stop === undefined && this.versionOf(next) <= this.entries.length) {
        const k = next;
        const version = this.versionOf(k);
        stop = this.stopBeforeTrial(k, version);
        if (stop !== undefined) break;
        next++;
        const parents = this.versions.get(version)!;
        const slot = this.slot(this.remote !== undefined ? 0 : k % W);
        const trial = this.trial(k, parents, slot, version);
        trial.catch(() => {});  // awaited in k order below
        inflight.set(k, { trial, parents, slot });
      }
    };
    try {
      launch();
      // Trials in flight when a stop condition holds are still decided: the journal stays a prefix.
      for (let k = first; inflight.has(k); k++) {
        const { trial, parents, slot } = inflight.get(k)!;
        const entry = await trial;
        inflight.delete(k);
        this.throwIfLandingFailed();
        await this.decideAsynchronous(entry, parents, slot);
        launch();
      }
      await this.landing.catch(() => {});
      this.throwIfLandingFailed();
      return stop ?? 'aborted';
    } catch (err) {
      stop = 'aborted';
      await Promise.allSettled([...inflight.values()].map((f) => f.trial));
      throw err;
    } finally {
      await this.landing.catch(() => {});
      for (const f of this.unlanded) fs.rmSync(f, { force: true });
      this.unlanded.clear();
    }
  }

  /** Selection of an asynchronous trial, against the target as it is now; then the new version. */
  private async decideAsynchronous(entry: JournalEntry, parents: readonly Member[], slot: TrialSlot): Promise<void> {
    const c = this.config;
    const W = c.concurrency;
    const t = entry.target;
    entry.parentFitness = this.members[t]!.fitness.score;
    const better = c.accept === 'better' ? entry.fitness > entry.parentFitness : entry.fitness >= entry.parentFitness;
    entry.accepted = better && entry.fitness !== -Infinity;
    const decided = entry.k + 1;
    if (entry.accepted) {
      const replaced = this.latestAccepted().get(t)?.k;
      const { file, weights, durable } = await this.persistTrial(entry, slot, parents);
      this.install(entry, weights, true);  // older versions may still use the member it replaces
      this.unlanded.add(file);
      const dest = this.folder.member(t);
      this.land([entry], async () => {
        await durable;
        // Kept before the journal line: a resume may have to remake trials from the old member.
        if (replaced !== undefined && W > 1) this.keepSuperseded(dest, replaced, entry.k);
        return () => {
          fs.renameSync(file, dest);
          this.dropSuperseded(decided);
        };
      }, file);
      await this.remote?.accepted(this.acceptedTrial(entry));
    } else {
      this.land([entry], async () => () => this.dropSuperseded(decided));
    }
    this.record(entry);
    if (decided % this.n === 0) this.emitGeneration(decided / this.n - 1);
    this.versions.set(decided, [...this.members]);
    this.pruneVersions(this.versionOf(decided));
  }

  /** Hard-links member file `dest` (made by trial a, replaced by trial s) into population/superseded/. */
  private keepSuperseded(dest: string, a: number, s: number): void {
    const kept = this.folder.supersededFile(a);
    if (!fs.existsSync(kept)) fs.linkSync(dest, kept);
    fsyncDir(this.folder.superseded);
    this.supersededFiles.push({ a, s });
  }

  /** Removes superseded members no trial after the first `decided` can be made from. */
  private dropSuperseded(decided: number): void {
    const W = this.config.concurrency;
    this.supersededFiles = this.supersededFiles.filter(({ a, s }) => {
      if (s + W > decided) return true;
      fs.rmSync(this.folder.supersededFile(a), { force: true });
      return false;
    });
  }

  /** Forgets population versions before `oldest`, closing members no remaining version uses. */
  private pruneVersions(oldest: number): void {
    const dropped: Member[] = [];
    for (const [v, members] of this.versions) {
      if (v >= oldest) continue;
      dropped.push(...members);
      this.versions.delete(v);
    }
    const inUse = new Set<WeightSet>([...this.inputs, ...this.members.map((m) => m.weights)]);
    for (const members of this.versions.values()) for (const m of members) inUse.add(m.weights);
    for (const m of dropped) {
      if (inUse.has(m.weights)) continue;
      m.weights.close();
      inUse.add(m.weights);  // closed once
    }
  }

  /**
   * The population versions trials made next can come from: the current one and, on resume,
   * the W-1 before it, rebuilt from the inputs, population/ and population/superseded/.
   */
  private async openVersions(first: number): Promise<void> {
    const W = this.config.concurrency;
    this.versions = new Map([[first, [...this.members]]]);
    fs.mkdirSync(this.folder.superseded, { recursive: true });
    const accepted = this.entries.filter((e) => e.accepted);
    // Which accepted trial replaced each one (same target, next accepted).
    const replacedBy = new Map<number, number>();
    for (const [i, e] of accepted.entries()) {
      const s = accepted.slice(i + 1).find((x) => x.target === e.target);
      if (s !== undefined) replacedBy.set(e.k, s.k);
    }
    this.supersededFiles = [...replacedBy].filter(([, s]) => s + W > first).map(([a, s]) => ({ a, s }));
    const kept = new Set(this.supersededFiles.map((f) => path.basename(this.folder.supersededFile(f.a))));
    for (const f of fs.readdirSync(this.folder.superseded)) if (!kept.has(f)) fs.rmSync(path.join(this.folder.superseded, f), { force: true });
    const initial = this.runJson.initial ?? [];
    const opened = new Map<number, Member>();
    for (let v = this.versionOf(first); v < first; v++) {
      const members: Member[] = [];
      for (let i = 0; i < this.n; i++) {
        const a = accepted.filter((e) => e.target === i && e.k < v).at(-1);
        const s = a === undefined ? undefined : replacedBy.get(a.k);
        if (a === undefined) {
          const score = initial[i]!;
          members.push({ weights: this.inputs[i]!, file: this.inputs[i]!.path, checksum: score.checksum, fitness: { score: decodeNumber(score.fitness, 'initial fitness'), metrics: score.metrics } });
        } else {
          // The member's latest version is population/; one replaced since is in superseded/.
          members.push(s === undefined ? this.members[i]! : await this.openSuperseded(a, opened));
        }
      }
      this.versions.set(v, members);
    }
  }

  private async openSuperseded(a: JournalEntry, opened: Map<number, Member>): Promise<Member> {
    const known = opened.get(a.k);
    if (known !== undefined) return known;
    const file = this.folder.supersededFile(a.k);
    if (!fs.existsSync(file)) throw new RunFolderError(`${file} is missing: trials a resume makes were made from that member (trial k=${a.k}); the run folder was changed by hand`);
    const weights = openWeights(file);
    const sum = await this.hash(weights);
    if (sum !== a.checksum) {
      weights.close();
      throw new RunFolderError(`${file} does not hold the member trial k=${a.k} made (checksum ${sum.slice(0, 12)} != ${a.checksum.slice(0, 12)}); the run folder was changed by hand`);
    }
    const member = { weights, file, checksum: a.checksum, fitness: { score: a.fitness, metrics: a.metrics } };
    opened.set(a.k, member);
    return member;
  }

  private slot(i: number): TrialSlot {
    this.slots[i] ??= TrialSlot.create(this.plan, this.inputs[0]!, `evolver trial slot ${i} of ${this.folder.dir}`);
    return this.slots[i]!;
  }

  private async generational(): Promise<StopReason> {
    const c = this.config;
    for (let g = this.entries.length / this.n; ; g++) {
      const stop = this.stopBeforeTrial(g * this.n);
      if (stop) return stop;
      const parents = [...this.members];
      const results: ({ entry: JournalEntry; persisted?: { file: string; weights: WeightSet } } | undefined)[] = Array.from({ length: this.n }, () => undefined);
      const persisted = () => results.flatMap((r) => (r?.persisted ? [r.persisted] : []));
      // `concurrency` workers, each with its own slot: while one evaluates, another makes its
      // offspring. Remote evaluation: the whole generation at once, sharing one slot.
      let next = 0;
      let failed = false;
      const lanes = this.remote !== undefined ? this.n : Math.min(c.concurrency, this.n);
      const worker = async (w: number) => {
        const slot = this.slot(this.remote !== undefined ? 0 : w);
        while (next < this.n && !this.signal?.aborted && !failed) {
          const t = next++;
          const entry = await this.trial(g * this.n + t, parents, slot);
          if (!entry.accepted) {
            results[t] = { entry };
            continue;
          }
          const { file, weights, durable } = await this.persistTrial(entry, slot, parents);
          results[t] = { entry, persisted: { file, weights } };
          await durable;
        }
      };
      // Every worker is settled before anything is closed: a failing one stops the others from
      // taking new trials, and the run ends only when none is still using a slot or a member.
      const settled = await Promise.allSettled(Array.from({ length: lanes }, (_, w) => worker(w).catch((err: unknown) => {
        failed = true;
        throw err;
      })));
      const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure !== undefined) {
        for (const p of persisted()) this.dropPersisted(p);
        throw failure.reason;
      }
      if (results.some((r) => r === undefined)) {
        // Aborted mid-generation: nothing of it is journaled; a resume redoes it identically.
        for (const p of persisted()) this.dropPersisted(p);
        return 'aborted';
      }
      const done = results as { entry: JournalEntry; persisted?: { file: string; weights: WeightSet } }[];
      try {
        this.beforeJournal();
        this.journal!.append(done.map((r) => r.entry));
      } catch (err) {
        for (const p of persisted()) this.dropPersisted(p);
        throw err;
      }
      for (const r of done) if (r.persisted) this.accept(r.entry, r.persisted.file, r.persisted.weights);
      for (const r of done) if (r.entry.accepted) await this.remote?.accepted(this.acceptedTrial(r.entry));
      for (const r of done) this.record(r.entry);
      this.emitGeneration(g);
    }
  }

  private dropPersisted(p: { file: string; weights: WeightSet }): void {
    p.weights.close();
    fs.rmSync(p.file, { force: true });
  }

  /**
   * Last checks before trials become history: the inputs are still the run's (a replaced input
   * would make the journal lie about how members were made). Trial files of a failure stay in
   * trial/ until the resume clears them.
   */
  private beforeJournal(): void {
    this.inputWatch?.check();
    for (const input of this.inputs) input.checkIntact();
    for (const m of this.members) m.weights.checkIntact();
  }

  private emitGeneration(generation: number): void {
    const scores = this.members.map((m) => m.fitness.score);
    this.emit('generation', { generation, best: Math.max(...scores), mean: scores.reduce((a, b) => a + b, 0) / scores.length });
  }

  // ---------- outputs ----------

  private async finish(stop: StopReason): Promise<RunReport> {
    const loopSeconds = (Date.now() - this.started) / 1000;  // throughput excludes the outputs below
    const scores = this.members.map((m) => m.fitness.score);
    const bestMember = scores.indexOf(Math.max(...scores));
    const best = this.members[bestMember]!;
    const firstInput = this.inputs[0]!;
    // Same sharding as the inputs: shards of at most the largest input shard's data.
    // (A sharded checkpoint is always safetensors.)
    const maxShard = firstInput.format === 'sharded' ? Math.max(...(firstInput.files as SafetensorsFile[]).map((f) => f.size - f.header.dataStart)) : Number.MAX_SAFE_INTEGER;
    // With a merger the output is the merged population, not one member.
    const output = this.merged?.weights ?? best.weights;
    const copyFilesFrom = this.config.copy_files_from ?? carriedFilesFolder(firstInput.path) ?? firstInput.folder;
    if (firstInput.format === 'gguf') {
      // GGUF in, GGUF out: llama.cpp loads best/model.gguf with the first input's metadata.
      writeGgufCheckpoint(firstInput.files[0] as GgufFile, output, this.folder.best, { copyFilesFrom, overwrite: true });
    } else {
      writeCheckpoint(output, this.folder.best, {
        maxShardBytes: maxShard,
        copyFilesFrom,
        overwrite: true,
        metadata: this.merged !== undefined ? { evolver_merger: this.config.merger!.method } : { evolver_best_member: String(bestMember) },
      });
    }
    let finalTable: FinalTable | undefined;
    if (this.config.final_table !== undefined && stop !== 'aborted') {
      this.emit('log', 'evaluating the final table on the held-out sets');
      finalTable = await buildFinalTable(this.config, this.folder.best, path.join(this.folder.dir, 'merges'), this.evaluator, {
        log: (l) => this.emit('log', l),
        onProgress: (done, total, label) => this.emit('table', { done, total, label } satisfies TableProgress),
        ...this.initialMergeRows(),
      });
    }
    const report = buildReport({
      config: this.config,
      initial: this.runJson.initial ?? [],
      entries: this.entries,
      final: this.members.map((m, i) => ({ member: i, file: m.file, checksum: m.checksum, fitness: m.fitness.score, metrics: m.fitness.metrics })),
      bestMember,
      stop,
      seconds: loopSeconds,
      timing: this.timing,
      evolved: this.evolved.length,
      ...(finalTable ? { finalTable } : {}),
    });
    if (this.merged !== undefined && this.runJson.initialMerged !== undefined) {
      // With a merger the run's fitness is the merged population's.
      report.merged = { method: this.config.merger!.method, initial: decodeNumber(this.runJson.initialMerged.fitness, 'initialMerged.fitness'), final: this.merged.fitness.score };
      report.initialBest = report.merged.initial;
      report.finalBest = report.merged.final;
    }
    this.folder.writeJson(this.folder.reportJson, report);
    await writeReportHtml(report, this.folder.reportHtml);
    // Last: a run marked finished has its whole report (a resume of it only shows it).
    if (stop !== 'aborted') {
      this.runJson.finished = new Date().toISOString();
      this.folder.writeJson(this.folder.runJson, this.runJson);
      // A finished run is never continued: no trial will be made from a superseded member.
      fs.rmSync(this.folder.superseded, { recursive: true, force: true });
    }
    this.emit('done', report);
    return report;
  }

  /**
   * The final table's view of the initial merges: a row for the task-arithmetic member refined by
   * depth (the other merges are the table's own merge rows), and the λ candidates' dev scores,
   * which the table's merge rows reuse when the base is the same (the same merges).
   */
  private initialMergeRows(): { initialMembers: { name: string; file: string; note: string }[]; knownDevScores: Map<string, number> } {
    const recorded = this.runJson.initialMerges ?? [];
    const knownDevScores = new Map<string, number>();
    if (this.config.initial_merges?.base !== undefined && this.config.initial_merges.base === this.config.final_table?.merges?.base) {
      for (const r of recorded) {
        for (const c of r.candidates ?? []) {
          // Same merges as the table's rows: the same models, base, default dtype and fitness.
          const m: SimpleMerge = r.merge.kind === 'ties' ? { kind: 'ties', lambda: c.lambda, density: r.merge.density } : { kind: 'task_arithmetic', lambda: c.lambda };
          // run.json writes a non-finite score as a string ("-Infinity").
          knownDevScores.set(mergeKey(m), decodeNumber(c.fitness, 'initialMerges candidate fitness'));
        }
      }
    }
    const initialMembers = recorded
      .filter((r) => r.depthSearch !== undefined && r.merge.kind === 'task_arithmetic' && r.merge.depth !== undefined)
      .map((r) => ({
        name: 'task_arithmetic by depth',
        file: path.join(this.folder.dir, r.file),
        note: `initial member: λ = ${(r.merge as { lambda: number }).lambda} × a weight per model and depth group, searched on dev in ${r.depthSearch!.evaluations} merges`,
      }));
    return { initialMembers, knownDevScores };
  }

  private close(): void {
    const open = new Set(this.members.map((m) => m.weights));
    for (const members of this.versions.values()) for (const m of members) open.add(m.weights);
    for (const w of open) if (!this.inputs.includes(w)) w.close();
    for (const i of this.inputs) i.close();
    this.merged?.weights.close();
    this.mergerBase?.close();
    this.merger?.close();
    for (const slot of this.slots) slot?.close();
    this.spares.clear();
    this.journal?.close();
    this.release?.();
  }
}

/** Convenience: run to completion with a JS evaluator. */
export async function evolve(options: EvolveOptions): Promise<RunReport> {
  if (typeof options.evaluator !== 'function') throw new EvolverArgumentError('evolve(): an evaluator function is required');
  return new EvolutionRun(options).run();
}
