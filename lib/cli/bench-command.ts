/** `evolver bench kernels [--op de --dtype bf16 --threads N --backend cpu --size 1GiB --json --quick] [--save NAME | --out FILE]`. */
import type { Command } from 'commander';

import { BENCH_OPS, type BenchOp, benchKernels, formatReport, writeReport } from '../bench/kernels.js';
import { resultFile, wroteLine } from '../bench/output.js';
import { EvolverArgumentError } from '../errors.js';
import { STRATEGY_NAMES, type Strategy } from '../kernels/index.js';
import type { KernelDType } from '../native.js';

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(text.trim());
  if (!m) throw new EvolverArgumentError(`--size: expected a size like 256MiB or 1GiB, got '${text}'`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const scale: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, kb: 1e3, mb: 1e6, gb: 1e9 };
  return Math.floor(Number(m[1]) * scale[unit]!);
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('kernels')
    .description('kernel throughput vs this machine\'s measured memory bandwidth (STREAM copy/triad)')
    .option('--op <op...>', `ops to run (${BENCH_OPS.join(', ')})`)
    .option('--dtype <dtype...>', 'f32, bf16, f16')
    .option('--strategy <strategy...>', `DE strategies for the de rows (${STRATEGY_NAMES.join(', ')}; default current/1)`)
    .option('--threads <n...>', 'thread counts (default: 1 and all)')
    .option('--backend <backend>', 'cpu or cuda', 'cpu')
    .option('--isa <isa...>', 'CPU variants: scalar, avx2, avx512 (default: scalar and the best)')
    .option('--size <bytes>', 'bytes per operand (default 256MiB, 1GiB for de)')
    .option('--reps <n>', 'timed repetitions (best is reported)')
    .option('--quick', '32 MiB operands, fewer repetitions')
    .option('--no-numpy', 'skip the numpy comparison')
    .option('--out <file>', 'write the JSON to this file')
    .option('--save <name>', 'write the JSON to bench/results/<name>.json (the committed results)')
    .option('--json', 'print the report as one JSON object, last on stdout')
    .action(async (o: { op?: string[]; dtype?: string[]; strategy?: string[]; threads?: string[]; backend: string; isa?: string[]; size?: string; reps?: string; quick?: boolean; numpy: boolean; out?: string; save?: string; json?: boolean }) => {
      const ops = o.op?.map((x) => {
        if (!BENCH_OPS.includes(x as BenchOp)) throw new EvolverArgumentError(`--op: expected one of ${BENCH_OPS.join(', ')}, got '${x}'`);
        return x as BenchOp;
      });
      const dtypes = o.dtype?.map((d) => {
        const up = d.toUpperCase();
        if (up !== 'F32' && up !== 'BF16' && up !== 'F16') throw new EvolverArgumentError(`--dtype: expected f32, bf16 or f16, got '${d}'`);
        return up as KernelDType;
      });
      const strategies = o.strategy?.map((x) => {
        if (!STRATEGY_NAMES.includes(x as Strategy)) throw new EvolverArgumentError(`--strategy: expected one of ${STRATEGY_NAMES.join(', ')}, got '${x}'`);
        return x as Strategy;
      });
      const threads = o.threads?.map((t) => {
        const n = Number(t);
        if (!Number.isInteger(n) || n < 1) throw new EvolverArgumentError(`--threads: expected positive integers, got '${t}'`);
        return n;
      });
      // Default: a new file under bench/results/local/ (ignored by git); checked before the run.
      const target = { ...(o.out !== undefined ? { out: o.out } : {}), ...(o.save !== undefined ? { save: o.save } : {}) };
      resultFile('kernels', target);
      if (o.backend !== 'cpu' && o.backend !== 'cuda') throw new EvolverArgumentError(`--backend: expected cpu or cuda, got '${o.backend}'`);
      const report = await benchKernels({
        ...(ops ? { ops } : {}),
        ...(dtypes ? { dtypes } : {}),
        ...(strategies ? { strategies } : {}),
        ...(threads ? { threads } : {}),
        ...(o.isa ? { isas: o.isa as never } : {}),
        ...(o.size ? { size: parseSize(o.size) } : {}),
        ...(o.reps ? { reps: Number(o.reps) } : {}),
        quick: o.quick === true,
        numpy: o.numpy,
        backend: o.backend,
        log: (line) => process.stderr.write(line + '\n'),
      });
      const file = writeReport(report, target);
      process.stdout.write(formatReport(report));
      process.stdout.write(wroteLine(file, target) + '\n');
      if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
    });
}
