// Evaluation fanned out over workers (evolver worker processes on this machine, a private
// redis-server): evaluations per minute with 1, 2, 4 and 8 workers, for an evaluator that takes
// a fixed time (as a GPU evaluation of an LLM would: it sleeps, so the workers do not compete
// for this machine's cores) and for the bundled example's real ONNX fitness; plus what the
// coordinator spends per trial (making and hashing the offspring it names, queue round trips).
// The ratio is to the ideal: workers x 60 / evaluation seconds.
//   npm run bench:distributed [-- --eval-ms 1000 --trials 32 --workers 1,2,4,8 --save NAME]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { QueueEvaluator } from '../lib/distributed/coordinator.js';
import { JOB_FORMAT } from '../lib/distributed/protocol.js';
import { RedisServer, redisAvailable, startWorker } from '../lib/distributed/redis-server.js';
import { type EvolveConfig, loadConfig, resolvePaths, validateConfig } from '../lib/evolve/config.js';
import { evaluatorFor } from '../lib/evolve/fitness.js';
import { EvolutionRun } from '../lib/evolve/engine.js';
import type { Evaluator } from '../lib/evolve/evaluator.js';
import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const example = path.join(root, 'examples', 'fortunes');
const { values } = parseArgs({ options: { 'eval-ms': { type: 'string', default: '1000' }, trials: { type: 'string', default: '48' }, workers: { type: 'string', default: '1,2,4,8' }, 'onnx-workers': { type: 'string', default: '1,2' }, save: { type: 'string' }, out: { type: 'string' } } });
const evalMs = Number(values['eval-ms']);
const trials = Number(values.trials);
const workerCounts = values.workers!.split(',').map(Number);
const onnxWorkerCounts = values['onnx-workers']!.split(',').filter((s) => s !== '').map(Number);
const target = targetFromArgv();
const file = resultFile('distributed', target);
if (!redisAvailable()) throw new Error('bench:distributed needs redis-server (apt-get install redis-server)');

const cli = [process.execPath, '--import', 'tsx', path.join(root, 'test', 'run-cli.ts')];
const notLocal: Evaluator = async () => {
  throw new Error('a queued run evaluates on workers');
};
const models = ['computers', 'politics', 'science', 'songs-poems', 'base'].map((d) => path.join(example, 'models-bf16', `${d}.safetensors`));

/** The same config run locally (no sleep: it changes no weights): its best/ weights. */
async function localBest(queued: EvolveConfig): Promise<Buffer> {
  const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-distributed-local-')), 'run');
  const config = { ...queued, output, fitness: { ...(queued.fitness as { type: 'module'; options: Record<string, unknown> }), options: {} } } as EvolveConfig;
  await new EvolutionRun({ config, evaluator: (await evaluatorFor(config, 'bench')) as Evaluator, threads: 1 }).run();
  const best = fs.readFileSync(path.join(output, 'best', 'model.safetensors'));
  fs.rmSync(path.dirname(output), { recursive: true, force: true });
  return best;
}

function sameAsLocal(queued: EvolveConfig, local: Buffer): string {
  return fs.readFileSync(path.join(queued.output, 'best', 'model.safetensors')).equals(local) ? 'yes' : 'NO';
}

async function measure(fitness: 'fixed' | 'onnx', workers: number): Promise<Record<string, number | string>> {
  const redis = await RedisServer.start();
  const procs = Array.from({ length: workers }, () => startWorker(cli, redis.url, ['--threads', '1']));
  await Promise.all(procs.map((p) => p.ready));  // measure the run, not the workers' start
  const output = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-distributed-')), 'run');
  const config = fitness === 'fixed'
    ? resolvePaths(validateConfig({ models, output, seed: 1, schedule: 'asynchronous', concurrency: workers, generations: 1000, max_trials: trials, fitness: { type: 'module', path: 'fitness/weight-distance.mjs', options: { delay_ms: evalMs } } }, 'bench'), example)
    : { ...loadConfig(path.join(example, 'evolve.yaml')), output, schedule: 'asynchronous' as const, concurrency: workers, generations: 1000, max_trials: trials };
  delete config.final_table;
  const remote = new QueueEvaluator(redis.url, { pollSeconds: 0.5 });
  try {
    const report = await new EvolutionRun({ config, evaluator: notLocal, remote, threads: 1 }).run();
    const identical = fitness === 'fixed' ? sameAsLocal(config, await localBest(config)) : '-';
    const lines = fs.readFileSync(path.join(output, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seconds: { offspring: number; hash?: number; evaluation: number } });
    const making = lines.reduce((s, e) => s + e.seconds.offspring + (e.seconds.hash ?? 0), 0) / lines.length;
    const evaluation = lines.reduce((s, e) => s + e.seconds.evaluation, 0) / lines.length;
    const t = report.throughput;
    return { fitness, workers, identicalToLocal: identical, trials: report.trials, seconds: t.seconds, evaluationsPerMinute: t.evaluationsPerMinute, coordinatorMakeHashMs: making * 1000, meanRoundTripMs: evaluation * 1000 };
  } finally {
    await remote.close();
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await redis.stop();
    fs.rmSync(path.dirname(output), { recursive: true, force: true });
  }
}

console.log(`host ${os.hostname()}, ${os.cpus().length} cores; workers are processes on this machine; asynchronous schedule, window = workers, ${trials} trials\n`);
console.log('| fitness | workers | best/ identical to a local run | trials | seconds | evaluations/min | speedup | of ideal | coordinator make+hash ms/trial | mean round trip ms |');
console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
const rows: Record<string, number | string>[] = [];
for (const [fitness, counts] of [['fixed', workerCounts], ['onnx', onnxWorkerCounts]] as const) {
  let one: number | undefined;
  for (const workers of counts) {
    const row = await measure(fitness, workers);
    const rate = row.evaluationsPerMinute as number;
    one ??= rate / workers;
    row.speedup = rate / one;
    // The ideal for a fixed-time evaluator: every worker always evaluating.
    if (fitness === 'fixed') row.ofIdeal = rate / ((workers * 60_000) / evalMs);
    rows.push(row);
    const f = (x: unknown, d = 1) => (typeof x === 'number' ? x.toFixed(d) : '-');
    console.log(`| ${fitness === 'fixed' ? `fixed ${evalMs} ms` : 'onnx (bundled example)'} | ${workers} | ${row.identicalToLocal} | ${row.trials} | ${f(row.seconds)} | ${f(rate)} | ${f(row.speedup, 2)} | ${f(row.ofIdeal, 2)} | ${f(row.coordinatorMakeHashMs)} | ${f(row.meanRoundTripMs)} |`);
  }
}
const job = { format: JOB_FORMAT, kind: 'trial', runId: '00000000-0000-0000-0000-000000000000', k: 1234, version: 1230, target: 3, members: { a: 1, b: 2 }, F: 0.123456789, CR: 0.9, accepted: 812, checksum: 'f'.repeat(64) };
console.log(`\na trial job's data is ${Buffer.byteLength(JSON.stringify(job))} bytes of JSON (e.g. ${JSON.stringify(job)})`);
writeResult(file, { host: os.hostname(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, date: new Date().toISOString(), evalMs, trials, jobBytes: Buffer.byteLength(JSON.stringify(job)), rows });
console.log(wroteLine(file, target));
