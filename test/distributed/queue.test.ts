// Evaluation fanned out over workers on a BullMQ queue: a real redis-server, workers as child
// processes (one killed with SIGKILL mid-run and replaced), the coordinator killed and resumed;
// every run ends bit-identical to a local run of the same config and schedule.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Queue, QueueEvents } from 'bullmq';
import { stringify } from 'yaml';

import { QueueEvaluator } from '../../lib/distributed/coordinator.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import type { EvolveConfig } from '../../lib/evolve/config.js';
import type { Evaluator } from '../../lib/evolve/evaluator.js';
import { evaluatorFor } from '../../lib/evolve/fitness.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { ROOT, tempDir } from '../helpers.js';
import { BF16_MODELS, testConfig } from '../evolve/helpers.js';
import { RedisServer, type WorkerProcess, redisAvailable, startWorker as spawnWorker } from '../../lib/distributed/redis-server.js';

/** A worker from the TypeScript sources, with a 2 s lock (a killed worker's job is retried soon). */
const startWorker = (url: string, extra: string[] = []) => spawnWorker([process.execPath, '--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts')], url, ['--lock-seconds', '2', '--threads', '1', ...extra]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (dir: string) => (fs.existsSync(path.join(dir, 'journal.jsonl')) ? fs.readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').split('\n').length - 1 : 0);
const best = (dir: string) => fs.readFileSync(path.join(dir, 'best', 'model.safetensors'));
const decisions = (dir: string) => readJournal(path.join(dir, 'journal.jsonl')).entries.map((e) => ({ k: e.k, version: e.version, target: e.target, members: e.members, F: e.F, CR: e.CR, fitness: e.fitness, parentFitness: e.parentFitness, accepted: e.accepted, checksum: e.checksum }));
const noLocalEvaluation: Evaluator = async () => {
  throw new Error('a queued run must not evaluate trials itself');
};

function config(overrides: Record<string, unknown>, delayMs: number): EvolveConfig {
  const c = testConfig({ strategy: 'current-to-best/1', F: [0.1, 0.4], CR: 0.9, generations: 4, ...overrides });
  (c.fitness as { options: Record<string, unknown> }).options = { delay_ms: delayMs };
  return c;
}

async function localRun(c: EvolveConfig): Promise<string> {
  await new EvolutionRun({ config: c, evaluator: (await evaluatorFor(c, 'test')) as Evaluator }).run();
  return c.output;
}

let workers: WorkerProcess[] = [];

async function waitFor(what: string, ok: () => boolean, seconds = 120): Promise<void> {
  for (const t0 = Date.now(); !ok(); await sleep(20)) {
    if (Date.now() - t0 > seconds * 1000) throw new Error(`timed out waiting for ${what}; workers said:\n${workers.map((w) => w.stderr()).join('\n---\n')}`);
  }
}

describe('evaluation on a BullMQ queue (real redis-server, workers as child processes)', function () {
  this.timeout(300_000);
  let redis: RedisServer;
  before(async function () {
    if (!redisAvailable()) {
      console.log('      skipped: redis-server is not installed (apt-get install redis-server)');
      this.skip();
    }
    redis = await RedisServer.start();
  });
  afterEach(() => {
    for (const w of workers) w.child.kill('SIGKILL');
    workers = [];
  });
  after(async () => redis?.stop());

  for (const [schedule, concurrency] of [['generational', 2], ['asynchronous', 4]] as const) {
    it(`${schedule}: 3 workers, one killed mid-run and replaced; bit-identical to a local run`, async () => {
      const reference = await localRun(config({ schedule, concurrency }, 0));
      workers = [0, 1, 2].map(() => startWorker(redis.url));
      const c = config({ schedule, concurrency }, 60);
      const remote = new QueueEvaluator(redis.url, { pollSeconds: 0.5 });
      try {
        const done = new EvolutionRun({ config: c, evaluator: noLocalEvaluation, remote }).run();
        await Promise.race([waitFor('the first trials', () => lines(c.output) >= 4), done]);  // a failed run says why
        workers[0]!.child.kill('SIGKILL');
        workers.push(startWorker(redis.url));
        const report = await done;
        assert.equal(report.trials, 20);  // 4 generations of 5 members
      } finally {
        await remote.close();
      }
      assert.equal(await workers[0]!.exited, null, 'the first worker was killed');
      assert.deepEqual(decisions(c.output), decisions(reference));
      assert.ok(best(c.output).equals(best(reference)), 'best/ is bit-identical to the local run');
    });
  }

  it('asynchronous: the coordinator killed and resumed continues on the same queue, bit-identical', async () => {
    const reference = await localRun(config({ schedule: 'asynchronous', concurrency: 3, generations: 6 }, 0));
    workers = [0, 1].map(() => startWorker(redis.url));
    const c = config({ schedule: 'asynchronous', concurrency: 3, generations: 6, queue: redis.url }, 60);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'evolve.yaml'), stringify(c));
    const cli = (args: string[]) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { cwd: ROOT, stdio: 'ignore' });
      return { child, exited: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))) };
    };
    const first = cli(['evolve', path.join(dir, 'evolve.yaml')]);
    await waitFor('the first trials', () => lines(c.output) >= 6);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = cli(['evolve', '--resume', c.output]);
    assert.equal(await second.exited, 0);
    assert.deepEqual(decisions(c.output), decisions(reference));
    assert.ok(best(c.output).equals(best(reference)));
  });

  it('survives Redis restarting without its data mid-run: jobs and the run are published again', async () => {
    const reference = await localRun(config({ schedule: 'generational', concurrency: 2 }, 0));
    workers = [0, 1].map(() => startWorker(redis.url));
    const c = config({ schedule: 'generational', concurrency: 2 }, 150);
    const remote = new QueueEvaluator(redis.url, { pollSeconds: 0.5 });
    try {
      const done = new EvolutionRun({ config: c, evaluator: noLocalEvaluation, remote }).run();
      await Promise.race([waitFor('the first generation', () => lines(c.output) >= 5), done]);
      await redis.down();
      await sleep(1000);
      await redis.up();
      assert.equal((await done).trials, 20);
    } finally {
      await remote.close();
    }
    assert.deepEqual(decisions(c.output), decisions(reference));
    assert.ok(best(c.output).equals(best(reference)));
  });

  it('refuses a malformed job, a job for an unknown run, and a worker whose inputs differ', async () => {
    const queue = new Queue('evolver', { connection: { host: '127.0.0.1', port: redis.port } });
    const events = new QueueEvents('evolver', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      workers = [startWorker(redis.url)];
      const malformed = await queue.add('trial', { format: 'evolver-job/1', kind: 'trial', runId: 'x' });
      await assert.rejects(malformed.waitUntilFinished(events, 60_000), /malformed job .*runId/);
      const unknown = await queue.add('trial', { format: 'evolver-job/1', kind: 'initial', runId: randomUUID(), member: 0, checksum: '0'.repeat(64) });
      await assert.rejects(unknown.waitUntilFinished(events, 60_000), /does not know/);
      assert.equal((await queue.getJob(unknown.id!))?.attemptsMade, 1, 'not retried');
    } finally {
      for (const w of workers) w.child.kill('SIGKILL');
      workers = [];
      await events.close();
      await queue.close();
    }
    // A worker whose models differ (two swapped) refuses and stops; a good one then does the run.
    const elsewhere = tempDir();
    fs.mkdirSync(path.join(elsewhere, 'models-bf16'));
    const names = BF16_MODELS.map((m) => path.basename(m));
    for (const [i, name] of names.entries()) fs.copyFileSync(BF16_MODELS[i === 0 ? 1 : i === 1 ? 0 : i]!, path.join(elsewhere, 'models-bf16', name));
    const bad = startWorker(redis.url, ['--models-root', elsewhere]);
    workers = [bad];
    const c = config({ schedule: 'generational', concurrency: 2, generations: 2 }, 0);
    const remote = new QueueEvaluator(redis.url, { pollSeconds: 0.5 });
    try {
      const done = new EvolutionRun({ config: c, evaluator: noLocalEvaluation, remote }).run();
      assert.equal(await bad.exited, 3);
      assert.match(bad.stderr(), /REFUSES run .*inputs differ/);
      workers.push(startWorker(redis.url));
      assert.equal((await done).trials, 10);
    } finally {
      await remote.close();
    }
  });
});
