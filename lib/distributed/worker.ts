/**
 * `evolver worker`: takes jobs from the queue, rebuilds the offspring each names (from its own
 * copy of the input models and the run's accepted history), checks the checksum the coordinator
 * expects, scores it with the run's fitness and returns the score. Weights never cross the
 * network.
 *
 * Failure policy:
 * - a malformed job, or one for a run Redis does not know: the job fails at once (no retry);
 * - this worker's inputs or build make different weights (a WorkerRefusal): the job fails this
 *   attempt (another worker retries it) and the worker stops, exit code 3 from the CLI;
 * - the evaluator throws: the attempt fails; BullMQ retries it (the coordinator's `attempts`);
 * - the worker dies (kill -9): its lock expires after `lockSeconds` and the stalled-job check
 *   of any live worker puts the job back; a job that stalls more than `maxStalled` times fails.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';

import { encodeNumber } from '../evolve/journal.js';
import { checkFitness } from '../evolve/evaluator.js';
import { AcceptedTrialSchema, type InitialJob, type JobResult, JobSchema, type StoredSpec, type TrialJob, acceptedKey, specKey } from './protocol.js';
import { type QueueLocation, parseQueueUrl } from './queue-url.js';
import { WorkerRefusal, WorkerRun } from './worker-run.js';

export interface TrialWorkerOptions {
  /** Jobs evaluated at once (default 1). */
  concurrency?: number;
  /** Replaces the coordinator's common folder of the run's paths (models, fitness files). */
  modelsRoot?: string;
  /** Where rebuilt members are kept, across restarts (default: a temp folder removed when the worker stops). */
  cacheDir?: string;
  /** Kernel threads (default: all cores). */
  threads?: number;
  /** A job's lock: a dead worker's job is retried this long after it stopped renewing it (default 30 s). */
  lockSeconds?: number;
  /** Stalls (dead workers) a job survives before it fails (default 3). */
  maxStalled?: number;
  log?: (line: string) => void;
}

export class TrialWorker {
  readonly location: QueueLocation;
  readonly name = `${os.hostname()}:${process.pid}`;
  private readonly options: TrialWorkerOptions;
  private readonly redis: Redis;
  private worker: Worker | undefined;
  private readonly runs = new Map<string, Promise<WorkerRun>>();
  private active = 0;
  private refused: ((err: WorkerRefusal) => void) | undefined;
  /** Resolves when the worker stops because it refused a run (its inputs or build differ). */
  readonly refusal: Promise<WorkerRefusal>;
  private readonly log: (line: string) => void;
  private readonly cacheDir: string;
  private readonly ownCache: boolean;

  constructor(url: string, options: TrialWorkerOptions = {}) {
    this.location = parseQueueUrl(url);
    this.options = options;
    this.log = options.log ?? (() => {});
    this.redis = new Redis({ ...this.location.connection, maxRetriesPerRequest: null });
    this.redis.on('error', () => {});
    this.refusal = new Promise((resolve) => (this.refused = resolve));
    this.ownCache = options.cacheDir === undefined;
    this.cacheDir = options.cacheDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-worker-'));
  }

  /** Connects and starts taking jobs; resolves once connected (the log then says "ready"). */
  async start(): Promise<void> {
    const lock = (this.options.lockSeconds ?? 30) * 1000;
    this.worker = new Worker(this.location.queueName, (job) => this.process(job), {
      connection: { ...this.location.connection, maxRetriesPerRequest: null },
      concurrency: this.options.concurrency ?? 1,
      lockDuration: lock,
      stalledInterval: lock,
      maxStalledCount: this.options.maxStalled ?? 3,
    });
    this.worker.on('error', (err) => this.log(`worker: ${err.message}`));
    // A wrong host or a Redis that is down: say so while ioredis keeps trying.
    const waiting = setInterval(() => this.log(`worker: still connecting to ${this.location.display} ...`), 10_000);
    try {
      await this.worker.waitUntilReady();
    } finally {
      clearInterval(waiting);
    }
    this.log(`worker ${this.name} ready on ${this.location.display} (concurrency ${this.options.concurrency ?? 1})`);
  }

  private async process(job: Job): Promise<JobResult> {
    const parsed = JobSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new UnrecoverableError(`malformed job ${job.id}: ${issue.path.join('.') || '(job data)'}: ${issue.message}`);
    }
    const data = parsed.data;
    this.active++;
    try {
      const run = await this.run(data.runId, job.id ?? '?');
      return data.kind === 'initial' ? await this.initial(run, data) : await this.trial(run, data);
    } catch (err) {
      if (err instanceof WorkerRefusal) {
        this.log(`worker ${this.name} REFUSES run ${data.runId} and stops: ${err.message}`);
        this.refused?.(err);
        void this.worker?.close(true);
        throw new Error(`worker ${this.name} refused: ${err.message}`);
      }
      throw err;
    } finally {
      this.active--;
    }
  }

  /** The run a job belongs to: opened once per run (inputs checked, evaluator built). */
  private async run(runId: string, jobId: string): Promise<WorkerRun> {
    let opened = this.runs.get(runId);
    if (opened === undefined) {
      opened = (async () => {
        const text = await this.redis.get(specKey(runId));
        if (text === null) throw new UnrecoverableError(`job ${jobId} is for run ${runId}, which ${this.location.display} does not know (no ${specKey(runId)}): a coordinator publishes its run before queueing jobs`);
        const stored = JSON.parse(text) as StoredSpec;
        const run = await WorkerRun.open(stored, { cacheDir: this.cacheDir, ...(this.options.modelsRoot ? { modelsRoot: this.options.modelsRoot } : {}), ...(this.options.threads ? { threads: this.options.threads } : {}) });
        this.log(`run ${runId}: ${run.inputs.length} input models, ${run.spec.evolved.length} evolved tensors, fitness ${run.spec.config.fitness?.type ?? '(none)'}`);
        return run;
      })();
      this.runs.set(runId, opened);
      opened.catch(() => this.runs.delete(runId));
    }
    return opened;
  }

  /** Reads the accepted trials published since the run's last refresh. */
  private async refresh(run: WorkerRun): Promise<void> {
    const lines = await this.redis.lrange(acceptedKey(run.spec.runId), 0, -1);
    run.learn(lines.map((l, i) => {
      const parsed = AcceptedTrialSchema.safeParse(JSON.parse(l));
      if (!parsed.success) throw new UnrecoverableError(`${acceptedKey(run.spec.runId)}[${i}] is malformed: ${parsed.error.issues[0]?.message}`);
      return parsed.data;
    }));
  }

  private async initial(run: WorkerRun, job: InitialJob): Promise<JobResult> {
    const input = run.inputs[job.member];
    if (input === undefined) throw new UnrecoverableError(`job for run ${job.runId}: member ${job.member} does not exist (${run.inputs.length} inputs)`);
    const sum = await run.hash(input);
    if (sum !== job.checksum) throw new WorkerRefusal(`input ${input.path} has checksum ${sum.slice(0, 12)} here, ${job.checksum.slice(0, 12)} on the coordinator`);
    const t0 = performance.now();
    const fitness = checkFitness(await run.evaluator(input, { signal: new AbortController().signal }));
    return this.result(fitness, sum, { evaluation: (performance.now() - t0) / 1000 });
  }

  private async trial(run: WorkerRun, job: TrialJob): Promise<JobResult> {
    if (job.target >= run.inputs.length) throw new UnrecoverableError(`job for run ${job.runId}: target ${job.target} does not exist (${run.inputs.length} members)`);
    const t0 = performance.now();
    await this.refresh(run);
    // Fewer accepted trials than the job's parents include: Redis lost them (a restart); the
    // coordinator publishes them again, and this attempt is retried (it is not a refusal).
    const known = run.acceptedBefore(job.version);
    if (known < job.accepted) throw new Error(`run ${job.runId}'s accepted history in Redis has ${known} of the ${job.accepted} trials trial k=${job.k} needs (Redis restarted?); retrying`);
    const parents = await run.population(job.version);
    const t1 = performance.now();
    const slot = run.takeSlot();
    try {
      await run.make(job, parents, slot);
      const sum = await run.hash(slot.weights);
      if (sum !== job.checksum) throw new WorkerRefusal(`trial k=${job.k} of run ${job.runId} made here has checksum ${sum.slice(0, 12)}, the coordinator's is ${job.checksum.slice(0, 12)}: this worker's inputs or build differ`);
      const t2 = performance.now();
      const fitness = checkFitness(await run.evaluator(slot.weights, { signal: new AbortController().signal }));
      slot.checkIntact();
      return this.result(fitness, sum, { rebuild: (t1 - t0) / 1000, offspring: (t2 - t1) / 1000, evaluation: (performance.now() - t2) / 1000 });
    } finally {
      run.release(slot);
      if (this.active === 1) run.forgetBefore(job.version);
    }
  }

  private result(fitness: { score: number; metrics: Record<string, number> }, checksum: string, seconds: Record<string, number>): JobResult {
    const metrics = Object.fromEntries(Object.entries(fitness.metrics).map(([k, v]) => [k, encodeNumber(v)]));
    return { score: encodeNumber(fitness.score) as JobResult['score'], metrics, checksum, worker: this.name, seconds };
  }

  /** Stops taking jobs; waits for the ones in flight unless `force`. */
  async close(force = false): Promise<void> {
    await this.worker?.close(force);
    const runs = await Promise.allSettled(this.runs.values());
    for (const r of runs) if (r.status === 'fulfilled') r.value.close();
    this.runs.clear();
    this.redis.disconnect();
    if (this.ownCache) fs.rmSync(this.cacheDir, { recursive: true, force: true });
  }
}
