/**
 * The coordinator's side of a queue run: a RemoteEvaluator that publishes the run's spec and
 * accepted history in Redis and puts each evaluation on a BullMQ queue as a small job.
 *
 * Faults: a job whose worker dies is retried by BullMQ's stalled-job check (workers set its
 * lock time); a job that fails `attempts` times stops the run (resumable). Redis restarting is
 * survived: jobs are awaited by polling their state, and a job (or the spec) that vanished with
 * a Redis restart is published again. Redis unreachable for longer than `redisTimeoutSeconds`
 * stops the run with an error (resumable). Job ids are deterministic (run, k, checksum): a
 * resumed coordinator on the same queue picks up results that finished while it was away.
 */
import path from 'node:path';

import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';

import { BadInputError } from '../errors.js';
import type { Fitness } from '../evolve/evaluator.js';
import { decodeNumber } from '../evolve/journal.js';
import type { AcceptedTrial, RemoteEvaluator, RunSpec, TrialRecipe } from '../evolve/remote.js';
import { type InitialJob, JOB_FORMAT, type JobResult, JobResultSchema, type StoredSpec, type TrialJob, acceptedKey, initialJobId, specKey, trialJobId } from './protocol.js';
import { type QueueLocation, parseQueueUrl } from './queue-url.js';

export class QueueError extends BadInputError {
  override readonly name = 'QueueError';
}

export interface QueueEvaluatorOptions {
  /** Tries per job before the run stops (default 3): a worker's crash or refusal uses one. */
  attempts?: number;
  /** How long Redis may be unreachable before the run stops (default 60 s). */
  redisTimeoutSeconds?: number;
  /** How often a job's state is checked when no event arrived (default 2 s). */
  pollSeconds?: number;
  log?: (line: string) => void;
}

/** The deepest folder holding every path (a worker's --models-root replaces it). */
export function commonRoot(paths: readonly string[]): string {
  let root = path.dirname(paths[0]!);
  for (const p of paths) while (path.relative(root, p).startsWith('..')) root = path.dirname(root);
  return root;
}

export function configPaths(spec: RunSpec): string[] {
  const c = spec.config;
  const f = c.fitness;
  const fitness = f === undefined ? []
    : f.type === 'module' ? [f.path]
      // A command's program is a path only when it has a slash (else a PATH lookup on the worker).
      : f.type === 'command' ? f.run.slice(0, 1).filter((p) => p.includes('/'))
        : [...(f.type === 'onnx' ? [f.graph] : []), ...f.data.map((d) => (typeof d === 'string' ? d : d.file))];
  return [...c.models, ...fitness];
}

export class QueueEvaluator implements RemoteEvaluator {
  readonly location: QueueLocation;
  private readonly attempts: number;
  private readonly redisTimeoutMs: number;
  private readonly pollMs: number;
  private readonly log: (line: string) => void;
  /** Connected by start(): nothing touches the network before the run is open. */
  private clients: { queue: Queue; events: QueueEvents; redis: Redis } | undefined;
  private spec: RunSpec | undefined;
  private history: AcceptedTrial[] = [];
  private unreachableSince: number | undefined;

  constructor(url: string, options: QueueEvaluatorOptions = {}) {
    this.location = parseQueueUrl(url);
    this.attempts = options.attempts ?? 3;
    this.redisTimeoutMs = (options.redisTimeoutSeconds ?? 60) * 1000;
    this.pollMs = (options.pollSeconds ?? 2) * 1000;
    this.log = options.log ?? (() => {});
  }

  private get queue(): Queue {
    return this.clients!.queue;
  }
  private get events(): QueueEvents {
    return this.clients!.events;
  }
  private get redis(): Redis {
    return this.clients!.redis;
  }

  async start(spec: RunSpec, accepted: AcceptedTrial[]): Promise<void> {
    if (this.clients === undefined) {
      const connection = { ...this.location.connection, maxRetriesPerRequest: null };
      this.clients = { queue: new Queue(this.location.queueName, { connection }), events: new QueueEvents(this.location.queueName, { connection }), redis: new Redis(connection) };
      // Connection errors are retried by ioredis; reachable() watches the status instead.
      this.clients.queue.on('error', () => {});
      this.clients.events.on('error', () => {});
      this.clients.redis.on('error', () => {});
    }
    this.spec = spec;
    this.history = [...accepted];
    await this.reachable(this.publish());
    this.log(`queue ${this.location.display}: run ${spec.runId} published (${accepted.length} accepted trials); waiting for workers (\`evolver worker --queue ${this.location.display}\`)`);
  }

  /** (Re)writes the spec and the whole accepted history: idempotent. */
  private async publish(): Promise<void> {
    const spec = this.spec!;
    const stored: StoredSpec = { spec, root: commonRoot(configPaths(spec)) };
    const multi = this.redis.multi().set(specKey(spec.runId), JSON.stringify(stored)).del(acceptedKey(spec.runId));
    if (this.history.length > 0) multi.rpush(acceptedKey(spec.runId), ...this.history.map((a) => JSON.stringify(a)));
    await multi.exec();
  }

  async accepted(trial: AcceptedTrial): Promise<void> {
    this.history.push(trial);
    await this.reachable(this.redis.rpush(acceptedKey(this.spec!.runId), JSON.stringify(trial)));
  }

  async initial(member: number, checksum: string, signal: AbortSignal): Promise<Fitness> {
    const data: InitialJob = { format: JOB_FORMAT, kind: 'initial', runId: this.spec!.runId, member, checksum };
    return this.evaluate(initialJobId(data.runId, member, checksum), data, signal);
  }

  async trial(recipe: TrialRecipe, checksum: string, signal: AbortSignal): Promise<Fitness> {
    const accepted = this.history.filter((a) => a.k < recipe.version).length;
    const data: TrialJob = { format: JOB_FORMAT, kind: 'trial', runId: this.spec!.runId, ...recipe, accepted, checksum };
    return this.evaluate(trialJobId(data.runId, recipe.k, checksum), data, signal);
  }

  private async add(jobId: string, data: TrialJob | InitialJob): Promise<void> {
    await this.queue.add(data.kind, data, {
      jobId,
      attempts: this.attempts,
      backoff: { type: 'fixed', delay: 1000 },
      // Kept a week: a resumed coordinator reuses results instead of evaluating again.
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  private async evaluate(jobId: string, data: TrialJob | InitialJob, signal: AbortSignal): Promise<Fitness> {
    // A Redis that restarted without its data has lost the run: publish it again first.
    if ((await this.reachable(this.redis.exists(specKey(data.runId)))) === 0) {
      this.log(`queue ${this.location.display}: run ${data.runId} is not in Redis any more (Redis restarted?); publishing it again`);
      await this.reachable(this.publish());
    }
    await this.reachable(this.add(jobId, data));
    for (;;) {
      if (signal.aborted) throw new QueueError(`job ${jobId} abandoned: the run was cancelled`);
      // The state first, then the job: a job read before it completed has no return value yet.
      const state = await this.reachable(this.queue.getJobState(jobId));
      const job = state === 'unknown' ? undefined : await this.reachable(Job.fromId(this.queue, jobId));
      if (job === undefined) {
        // Gone with a Redis restart (no persistence): publish the run again and requeue.
        this.log(`queue ${this.location.display}: job ${jobId} is gone (Redis restarted?); publishing the run again and requeueing it`);
        await this.reachable(this.publish());
        await this.reachable(this.add(jobId, data));
        continue;
      }
      if (state === 'completed') return this.result(jobId, job.returnvalue, data.checksum);
      if (state === 'failed') throw new QueueError(`job ${jobId} (${data.kind === 'trial' ? `trial k=${data.k}` : `initial member ${data.member}`}) failed ${job.attemptsMade} time(s) on the queue's workers: ${job.failedReason}`);
      // Wake on the job's event, or after a poll interval at most (an event lost with a
      // reconnect must not hold the run): the state check above tells what happened.
      await Promise.race([job.waitUntilFinished(this.events, this.pollMs).catch(() => {}), new Promise((r) => setTimeout(r, this.pollMs + 500).unref())]);
    }
  }

  private result(jobId: string, value: unknown, checksum: string): Fitness {
    const parsed = JobResultSchema.safeParse(value);
    if (!parsed.success) throw new QueueError(`job ${jobId}: a worker returned a malformed result (${parsed.error.issues[0]?.message}): ${JSON.stringify(value)?.slice(0, 200)}`);
    const r: JobResult = parsed.data;
    if (r.checksum !== checksum) throw new QueueError(`job ${jobId}: worker ${r.worker} evaluated weights with checksum ${r.checksum.slice(0, 12)}, the run made ${checksum.slice(0, 12)}`);
    const metrics = Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, decodeNumber(v, `metric ${k}`)]));
    return { score: decodeNumber(r.score, 'score'), metrics };
  }

  /** Awaits a Redis operation; one that cannot reach Redis for too long stops the run. */
  private async reachable<T>(operation: Promise<T>): Promise<T> {
    operation.catch(() => {});  // if the watchdog wins, a later rejection is not unhandled
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      const check = () => {
        if (this.redis.status === 'ready') this.unreachableSince = undefined;
        else this.unreachableSince ??= Date.now();
        if (this.unreachableSince !== undefined && Date.now() - this.unreachableSince > this.redisTimeoutMs) {
          reject(new QueueError(`Redis at ${this.location.display} has been unreachable for ${Math.round((Date.now() - this.unreachableSince) / 1000)} s; the run stopped and is resumable once Redis is back`));
          return;
        }
        timer = setTimeout(check, 250);
      };
      check();
    });
    try {
      return await Promise.race([operation, watchdog]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const clients = this.clients;
    if (clients === undefined) return;
    this.clients = undefined;
    // A graceful close waits for Redis; one that is gone must not hold the process.
    const closing = Promise.allSettled([clients.events.close(), clients.queue.close()]);
    await Promise.race([closing, new Promise((r) => setTimeout(r, 2000).unref())]);
    clients.redis.disconnect();
    void clients.queue.disconnect().catch(() => {});
    void clients.events.disconnect().catch(() => {});
  }
}
