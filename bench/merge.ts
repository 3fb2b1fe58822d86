// Merge throughput on synthetic bf16 models (four fine-tunes + a base, each `--size` bytes of
// tensors, default 1 GiB): GB/s of input read + output written for linear, ties and dare_ties,
// against the machine's STREAM triad measured in the same process, with the peak resident
// anonymous memory (mapped file pages excluded: they are the page cache) and the peak RSS.
// The JSON goes to a new file under bench/results/local/ (not committed); --save NAME writes
// bench/results/NAME.json, --out FILE that file.
//   npm run bench:merge [-- --size 2GiB] [-- --save merge-myhost]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { stringify } from 'yaml';

import * as k from '../lib/kernels/index.js';
import { loadMergeConfig } from '../lib/merge/config.js';
import { runMerge } from '../lib/merge/run.js';
import { native } from '../lib/native.js';
import { SafetensorsWriter } from '../lib/store/writer.js';
import { parseSize } from '../lib/cli/bench-command.js';
import { resultFile, targetFromArgv, writeResult, wroteLine } from '../lib/bench/output.js';

const at = process.argv.indexOf('--size');
const size = at > 0 ? parseSize(process.argv[at + 1]!) : 2 ** 30;
const target = targetFromArgv();
const result = resultFile('merge', target);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-bench-merge-'));

/** Peak anonymous resident memory, sampled while a merge runs (kB from /proc/self/status). */
function anonKb(): number {
  const m = /RssAnon:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function model(name: string, seed: number): Promise<string> {
  // 8 layers of [4096 x 4096]-ish bf16 tensors, filled by the conversion kernel from a small pattern.
  const elements = size / 2;
  const perTensor = 16 * 2 ** 20;  // 16 Mi elements (32 MiB bf16)
  const count = Math.max(1, Math.round(elements / perTensor));
  const file = path.join(dir, `${name}.safetensors`);
  const writer = SafetensorsWriter.create(file, { tensors: Array.from({ length: count }, (_, i) => ({ name: `model.layers.${i}.mlp.weight`, dtype: 'BF16' as const, shape: [4096, perTensor / 4096] })) });
  const pattern = new Float32Array(perTensor);
  let s = seed;
  for (let i = 0; i < 65536; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    pattern[i] = (s / 2 ** 32 - 0.5) * 0.02;
  }
  for (let filled = 65536; filled < perTensor; filled *= 2) pattern.copyWithin(filled, 0, Math.min(filled, perTensor - filled));
  for (let i = 0; i < count; i++) await k.convert({ src: pattern, inDtype: 'F32', out: writer.view(`model.layers.${i}.mlp.weight`), outDtype: 'BF16' });
  writer.commit();
  return file;
}

const files = [];
for (const [i, name] of ['base', 'a', 'b', 'c', 'd'].entries()) files.push(await model(name, i + 1));
const nd = 32 * 2 ** 20;
const [sa, sb, sc] = [0, 1, 2].map(() => new Float64Array(nd).fill(1));
const triad = await native.stream({ kind: 'triad', a: sa!, b: sb!, c: sc!, threads: os.availableParallelism(), reps: 4 });
const triadGbps = triad.bytes / triad.seconds / 1e9;
sa!.fill(0); // the STREAM arrays stay allocated; the anonymous-memory figures below are growth over this baseline

const rows = [];
console.log(`${files.length - 1} models + base of ${(size / 2 ** 30).toFixed(2)} GiB bf16 each; STREAM triad ${triadGbps.toFixed(1)} GB/s\n`);
console.log('| method | seconds | of which fsync | GB/s (read + written) | GB/s without the fsync | vs triad (without fsync) | anonymous memory growth (MiB) | peak RSS (MiB) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const method of ['linear', 'linear', 'ties', 'dare_ties']) {
  const cfgFile = path.join(dir, `${method}.yml`);
  const models = files.slice(1).map((f) => ({ model: f, parameters: method === 'linear' ? { weight: 0.25 } : { weight: 0.25, density: 0.5 } }));
  fs.writeFileSync(cfgFile, stringify({ models, merge_method: method, ...(method === 'linear' ? {} : { base_model: files[0] }), dtype: 'bfloat16' }));
  const out = path.join(dir, `out-${method}`);
  const baseline = anonKb();
  let peakAnon = baseline;
  const sampler = setInterval(() => (peakAnon = Math.max(peakAnon, anonKb())), 20);
  let last = performance.now();
  const steps: number[] = [];
  const r = await runMerge(loadMergeConfig(cfgFile), out, { seed: 1, onTensor: () => { const now = performance.now(); steps.push(now - last); last = now; } });
  if (process.env.EVOLVER_BENCH_DEBUG) console.log(method, steps.map((x) => x.toFixed(0)).join(' '));
  clearInterval(sampler);
  peakAnon = Math.max(peakAnon, anonKb());
  const gbps = (r.bytesRead + r.bytesWritten) / r.seconds / 1e9;
  const rss = process.resourceUsage().maxRSS / 1024;
  const computeGbps = (r.bytesRead + r.bytesWritten) / (r.seconds - r.flushSeconds) / 1e9;
  rows.push({ method, seconds: r.seconds, flushSeconds: r.flushSeconds, computeGbps, gbps, ratioToTriad: gbps / triadGbps, anonGrowthMiB: (peakAnon - baseline) / 1024, peakRssMiB: rss, bytesRead: r.bytesRead, bytesWritten: r.bytesWritten });
  console.log(`| ${method} | ${r.seconds.toFixed(2)} | ${r.flushSeconds.toFixed(2)} | ${gbps.toFixed(2)} | ${computeGbps.toFixed(2)} | ${((computeGbps / triadGbps) * 100).toFixed(0)}% | ${((peakAnon - baseline) / 1024).toFixed(0)} | ${rss.toFixed(0)} |`);
  fs.rmSync(out, { recursive: true, force: true });
}
writeResult(result, { host: os.hostname(), cpu: os.cpus()[0]?.model, threads: os.availableParallelism(), modelBytes: size, triadGbps, rows, date: new Date().toISOString() });
console.log(`\n${wroteLine(result, target)}\n(peak RSS includes the mapped input files' pages, which are page cache; anonymous RSS is the process's own memory)`);
fs.rmSync(dir, { recursive: true, force: true });
