/**
 * One run as a worker sees it: the input models (remapped under --models-root), the run's
 * evaluator, and every population version rebuilt from the inputs and the accepted history —
 * each accepted offspring made again with the same kernels and checked against the checksum the
 * coordinator journaled. Rebuilt members are cached as files (one per accepted trial) in the
 * worker's cache folder; members no recent job can need are dropped (and rebuilt if a stale job
 * asks for them after all).
 */
import fs from 'node:fs';
import path from 'node:path';

import { BadInputError } from '../errors.js';
import { resolvePaths } from '../evolve/config.js';
import { contentHash } from '../evolve/content-hash.js';
import type { Evaluator } from '../evolve/evaluator.js';
import { evaluatorFor } from '../evolve/fitness.js';
import { verifyInputs } from '../evolve/inputs.js';
import { makeOffspring } from '../evolve/offspring.js';
import { type TensorPlanEntry, openModels, tensorPlan } from '../evolve/population.js';
import type { AcceptedTrial, RunSpec, TrialRecipe } from '../evolve/remote.js';
import { TrialSlot } from '../evolve/trial-slot.js';
import type { Granularity, Strategy } from '../kernels/strategies.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import type { StoredSpec } from './protocol.js';

/**
 * This worker cannot serve the run: its inputs or its build make different weights than the
 * coordinator's. The job goes back to the queue for another worker; this one stops.
 */
export class WorkerRefusal extends BadInputError {
  override readonly name = 'WorkerRefusal';
}

/** A pool of trial slots (memory for one offspring each), made on demand. */
class SlotPool {
  private free: TrialSlot[] = [];
  private all: TrialSlot[] = [];
  constructor(private readonly plan: readonly TensorPlanEntry[], private readonly carriedFrom: WeightSet, private readonly label: string) {}
  take(): TrialSlot {
    const slot = this.free.pop() ?? TrialSlot.create(this.plan, this.carriedFrom, `${this.label} slot ${this.all.length}`);
    if (!this.all.includes(slot)) this.all.push(slot);
    return slot;
  }
  give(slot: TrialSlot): void {
    this.free.push(slot);
  }
  close(): void {
    for (const s of this.all) s.close();
  }
}

export class WorkerRun {
  readonly spec: RunSpec;
  readonly evaluator: Evaluator;
  readonly inputs: WeightSet[];
  private readonly plan: TensorPlanEntry[];
  private readonly slots: SlotPool;
  private readonly cacheDir: string;
  private readonly threads: number | undefined;
  private accepted: AcceptedTrial[] = [];
  /** Rebuilt members by the k of the trial that made them. */
  private readonly built = new Map<number, Promise<WeightSet>>();
  private newestVersion = 0;

  private constructor(spec: RunSpec, inputs: WeightSet[], evaluator: Evaluator, cacheDir: string, threads: number | undefined) {
    this.spec = spec;
    this.inputs = inputs;
    this.evaluator = evaluator;
    this.plan = tensorPlan(inputs[0]!, spec.evolved);
    this.slots = new SlotPool(this.plan, inputs[0]!, `evolver worker (run ${spec.runId})`);
    this.cacheDir = cacheDir;
    this.threads = threads;
  }

  /**
   * Opens a run from its stored spec: paths under the coordinator's root are moved under
   * `modelsRoot` when given; the inputs must be the run's (their fingerprints are checked).
   */
  static async open(stored: StoredSpec, options: { modelsRoot?: string; cacheDir: string; threads?: number }): Promise<WorkerRun> {
    const remap = (p: string) => (options.modelsRoot === undefined ? p : path.join(options.modelsRoot, path.relative(stored.root, p)));
    const config = resolvePaths(stored.spec.config, stored.root, remap);
    const spec = { ...stored.spec, config };
    for (const m of config.models) if (!fs.existsSync(m)) throw new WorkerRefusal(`input model ${m} of run ${spec.runId} is not on this worker${options.modelsRoot === undefined ? ` (if the models live elsewhere here, give --models-root: it replaces ${stored.root})` : ''}`);
    const inputs = openModels(config.models);
    try {
      try {
        verifyInputs(spec.inputs, inputs);
      } catch (err) {
        throw new WorkerRefusal(`this worker's inputs differ from run ${spec.runId}'s: ${(err as Error).message}`);
      }
      const evaluator = await evaluatorFor(config, `run ${spec.runId}`);
      const cacheDir = path.join(options.cacheDir, spec.runId);
      fs.mkdirSync(cacheDir, { recursive: true });
      return new WorkerRun(spec, inputs, evaluator as Evaluator, cacheDir, options.threads);
    } catch (err) {
      for (const i of inputs) i.close();
      throw err;
    }
  }

  /** Adds accepted trials (in k order) published since the last call. */
  learn(accepted: AcceptedTrial[]): void {
    this.accepted = accepted;
  }

  /** Accepted trials known here among the first `version` trials. */
  acceptedBefore(version: number): number {
    return this.accepted.filter((a) => a.k < version).length;
  }

  async hash(weights: WeightSet): Promise<string> {
    const sum = await contentHash(weights, this.spec.evolved, this.spec.checksum, this.threads ?? 0);
    weights.checkIntact();
    return sum;
  }

  /** The members after the first `version` decided trials (index = population index). */
  async population(version: number): Promise<WeightSet[]> {
    return Promise.all(this.inputs.map((input, i) => {
      const a = this.accepted.filter((e) => e.target === i && e.k < version).at(-1);
      return a === undefined ? input : this.member(a);
    }));
  }

  /** The member accepted trial `a` made: from the cache folder, or made again and checked. */
  private member(a: AcceptedTrial): Promise<WeightSet> {
    let made = this.built.get(a.k);
    if (made === undefined) {
      made = this.rebuild(a);
      made.catch(() => this.built.delete(a.k));
      this.built.set(a.k, made);
    }
    return made;
  }

  private async rebuild(a: AcceptedTrial): Promise<WeightSet> {
    const file = path.join(this.cacheDir, `k-${a.k}-${a.checksum.slice(0, 16)}.safetensors`);
    if (fs.existsSync(file)) {
      const cached = openWeights(file);
      if ((await this.hash(cached)) === a.checksum) return cached;
      cached.close();
      fs.rmSync(file, { force: true });
    }
    const parents = await this.population(a.version);
    const slot = this.slots.take();
    try {
      await this.make(a, parents, slot);
      const sum = await this.hash(slot.weights);
      if (sum !== a.checksum) throw new WorkerRefusal(`accepted trial k=${a.k} of run ${this.spec.runId} rebuilt here has checksum ${sum.slice(0, 12)}, the coordinator journaled ${a.checksum.slice(0, 12)}: this worker's inputs or build differ`);
      const temp = `${file}.tmp-${process.pid}`;
      fs.rmSync(temp, { force: true });  // left by an earlier process with this pid
      await slot.persist(temp, { evolver_trial: String(a.k) });
      fs.renameSync(temp, file);
    } finally {
      this.slots.give(slot);
    }
    return openWeights(file);
  }

  async make(recipe: TrialRecipe, parents: readonly WeightSet[], slot: TrialSlot): Promise<void> {
    const c = this.spec.config;
    await makeOffspring({
      plan: this.plan,
      members: parents,
      target: recipe.target,
      used: recipe.members,
      strategy: c.strategy as Strategy,
      granularity: c.granularity as Granularity,
      F: recipe.F,
      CR: recipe.CR,
      seed: c.seed,
      k: recipe.k,
      ...(this.threads ? { threads: this.threads } : {}),
    }, slot);
  }

  /** A slot for an offspring under evaluation; give it back with `release`. */
  takeSlot(): TrialSlot {
    return this.slots.take();
  }

  release(slot: TrialSlot): void {
    this.slots.give(slot);
  }

  /**
   * Drops cached members that no job of a version >= `version` - window can use: those replaced
   * by a trial older than that (a job that needs one after all rebuilds it).
   */
  forgetBefore(version: number): void {
    this.newestVersion = Math.max(this.newestVersion, version);
    const window = this.spec.config.concurrency + 2 * this.inputs.length;
    const horizon = this.newestVersion - window;
    for (const [i, a] of this.accepted.entries()) {
      const replacement = this.accepted.slice(i + 1).find((x) => x.target === a.target);
      if (replacement === undefined || replacement.k >= horizon) continue;
      const made = this.built.get(a.k);
      if (made === undefined) continue;
      this.built.delete(a.k);
      void made.then((w) => {
        w.close();
        fs.rmSync(path.join(this.cacheDir, `k-${a.k}-${a.checksum.slice(0, 16)}.safetensors`), { force: true });
      }, () => {});
    }
  }

  close(): void {
    for (const made of this.built.values()) void made.then((w) => w.close(), () => {});
    this.built.clear();
    this.slots.close();
    for (const i of this.inputs) i.close();
  }
}
