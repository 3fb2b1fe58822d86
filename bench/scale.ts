// The engine at model scale: a synthetic Llama-shaped bf16 population (N members of about P
// parameters, sharded Hugging Face checkpoints) evolved for G generations with a fitness that
// reads one small tensor, so that a trial's time is the engine's own. Per trial phase (the
// journal's `seconds` fields, whatever they are), averaged per trial, against the memory-bound
// limit measured in the same process: the bytes the strategy must move per trial (interp: read
// the target and one other member, write the offspring = 3 model sizes) / STREAM copy
// bandwidth (the faster of the measurements before and after the run). Trials that wrote an
// accepted offspring into a new member file are also shown apart, next to the speed of writing
// memory new to the process, their floor. Also the peak memory beyond the page cache (RssAnon +
// RssShmem, sampled every 100 ms on a worker thread) and the disk's O_DIRECT read bandwidth, for
// populations larger than RAM. Generating the population is timed but not part of the measurement.
//   npm run bench:scale [-- --params 0.75e9 --members 4 --generations 2 --strategy interp]
//                       [-- --dir DIR --keep] [-- --save NAME | --out FILE]
// DIR (default: a new folder under the OS temp dir) is removed at the end unless --keep; a kept
// DIR whose population matches the arguments is reused without generating it again.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

import { EvolutionRun, type TrialEvent } from '../lib/evolve/engine.js';
import { resolvePaths, validateConfig } from '../lib/evolve/config.js';
import type { Evaluator } from '../lib/evolve/evaluator.js';
import { STRATEGY_NAMES, type Strategy } from '../lib/kernels/strategies.js';
import { native } from '../lib/native.js';
import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';
import { type WrittenPopulation, existingPopulation, llamaShape, populationMatches, writePopulation } from '../lib/bench/scale-model.js';
import { type TrialTiming, MemorySampler, directRead, freshMemory, memoryNow, numericSeconds, summarizeTrials, trialTraffic } from '../lib/bench/scale-measure.js';

// ---------- arguments ----------

const argv = process.argv.slice(2);
function arg(flag: string): string | undefined {
  const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
  if (i < 0) return undefined;
  const a = argv[i]!;
  const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${flag}: expected a value`);
  return v;
}
function num(flag: string, fallback: number, integer = false): number {
  const v = arg(flag);
  if (v === undefined) return fallback;
  // 0.75e9, 750M, 1.5B
  const m = /^([\d.]+(?:e[+-]?\d+)?)([kKmMbBgG]?)$/.exec(v.trim());
  const x = m ? Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, b: 1e9, g: 1e9 } as Record<string, number>)[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x))) throw new Error(`${flag}: expected a positive ${integer ? 'integer' : 'number'}, got '${v}'`);
  return x;
}
const known = new Set(['--params', '--members', '--generations', '--strategy', '--dir', '--keep', '--save', '--out', '--seed']);
for (const a of argv) if (a.startsWith('--') && !known.has(a.split('=')[0]!)) throw new Error(`unknown option ${a} (known: ${[...known].join(' ')})`);

const params = num('--params', 0.75e9);
const members = num('--members', 4, true);
const generations = num('--generations', 2, true);
const seed = num('--seed', 1, true);
const strategy = (arg('--strategy') ?? 'interp') as Strategy;
if (!STRATEGY_NAMES.includes(strategy)) throw new Error(`--strategy: one of ${STRATEGY_NAMES.join(', ')}`);
const keep = argv.includes('--keep');
const target = targetFromArgv(argv);
const result = resultFile('scale', target);

const given = arg('--dir');
const dir = given !== undefined ? path.resolve(given) : fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-bench-scale-'));
const createdDir = given === undefined || !fs.existsSync(dir);
fs.mkdirSync(dir, { recursive: true });
const populationDir = path.join(dir, 'population');
const runDir = path.join(dir, `run-${process.pid}`);

// Whatever happens (an error, Ctrl-C), gigabytes of synthetic models do not stay behind unless --keep.
let cleaned = false;
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  if (keep) console.log(`kept ${dir} (population/ is reused by a run with the same arguments and --dir ${dir}; remove it when done)`);
  else if (createdDir) fs.rmSync(dir, { recursive: true, force: true });
  else {
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.rmSync(populationDir, { recursive: true, force: true });
  }
}
process.once('exit', cleanup);
process.once('SIGINT', () => process.exit(130));

const shape = llamaShape(params);
const spec = { shape, members, seed };
const gb = (bytes: number) => bytes / 1e9;
const mb = (kb: number) => kb / 1024;

// ---------- bandwidths, measured in this process before and after the run ----------

const threads = os.availableParallelism();
/**
 * STREAM copy and triad over 256 MiB arrays, as `bench kernels` (64 MiB ones measured 1.8x
 * faster here: partly cached). The arrays are dropped and collected at once, so that memory
 * measured during the run is the engine's.
 */
async function streamBandwidth(): Promise<{ copyGbps: number; triadGbps: number }> {
  const nd = (256 * 2 ** 20) / 8;
  let arrays: Float64Array[] | undefined = [0, 1, 2].map(() => new Float64Array(nd).fill(1));
  const bw = async (kind: 'copy' | 'triad') => {
    const [a, b, c] = arrays!;
    const r = await native.stream({ kind, a: a!, b: b!, c: c!, threads, reps: 5 });
    return r.bytes / r.seconds / 1e9;
  };
  const copyGbps = await bw('copy');
  const triadGbps = await bw('triad');
  arrays = undefined;
  collectGarbage();
  return { copyGbps, triadGbps };
}
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}
// Before the memory sampler starts, so that its peaks are the run's; memory new to the process
// first (the STREAM arrays, freed just before, would be reused at once).
const fresh = freshMemory();
const before = await streamBandwidth();
console.log(`before the run: STREAM copy ${before.copyGbps.toFixed(1)} GB/s, triad ${before.triadGbps.toFixed(1)} GB/s; memory new to the process written at ${fresh.firstGbps.toFixed(2)} GB/s the first time, ${fresh.againGbps.toFixed(1)} GB/s the second (${gb(fresh.bytes).toFixed(2)} GB)`);

// ---------- the population ----------

const sampler = new MemorySampler(['generate', 'open', 'trials', 'finish']);
await sampler.ready();
let population: WrittenPopulation;
if (populationMatches(populationDir, spec)) {
  population = existingPopulation(populationDir, spec);
  console.log(`reusing the population in ${populationDir}`);
} else {
  if (given !== undefined && fs.readdirSync(dir).some((e) => e !== 'population' && !e.startsWith('run-'))) {
    throw new Error(`--dir ${dir} holds other files; give an empty or new folder (or one this benchmark kept)`);
  }
  console.log(`writing ${members} members of ${(shape.params / 1e9).toFixed(3)} B parameters (bf16, ${gb(shape.params * 2).toFixed(2)} GB each) into ${populationDir}`);
  population = writePopulation(populationDir, spec, (i, s) => console.log(`  member ${i}: ${s.toFixed(1)} s (${(gb(shape.params * 2) / s).toFixed(2)} GB/s written)`));
}
const modelBytes = population.modelBytes;
console.log(`population: ${members} x ${(shape.params / 1e9).toFixed(3)} B params, ${gb(modelBytes).toFixed(3)} GB each (hidden ${shape.hidden}, intermediate ${shape.intermediate}, ${shape.layers} layers, ${shape.heads} heads / ${shape.kvHeads} kv, vocab ${shape.vocab}; ${population.shards} shards)${population.seconds > 0 ? `; generated in ${population.seconds.toFixed(1)} s (not measured)` : ''}`);

// ---------- the run ----------

/** Reads 16 values of one small tensor (the final norm, `hidden` elements): a pseudo-random score, a pure function of those values. */
const evaluator: Evaluator = async (weights) => {
  const v = weights.view('model.norm.weight') as Uint16Array;
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i++) h = Math.imul(h ^ v[i]!, 0x01000193);
  const score = (h >>> 0) / 2 ** 32;
  return { score, metrics: { hash_of_16_values: score } };
};

const config = resolvePaths(validateConfig({ models: population.folders, output: runDir, seed, strategy, F: 0.3, CR: 0.9, generations, schedule: 'sequential' }, 'bench/scale.ts'), process.cwd());
const run = new EvolutionRun({ config, evaluator });
const trials: TrialTiming[] = [];
/** Minor and major page faults of this process so far (/proc/self/stat fields 10 and 12). */
function pageFaults(): { minor: number; major: number } {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return { minor: Number(fields[7]), major: Number(fields[9]) };
}
let faults = pageFaults();
let initialSeen = 0;
let last = NaN;
const baseline = memoryNow();
sampler.phase('open');
const t0 = performance.now();
let loopStart = NaN, loopEnd = NaN;
// CPU time of the whole process (every thread: the kernels' pool included) over the trials.
let cpuStart = process.cpuUsage(), cpuTrials = { user: NaN, system: NaN };
run.on('log', (line: string) => console.log(`  engine: ${line}`));
run.on('initial', () => {
  if (++initialSeen === members) {
    loopStart = last = performance.now();
    cpuStart = process.cpuUsage();
    sampler.phase('trials');
  }
});
run.on('trial', (e: TrialEvent) => {
  const now = performance.now();
  trials.push({ k: e.entry.k, accepted: e.entry.accepted, cached: e.entry.cached === true, wall: (now - last) / 1000, seconds: numericSeconds(e.entry.seconds), newFile: e.writtenOverSpare === false });
  last = now;
  const s = trials[trials.length - 1]!;
  const f = pageFaults();
  console.log(`  trial ${e.entry.k}: ${s.wall.toFixed(3)} s wall, ${Object.entries(s.seconds).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}${e.entry.accepted ? `, accepted${e.writtenOverSpare === false ? ' into a new file' : e.writtenOverSpare ? ' over a spare' : ''}` : ''}; page faults ${f.minor - faults.minor} minor, ${f.major - faults.major} major`);
  faults = f;
  if (e.trialsDone >= e.trialsPlanned) {
    loopEnd = now;
    cpuTrials = process.cpuUsage(cpuStart);
    sampler.phase('finish');
  }
});
const report = await run.run();
const t1 = performance.now();
await sampler.stop();

// The journal is the record: its `seconds` objects, by k (the events carried the same entries).
const journalFile = path.join(runDir, 'journal.jsonl');
if (fs.existsSync(journalFile)) {
  const byK = new Map(fs.readFileSync(journalFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { k: number; seconds?: unknown }).map((e) => [e.k, numericSeconds(e.seconds)]));
  for (const t of trials) t.seconds = byK.get(t.k) ?? t.seconds;
}

// ---------- bandwidths after the run (not while it was sampled) ----------

const after = await streamBandwidth();
// The limit takes the faster of the two measurements: the stricter limit.
const copyGbps = Math.max(before.copyGbps, after.copyGbps);
const triadGbps = Math.max(before.triadGbps, after.triadGbps);
const memberShards = fs.readdirSync(population.folders[0]!).filter((f) => f.endsWith('.safetensors')).sort().map((f) => path.join(population.folders[0]!, f));
const disk = directRead(memberShards);

// ---------- the table ----------

const summary = summarizeTrials(trials);
// The first generation writes every accepted offspring into a new file (inputs are never written
// over); later ones mostly over the file of the member replaced (a spare: lib/evolve/spare-files.ts).
const firstGeneration = summarizeTrials(trials.filter((t) => t.k < members));
const later = trials.some((t) => t.k >= members) ? summarizeTrials(trials.filter((t) => t.k >= members)) : undefined;
// Writing into a new file is bound by memory new to the page cache (freshMemory above), not by
// the memory-bound limit; it happens about members + 1 times per run, whatever its length.
const newFileTrials = trials.filter((t) => t.newFile);
const intoNewFiles = newFileTrials.length > 0 ? summarizeTrials(newFileTrials) : undefined;
const others = newFileTrials.length < trials.length ? summarizeTrials(trials.filter((t) => !t.newFile)) : undefined;
const newFileFloor = modelBytes / (fresh.firstGbps * 1e9);
const spares = report.throughput;
const traffic = trialTraffic(strategy, modelBytes);
const limit = traffic.bytes / (copyGbps * 1e9);
const diskFloor = disk.gbps === null ? null : (traffic.reads * modelBytes) / (disk.gbps * 1e9);
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
const times = (x: number) => `${(x / limit).toFixed(1)}x`;
const rows: [string, { mean: number; min: number; max: number }, boolean][] = [
  ['**engine** (wall - evaluation)', summary.engine, true],
  ...summary.fields.map((f): [string, { mean: number; min: number; max: number }, boolean] => [`  ${f}`, summary.phases[f]!, true]),
  ['  other (engine - the fields above)', summary.other, true],
  [`engine, generation 1 (${firstGeneration.trials} trials, ${firstGeneration.accepted} accepted)`, firstGeneration.engine, true],
  ...(later ? [[`engine, generations 2+ (${later.trials} trials, ${later.accepted} accepted)`, later.engine, true] as [string, { mean: number; min: number; max: number }, boolean]] : []),
  ...(intoNewFiles ? [[`engine, trials that wrote a new member file (${intoNewFiles.trials})`, intoNewFiles.engine, true] as [string, { mean: number; min: number; max: number }, boolean]] : []),
  ...(others ? [[`engine, every other trial (${others.trials}, ${others.accepted} accepted over a spare)`, others.engine, true] as [string, { mean: number; min: number; max: number }, boolean]] : []),
  ['evaluation', summary.evaluation, false],
  ['wall', summary.wall, false],
];
const peakTrials = sampler.peak('trials'), peakAll = sampler.peak();
const lines = [
  '',
  `${strategy}, F 0.3, CR 0.9, sequential, ${generations} generation(s): ${summary.trials} trials, ${summary.accepted} accepted; open ${((loopStart - t0) / 1000).toFixed(1)} s, trials ${((loopEnd - loopStart) / 1000).toFixed(1)} s, finish ${((t1 - loopEnd) / 1000).toFixed(1)} s`,
  `STREAM copy ${before.copyGbps.toFixed(1)} / ${after.copyGbps.toFixed(1)} GB/s, triad ${before.triadGbps.toFixed(1)} / ${after.triadGbps.toFixed(1)} GB/s (${threads} threads, this process, before / after the run; the limit takes the faster copy); disk read ${disk.gbps === null ? `not measured (${disk.note})` : `${disk.gbps.toFixed(2)} GB/s (${disk.method}, ${gb(disk.bytes).toFixed(2)} GB)`}`,
  `accepted offspring written: ${spares.persisted}, ${spares.persistedOverSpare} of them over a spare member file (the rest into new files)`,
  `memory new to the process: written at ${fresh.firstGbps.toFixed(2)} GB/s the first time, ${fresh.againGbps.toFixed(1)} GB/s the second: a new member file of ${gb(modelBytes).toFixed(3)} GB takes at least ${f3(newFileFloor)} s`,
  `CPU during the trials, per trial (all threads): user ${f3(cpuTrials.user / 1e6 / summary.trials)} s, system ${f3(cpuTrials.system / 1e6 / summary.trials)} s`,
  `memory-bound limit per trial: ${traffic.reads} reads + ${traffic.writes} write of ${gb(modelBytes).toFixed(3)} GB = ${gb(traffic.bytes).toFixed(2)} GB / ${copyGbps.toFixed(1)} GB/s copy = ${f3(limit)} s`,
  '',
  '| per trial | mean s | min s | max s | x limit |',
  '|---|---:|---:|---:|---:|',
  ...rows.map(([name, s, ratio]) => `| ${name} | ${f3(s.mean)} | ${f3(s.min)} | ${f3(s.max)} | ${ratio ? times(s.mean) : ''} |`),
  `| memory-bound limit | ${f3(limit)} | | | 1.0x |`,
  ...(diskFloor === null ? [] : [`| disk-bound reads (${traffic.reads} x model / disk read) | ${f3(diskFloor)} | | | ${times(diskFloor)} |`]),
  '',
  `**engine / limit = ${(summary.engine.mean / limit).toFixed(1)}x**${others && intoNewFiles ? ` (every trial that wrote no new member file: ${(others.engine.mean / limit).toFixed(1)}x)` : ''}`,
  `memory beyond the page cache: peak Pss_Anon+Pss_Shmem ${mb(peakTrials.PssAnonPlusShmem!).toFixed(0)} MB during the trials (shared pages counted once); peak RssAnon+RssShmem ${mb(peakTrials.AnonPlusShmem!).toFixed(0)} MB during the trials (${mb(peakAll.AnonPlusShmem!).toFixed(0)} MB over the whole run; ${mb(baseline.AnonPlusShmem!).toFixed(0)} MB before it), against an offspring of ${(modelBytes / 1e6).toFixed(0)} MB; ` +
    `peak RssFile (mapped page cache) ${mb(peakAll.RssFile!).toFixed(0)} MB, VmHWM ${mb(peakAll.VmHWM!).toFixed(0)} MB (${sampler.samples} samples)`,
];
console.log(lines.join('\n'));

// ---------- JSON ----------

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}
const phaseNames = ['generate', 'open', 'trials', 'finish'];
writeResult(result, {
  kind: 'scale',
  host: os.hostname(),
  cpu: os.cpus()[0]?.model,
  threads,
  memoryGB: os.totalmem() / 1e9,
  date: new Date().toISOString(),
  engine: { commit: git(['rev-parse', 'HEAD']), changed: git(['status', '--porcelain', '--', 'lib/evolve', 'lib/store', 'cpp', 'lib/native.ts'])?.split('\n').filter((l) => l !== '') },
  args: { params, members, generations, strategy, seed, F: 0.3, CR: 0.9, schedule: 'sequential' },
  model: { shape, bytes: modelBytes, shards: population.shards, dtype: 'BF16' },
  generationSeconds: population.seconds,
  bandwidth: { copyGbps, triadGbps, before, after, freshMemory: fresh, disk },
  limit: { reads: traffic.reads, writes: traffic.writes, bytesPerTrial: traffic.bytes, seconds: limit, diskReadSeconds: diskFloor },
  cpuPerTrial: { user: cpuTrials.user / 1e6 / summary.trials, system: cpuTrials.system / 1e6 / summary.trials },
  run: { openSeconds: (loopStart - t0) / 1000, trialsSeconds: (loopEnd - loopStart) / 1000, finishSeconds: (t1 - loopEnd) / 1000, stop: report.stop },
  summary: { ...summary, engineOverLimit: summary.engine.mean / limit },
  firstGeneration: { ...firstGeneration, engineOverLimit: firstGeneration.engine.mean / limit },
  ...(later ? { laterGenerations: { ...later, engineOverLimit: later.engine.mean / limit } } : {}),
  ...(intoNewFiles ? { intoNewFiles: { ...intoNewFiles, engineOverLimit: intoNewFiles.engine.mean / limit, floorSeconds: newFileFloor } } : {}),
  ...(others ? { otherTrials: { ...others, engineOverLimit: others.engine.mean / limit } } : {}),
  persisted: { files: spares.persisted, overSpare: spares.persistedOverSpare, seconds: spares.persistSeconds },
  memoryKB: { before: baseline, peak: peakAll, ...Object.fromEntries(phaseNames.map((p) => [p, sampler.peak(p)])), samples: sampler.samples, maxRSS: process.resourceUsage().maxRSS },
  trials,
});
console.log(`\n${wroteLine(result, target)}`);

cleanup();
