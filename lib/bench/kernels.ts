/**
 * `evolver bench kernels`: kernel throughput against this machine's memory bandwidth.
 * In one process: a STREAM-like copy and triad, then each op x dtype x {scalar, best SIMD}
 * x {1 thread, all threads}, reporting GB/s (bytes read + written / time), ns per element
 * and the ratio to triad; and the same DE trial in numpy when python3 has it.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { EvolverArgumentError } from '../errors.js';
import * as k from '../kernels/index.js';
import { native, type KernelDType } from '../native.js';
import { type ResultTarget, resultFile, writeResult } from './output.js';

export type BenchOp = 'de' | 'linear' | 'task_arithmetic' | 'ties' | 'dare_ties' | 'slerp' | 'convert' | 'stats';
export const BENCH_OPS: BenchOp[] = ['de', 'linear', 'task_arithmetic', 'ties', 'dare_ties', 'slerp', 'convert', 'stats'];

export interface BenchOptions {
  ops?: BenchOp[];
  dtypes?: KernelDType[];
  /** DE strategies to time (default: current/1). */
  strategies?: k.Strategy[];
  /** Bytes per operand (default 256 MiB; `de` uses 4x that unless size is given). */
  size?: number;
  quick?: boolean;
  threads?: number[];
  isas?: k.CpuIsa[];
  backend?: 'cpu' | 'cuda';
  reps?: number;
  numpy?: boolean;
  log?: (line: string) => void;
}

export interface BenchResult {
  op: BenchOp;
  /** de only: the DE strategy of the row. */
  strategy?: k.Strategy;
  dtype: string;
  backend: string;
  threads: number;
  n: number;
  gbps: number;
  ns_per_elem: number;
  ratio_to_triad: number;
  /** CPU rows: the triad the ratio is against, measured with the row's threads just before and after the row (mean). */
  triad_gbps?: number;
}

export interface BenchReport {
  host: string;
  cpu: string;
  threads: number;
  copy_gbps: number;
  triad_gbps: number;
  copy_gbps_1thread: number;
  triad_gbps_1thread: number;
  results: BenchResult[];
  /** With --backend cuda: the GPU's device-to-device copy bandwidth; cuda rows' ratio_to_triad is against it. */
  device_copy_gbps?: number;
  numpy: { ns_per_elem: number | null; n?: number; version?: string; note?: string };
  de_vs_numpy?: number;
  date: string;
}

const MiB = 1024 * 1024;
/** The members a DE strategy reads: x, a, b (current/1); x, a, b and r0 or best; x and ref (interp). */
const DE_INPUTS: Record<k.Strategy, number> = { 'current/1': 3, 'rand/1': 4, 'best/1': 4, 'current-to-best/1': 4, interp: 2 };
const BYTES: Record<KernelDType, number> = { F32: 4, F16: 2, BF16: 2 };

async function bestOf(reps: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();  // warm-up: page faults and caches out of the measurement
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

/** Operands: the op's inputs and output, and the bytes one call moves. */
function plan(op: BenchOp, dtype: KernelDType, strategy: k.Strategy = 'current/1'): { inputs: number; outputs: number; outDtype: KernelDType } {
  switch (op) {
    case 'de': return { inputs: DE_INPUTS[strategy], outputs: 1, outDtype: dtype };  // only the inputs the strategy reads
    case 'linear': return { inputs: 4, outputs: 1, outDtype: dtype };
    case 'task_arithmetic': return { inputs: 5, outputs: 1, outDtype: dtype };  // base + 4 models
    case 'ties':
    case 'dare_ties': return { inputs: 5, outputs: 1, outDtype: dtype };
    case 'slerp': return { inputs: 2, outputs: 1, outDtype: dtype };
    case 'convert': return { inputs: 1, outputs: 1, outDtype: dtype === 'F32' ? 'BF16' : 'F32' };
    case 'stats': return { inputs: 1, outputs: 0, outDtype: dtype };
  }
}

/**
 * Operands live in native memory (allocate()): kernels use it in place, as they use mapped
 * tensors. A JS-heap buffer would be copied in and out by every call (cpp/buffer_arg.h), and
 * the copies, not the kernel, would be timed.
 */
function nativeBytes(bytes: number): Uint8Array {
  return new Uint8Array(native.allocate(bytes));
}

async function filled(n: number, dtype: KernelDType, seed: number): Promise<Uint8Array> {
  // Realistic values (bf16/f16 of small normals), written natively in bulk: no per-element JS.
  const f = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < Math.min(n, 1 << 16); i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    f[i] = ((s / 2 ** 32) - 0.5) * 0.1;
  }
  for (let filledTo = Math.min(n, 1 << 16); filledTo < n; filledTo *= 2) f.copyWithin(filledTo, 0, Math.min(filledTo, n - filledTo));
  const out = nativeBytes(n * BYTES[dtype]);
  if (dtype === 'F32') out.set(new Uint8Array(f.buffer));
  else await k.convert({ src: f, inDtype: 'F32', out, outDtype: dtype });
  return out;
}

export async function benchKernels(o: BenchOptions = {}): Promise<BenchReport> {
  const log = o.log ?? (() => {});
  if (o.backend === 'cuda') {
    const cuda = k.cudaStatus();
    if (!cuda.available) throw new EvolverArgumentError(`the cuda backend cannot be benchmarked here: ${cuda.reason}`);
  }
  const all = os.availableParallelism?.() ?? os.cpus().length;
  const reps = o.reps ?? (o.quick ? 2 : 3);
  const operand = o.size ?? (o.quick ? 32 * MiB : 256 * MiB);
  const deOperand = o.size ?? (o.quick ? 32 * MiB : 1024 * MiB);
  const threadsList = o.threads ?? [...new Set([1, all])];
  const best = k.bestIsa();
  const isas = o.isas ?? [...new Set<k.CpuIsa>(['scalar', best])];
  const ops = o.ops ?? BENCH_OPS;
  const dtypes = o.dtypes ?? ['F32', 'BF16', 'F16'];

  // STREAM copy and triad over doubles of the operand size, all threads and one.
  const nd = operand / 8;
  const [sa, sb, sc] = [0, 1, 2].map(() => new Float64Array(nativeBytes(nd * 8).buffer).fill(1));
  const stream = async (kind: 'copy' | 'triad', threads: number) => {
    const r = await native.stream({ kind, a: sa!, b: sb!, c: sc!, threads, reps: reps + 1 });
    return r.bytes / r.seconds / 1e9;
  };
  const copy = await stream('copy', all), triad = await stream('triad', all);
  const copy1 = await stream('copy', 1), triad1 = await stream('triad', 1);
  log(`STREAM (${(operand / MiB).toFixed(0)} MiB arrays): copy ${copy.toFixed(1)} GB/s, triad ${triad.toFixed(1)} GB/s with ${all} threads; 1 thread: copy ${copy1.toFixed(1)}, triad ${triad1.toFixed(1)}`);

  const results: BenchResult[] = [];
  let deviceCopy: number | undefined;
  if (o.backend === 'cuda') {
    deviceCopy = native.cuda.copyBandwidth(Math.max(deOperand, 256 * MiB));
    log(`GPU device-to-device copy: ${deviceCopy.toFixed(0)} GB/s`);
    results.push(...(await benchCuda(ops, dtypes, operand, deOperand, reps, deviceCopy, log)));
  }
  const strategies = o.strategies ?? ['current/1'];
  for (const op of o.backend === 'cuda' ? [] : ops) {
    for (const dtype of dtypes) {
      const bytesPerOperand = op === 'de' ? deOperand : operand;
      const n = Math.floor(bytesPerOperand / BYTES[dtype] / 64) * 64;
      const rows = op === 'de' ? strategies : [undefined];
      // One set of operands per dtype, as many as the hungriest strategy reads: a set per
      // strategy would hold several GiB more until the garbage collector frees the last one.
      const inputs: Uint8Array[] = [];
      for (let i = 0; i < Math.max(...rows.map((s) => plan(op, dtype, s).inputs)); i++) inputs.push(await filled(n, dtype, i + 1));
      const out = nativeBytes(n * BYTES[plan(op, dtype).outDtype]);
      for (const strategy of rows) {
        const shape = plan(op, dtype, strategy);
        const bytes = n * BYTES[dtype] * shape.inputs + n * BYTES[shape.outDtype] * shape.outputs;
        for (const isa of isas) {
          for (const threads of threadsList) {
            const run: k.RunOptions = { isa, threads };
            const call = runOp(op, dtype, inputs.slice(0, shape.inputs), out, shape.outDtype, run, strategy);
            // The ratio is against a triad measured around the row: a shared machine's bandwidth
            // drifts over a run, and one triad at the start would compare different moments.
            const before = await stream('triad', threads);
            // Scalar single-thread runs are slow: one timed run is enough for them.
            const seconds = await bestOf(isa === 'scalar' ? 1 : reps, call);
            const rowTriad = (before + (await stream('triad', threads))) / 2;
            const gbps = bytes / seconds / 1e9;
            const r: BenchResult = { op, ...(strategy ? { strategy } : {}), dtype: dtype.toLowerCase(), backend: isa, threads, n, gbps, ns_per_elem: (seconds / n) * 1e9, ratio_to_triad: gbps / rowTriad, triad_gbps: rowTriad };
            results.push(r);
            log(`${rowName(r).padEnd(20)} ${r.dtype.padEnd(5)} ${isa.padEnd(7)} ${String(threads).padStart(2)} thr  ${gbps.toFixed(2).padStart(7)} GB/s  ${r.ns_per_elem.toFixed(3).padStart(8)} ns/elem  ${(r.ratio_to_triad * 100).toFixed(0).padStart(4)}% of triad (${rowTriad.toFixed(1)} GB/s)`);
          }
        }
      }
    }
  }

  let numpy: BenchReport['numpy'] = { ns_per_elem: null, note: 'numpy comparison not run' };
  if (o.numpy !== false && ops.includes('de')) {
    const script = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'numpy_de.py');
    const n = Math.floor((o.quick ? 32 * MiB : 256 * MiB) / 4);
    try {
      const outText = execFileSync('python3', [script, String(n), String(reps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const parsed = JSON.parse(outText.trim().split('\n').pop()!) as { ns_per_elem: number; n: number; numpy: string };
      numpy = { ns_per_elem: parsed.ns_per_elem, n: parsed.n, version: parsed.numpy };
      log(`numpy ${parsed.numpy}: the same DE trial (f32, current/1) ${parsed.ns_per_elem.toFixed(3)} ns/elem`);
    } catch (err) {
      numpy = { ns_per_elem: null, note: `python3 with numpy not available (${(err as Error).message.split('\n')[0]})` };
    }
  }
  const deBest = results.filter((r) => r.op === 'de' && (r.strategy ?? 'current/1') === 'current/1' && r.dtype === 'f32' && r.backend === best).sort((a, b) => a.ns_per_elem - b.ns_per_elem)[0];
  const report: BenchReport = {
    host: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    threads: all,
    copy_gbps: copy,
    triad_gbps: triad,
    copy_gbps_1thread: copy1,
    triad_gbps_1thread: triad1,
    results,
    ...(deviceCopy === undefined ? {} : { device_copy_gbps: deviceCopy }),
    numpy,
    date: new Date().toISOString(),
  };
  if (deBest && numpy.ns_per_elem !== null) report.de_vs_numpy = numpy.ns_per_elem / deBest.ns_per_elem;
  return report;
}

/** The ops on GPU-resident tensors (the fast path for repeated trials), timed to completion. */
async function benchCuda(ops: BenchOp[], dtypes: KernelDType[], operand: number, deOperand: number, reps: number, copy: number, log: (l: string) => void): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const op of ops) {
    for (const dtype of dtypes) {
      const n = Math.floor((op === 'de' ? deOperand : operand) / BYTES[dtype] / 64) * 64;
      const shape = plan(op, dtype);
      const inputs: k.DeviceTensor[] = [];
      for (let i = 0; i < shape.inputs; i++) {
        const t = new k.DeviceTensor(n * BYTES[dtype]);
        t.upload(await filled(n, dtype, i + 1));
        inputs.push(t);
      }
      const out = new k.DeviceTensor(n * BYTES[shape.outDtype]);
      const run: k.RunOptions = { backend: 'cuda' };
      const call = runOp(op, dtype, inputs, out, shape.outDtype, run);
      const seconds = await bestOf(reps, call);
      const bytes = n * BYTES[dtype] * shape.inputs + n * BYTES[shape.outDtype] * shape.outputs;
      const gbps = bytes / seconds / 1e9;
      results.push({ op, dtype: dtype.toLowerCase(), backend: 'cuda', threads: 0, n, gbps, ns_per_elem: (seconds / n) * 1e9, ratio_to_triad: gbps / copy });
      log(`${op.padEnd(16)} ${dtype.toLowerCase().padEnd(5)} cuda     ${gbps.toFixed(1).padStart(8)} GB/s  ${((gbps / copy) * 100).toFixed(0).padStart(4)}% of device copy`);
      for (const t of [...inputs, out]) t.free();
    }
  }
  return results;
}

/** One call of `op` on these operands (CPU buffers or DeviceTensors). */
function runOp(op: BenchOp, dtype: KernelDType, inputs: (Uint8Array | k.DeviceTensor)[], out: Uint8Array | k.DeviceTensor, outDtype: KernelDType, run: k.RunOptions, strategy: k.Strategy = 'current/1'): () => Promise<unknown> {
  return () => {
    switch (op) {
      case 'de': {
        // The members the strategy reads, in the order plan() counted them: x, then a, b, then the third.
        const [target, ...others] = inputs;
        const members = strategy === 'interp' ? { ref: others[0]! } : { a: others[0]!, b: others[1]!, ...(strategy === 'rand/1' ? { r0: others[2]! } : strategy === 'current/1' ? {} : { best: others[2]! }) };
        return k.de({ strategy, dtype, target: target!, ...members, out, F: 0.5, CR: 0.9, seed: 42, stream: 0, ...run });
      }
      case 'linear': return k.linear({ inputs, weights: [0.25, 0.25, 0.25, 0.25], inDtype: dtype, out, ...run });
      case 'task_arithmetic': return k.taskArithmetic({ base: inputs[0]!, inputs: inputs.slice(1), weights: [1, 1, 1, 1], lambda: 0.5, inDtype: dtype, out, ...run });
      case 'ties': return k.ties({ base: inputs[0]!, inputs: inputs.slice(1), weights: [1, 1, 1, 1], density: 0.5, inDtype: dtype, out, ...run });
      case 'dare_ties': return k.dare({ base: inputs[0]!, inputs: inputs.slice(1), weights: [1, 1, 1, 1], density: 0.5, combine: 'ties', seed: 1, tensorIndex: 0, inDtype: dtype, out, ...run });
      case 'slerp': return k.slerp({ x: inputs[0]!, y: inputs[1]!, t: 0.5, inDtype: dtype, out, ...run });
      case 'convert': return k.convert({ src: inputs[0]!, inDtype: dtype, out, outDtype, ...run });
      case 'stats': return k.stats(inputs[0]!, dtype, run);
    }
  };
}

/** The op column: `de current/1`, `de interp`, ... for DE rows, else the op. */
function rowName(r: BenchResult): string {
  return r.strategy ? `${r.op} ${r.strategy}` : r.op;
}

export function formatReport(r: BenchReport): string {
  const lines = [
    `host ${r.host}, ${r.cpu}, ${r.threads} threads`,
    `STREAM copy ${r.copy_gbps.toFixed(1)} GB/s, triad ${r.triad_gbps.toFixed(1)} GB/s (1 thread: ${r.copy_gbps_1thread.toFixed(1)} / ${r.triad_gbps_1thread.toFixed(1)})`,
    ...(r.device_copy_gbps === undefined ? [] : [`GPU device-to-device copy ${r.device_copy_gbps.toFixed(0)} GB/s (cuda rows: "vs triad" is vs this copy)`]),
    '',
    '| op | dtype | backend | threads | GB/s | ns/elem | triad GB/s | vs triad |',
    '|---|---|---|---:|---:|---:|---:|---:|',
    ...r.results.map((x) => `| ${rowName(x)} | ${x.dtype} | ${x.backend} | ${x.threads} | ${x.gbps.toFixed(2)} | ${x.ns_per_elem.toFixed(3)} | ${x.triad_gbps?.toFixed(1) ?? '-'} | ${(x.ratio_to_triad * 100).toFixed(0)}% |`),
    '',
    r.numpy.ns_per_elem === null ? `numpy: ${r.numpy.note}` : `numpy ${r.numpy.version}: ${r.numpy.ns_per_elem.toFixed(3)} ns/elem for the same DE trial (f32)${r.de_vs_numpy ? `; evolver's fused de is ${r.de_vs_numpy.toFixed(1)}x faster` : ''}`,
  ];
  return lines.join('\n') + '\n';
}

/** Writes the report where `target` says (default: a new file under bench/results/local/, never a committed one); returns the path. */
export function writeReport(r: BenchReport, target: ResultTarget = {}): string {
  return writeResult(resultFile('kernels', target, { host: r.host }), r);
}
