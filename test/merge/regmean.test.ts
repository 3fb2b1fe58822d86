import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { ConfigError } from '../../lib/evolve/config.js';
import { EvolverArgumentError, WeightFileError } from '../../lib/errors.js';
import { loadMergeConfig, validateMergeConfig } from '../../lib/merge/config.js';
import { native } from '../../lib/native.js';
import { REGMEAN_STATS_FORMAT, RegmeanError } from '../../lib/merge/regmean.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import type { TensorMeta } from '../../lib/store/source.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { FORTUNES, evolverCli, tempDir } from '../helpers.js';

// A tiny model: two linear layers (one torch-style [out, in], one Conv1D-style [in, out]), an
// embedding and a bias, which RegMean averages.
const SHAPES: Record<string, number[]> = { 'emb.weight': [7, 4], 'fc1.weight': [5, 4], 'fc1.bias': [5], 'fc2.weight': [5, 3] };
const LAYOUTS = { 'fc1.weight': 'out_in', 'fc2.weight': 'in_out' } as const;
const DIMS = { 'fc1.weight': 4, 'fc2.weight': 5 };

/** A seeded generator (mulberry32) for reproducible test data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

function writeFile(file: string, tensors: Record<string, Float32Array>, shapes: Record<string, number[]>, metadata?: Record<string, string>): string {
  const metas = Object.keys(tensors).map((name) => ({ name, dtype: 'F32', shape: shapes[name]! })) as unknown as TensorMeta[];
  const writer = SafetensorsWriter.create(file, { tensors: metas, ...(metadata ? { metadata } : {}) });
  for (const [name, v] of Object.entries(tensors)) (writer.view(name) as Float32Array).set(v);
  writer.commit();
  return file;
}

/** Gram X^T X of `rows` random input rows of width `dim` (feature `dead`, when given, always 0), rounded to float32. */
function gram(rnd: () => number, rows: number, dim: number, dead?: number): Float32Array {
  const x = Array.from({ length: rows }, () => Array.from({ length: dim }, (_, c) => (c === dead ? 0 : rnd())));
  const g = new Float32Array(dim * dim);
  for (let r = 0; r < dim; r++) for (let c = 0; c < dim; c++) g[r * dim + c] = x.reduce((s, row) => s + row[r]! * row[c]!, 0);
  return g;
}

/** Solves A X = B (A n x n, B n x m, row-major doubles) by Gaussian elimination with partial pivoting. */
function solveRef(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k < m[r]!.length; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row.slice(n).map((v) => v / m[i]![i]!));
}

/** RegMean of one layer, computed plainly: W* = (sum G~_i)^-1 sum G~_i W_i, W as [in, out]. */
function regmeanRef(grams: Float32Array[], weights: Float32Array[], layout: 'in_out' | 'out_in', dim: number, cols: number, alpha: number): Float64Array {
  const shrunk = (g: Float32Array) => Array.from({ length: dim }, (_, r) => Array.from({ length: dim }, (_, c) => (r === c ? g[r * dim + c]! : alpha * g[r * dim + c]!)));
  const asInOut = (w: Float32Array) => Array.from({ length: dim }, (_, r) => Array.from({ length: cols }, (_, c) => (layout === 'in_out' ? w[r * cols + c]! : w[c * dim + r]!)));
  const sum = Array.from({ length: dim }, () => new Array<number>(dim).fill(0));
  const rhs = Array.from({ length: dim }, () => new Array<number>(cols).fill(0));
  grams.forEach((g, i) => {
    const s = shrunk(g), w = asInOut(weights[i]!);
    for (let r = 0; r < dim; r++) {
      for (let c = 0; c < dim; c++) sum[r]![c]! += s[r]![c]!;
      for (let c = 0; c < cols; c++) for (let k = 0; k < dim; k++) rhs[r]![c]! += s[r]![k]! * w[k]![c]!;
    }
  });
  const x = solveRef(sum, rhs);
  const out = new Float64Array(dim * cols);
  for (let r = 0; r < dim; r++) for (let c = 0; c < cols; c++) out[layout === 'in_out' ? r * cols + c : c * dim + r] = x[r]![c]!;
  return out;
}

interface Family {
  dir: string;
  models: string[];
  stats: string[];
  weights: Record<string, Float32Array>[];
  grams: Record<string, Float32Array>[];
}

function family(o: { members?: number; rows?: number; dead?: number; seed?: number } = {}): Family {
  const dir = tempDir();
  const rnd = random(o.seed ?? 1);
  const members = o.members ?? 3;
  const f: Family = { dir, models: [], stats: [], weights: [], grams: [] };
  for (let i = 0; i < members; i++) {
    const w = Object.fromEntries(Object.entries(SHAPES).map(([n, s]) => [n, Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, rnd)]));
    const g = Object.fromEntries(Object.entries(DIMS).map(([n, d]) => [n, gram(rnd, o.rows ?? 9, d, o.dead)]));
    f.weights.push(w);
    f.grams.push(g);
    f.models.push(writeFile(path.join(dir, `m${i}.safetensors`), w, SHAPES));
    f.stats.push(writeFile(path.join(dir, `m${i}.grams.safetensors`), g, Object.fromEntries(Object.entries(DIMS).map(([n, d]) => [n, [d, d]])), { evolver_stats: REGMEAN_STATS_FORMAT, layouts: JSON.stringify(LAYOUTS) }));
  }
  return f;
}

async function merge(f: Family, parameters: Record<string, unknown> = {}, stats = f.stats): Promise<string> {
  const file = path.join(f.dir, `merge-${Math.random().toString(36).slice(2)}.yml`);
  fs.writeFileSync(file, stringify({ models: f.models.map((m, i) => ({ model: m, parameters: { grams: stats[i] } })), merge_method: 'regmean', parameters }));
  const out = path.join(f.dir, `out-${path.basename(file, '.yml')}`);
  await runMerge(loadMergeConfig(file), out);
  return out;
}

function assertClose(got: Float32Array, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  const scale = Math.max(...Array.from(want, Math.abs));
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol * scale, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

describe('merge_method: regmean against a plain TypeScript RegMean', function () {
  this.timeout(60_000);

  for (const alpha of [0.9, 0.5, 1]) {
    it(`alpha ${alpha}: linear layers by the closed form, in both layouts; other tensors averaged`, async () => {
      const f = family({ seed: Math.round(alpha * 10) });
      using w = openWeights(await merge(f, { alpha }));
      for (const [name, layout] of Object.entries(LAYOUTS)) {
        const [dim, cols] = layout === 'in_out' ? [SHAPES[name]![0]!, SHAPES[name]![1]!] : [SHAPES[name]![1]!, SHAPES[name]![0]!];
        const want = regmeanRef(f.grams.map((g) => g[name]!), f.weights.map((x) => x[name]!), layout, dim, cols, alpha);
        assertClose(w.view(name) as Float32Array, want, 1e-5, name);
      }
      for (const name of ['emb.weight', 'fc1.bias']) {
        const want = f.weights[0]![name]!.map((_, i) => f.weights.reduce((s, x) => s + x[name]![i]!, 0) / f.weights.length);
        assertClose(w.view(name) as Float32Array, want, 1e-6, name);
      }
    });
  }

  it('identical members merge to themselves; a feature no data reached gets the plain average', async () => {
    const f = family({ dead: 2 });
    using w = openWeights(await merge(f, { alpha: 0.9 }));
    const got = w.view('fc1.weight') as Float32Array;  // [out 5, in 4]: column 2 is input feature 2
    for (let o = 0; o < 5; o++) {
      const avg = f.weights.reduce((s, x) => s + x['fc1.weight']![o * 4 + 2]!, 0) / f.weights.length;
      assert.ok(Math.abs(got[o * 4 + 2]! - avg) < 1e-6, `row for the dead feature, output ${o}`);
    }
    const same = family({ members: 2 });
    same.weights[1] = same.weights[0]!;
    fs.copyFileSync(same.models[0]!, same.models[1]!);
    using s = openWeights(await merge(same, { alpha: 1 }));
    assertClose(s.view('fc2.weight') as Float32Array, same.weights[0]!['fc2.weight']!, 1e-5, 'fc2.weight');
  });

  it('end to end on the fortunes models: Grams from `evolver stats regmean` (real layer inputs), then `evolver merge` with regmean', async () => {
    const dir = tempDir();
    const domains = ['computers', 'science'];
    const grams = domains.map((d) => {
      const out = path.join(dir, `${d}.grams.safetensors`);
      const r = evolverCli(...['stats', 'regmean', '--model', path.join(FORTUNES, 'models', `${d}.safetensors`), '--graph', path.join(FORTUNES, 'lm.onnx'), '--data', path.join(FORTUNES, 'data', d, 'dev.jsonl'), '--max-examples', '8', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      return out;
    });
    const cfg = path.join(dir, 'regmean.yml');
    fs.writeFileSync(cfg, stringify({ models: domains.map((d, i) => ({ model: path.join(FORTUNES, 'models', `${d}.safetensors`), parameters: { grams: grams[i] } })), merge_method: 'regmean', parameters: { alpha: 0.9 } }));
    const r = evolverCli('merge', cfg, path.join(dir, 'out'));
    assert.equal(r.code, 0, r.stderr);
    using merged = openWeights(path.join(dir, 'out'));
    using a = openWeights(path.join(FORTUNES, 'models', 'computers.safetensors'));
    using b = openWeights(path.join(FORTUNES, 'models', 'science.safetensors'));
    // Linear layers: the closed form (not the average); everything else: the average.
    const name = 'transformer.h.2.mlp.c_fc.weight';
    const avg = (a.view(name) as Float32Array).map((x, i) => (x + (b.view(name) as Float32Array)[i]!) / 2);
    assert.ok((merged.view(name) as Float32Array).some((x, i) => Math.abs(x - avg[i]!) > 1e-4), 'a linear layer is not the average');
    const ln = 'transformer.h.2.ln_2.weight';
    (merged.view(ln) as Float32Array).forEach((x, i) => assert.ok(Math.abs(x - ((a.view(ln) as Float32Array)[i]! + (b.view(ln) as Float32Array)[i]!) / 2) < 1e-6, ln));
  });

  it('the native calls guard their sizes: a dimension that is not a positive integer is refused', () => {
    const gram = new Float32Array(4), weight = new Float32Array(4), term = new Float64Array(4);
    for (const dim of [1.5, 0, -2]) {
      assert.throws(() => native.regmeanTerm({ gram, weight, term, dim, cols: 2, alpha: 0.9, layout: 'in_out' }), (e: unknown) => (e as { code?: string }).code === 'EINVAL' && /dim must be a positive integer/.test((e as Error).message), String(dim));
    }
  });

  it('refuses, naming the problem: singular Grams at alpha 1, a file that is not RegMean statistics, mismatched shapes, non-finite values, missing grams', async () => {
    // 2 rows per model for 5 features: sum of two rank-2 Grams is singular with alpha = 1.
    const thin = family({ members: 2, rows: 2 });
    await assert.rejects(merge(thin, { alpha: 1 }), (e: unknown) => e instanceof RegmeanError && e.code === 'ENOTPD' && e.tensor === 'fc2.weight' && /not positive definite/.test(e.message) && /lower alpha/.test(e.message));
    await merge(thin, { alpha: 0.9 });  // the shrunk diagonal makes it solvable

    const f = family({ members: 2 });
    const plain = writeFile(path.join(f.dir, 'plain.safetensors'), f.grams[0]!, { 'fc1.weight': [4, 4], 'fc2.weight': [5, 5] });
    await assert.rejects(merge(f, {}, [f.stats[0]!, plain]), (e: unknown) => e instanceof WeightFileError && e.code === 'BAD_METADATA' && e.file === plain && /evolver stats regmean/.test(e.message));

    const wrongShape = writeFile(path.join(f.dir, 'shape.safetensors'), { 'fc1.weight': new Float32Array(25), 'fc2.weight': f.grams[1]!['fc2.weight']! }, { 'fc1.weight': [5, 5], 'fc2.weight': [5, 5] }, { evolver_stats: REGMEAN_STATS_FORMAT, layouts: JSON.stringify(LAYOUTS) });
    await assert.rejects(merge(f, {}, [f.stats[0]!, wrongShape]), (e: unknown) => e instanceof WeightFileError && e.code === 'SIZE_MISMATCH' && e.file === wrongShape && e.tensor === 'fc1.weight');

    const partial = writeFile(path.join(f.dir, 'partial.safetensors'), { 'fc1.weight': f.grams[1]!['fc1.weight']! }, { 'fc1.weight': [4, 4] }, { evolver_stats: REGMEAN_STATS_FORMAT, layouts: JSON.stringify(LAYOUTS) });
    await assert.rejects(merge(f, {}, [f.stats[0]!, partial]), (e: unknown) => e instanceof WeightFileError && e.code === 'TENSOR_NOT_FOUND' && e.file === partial && e.tensor === 'fc2.weight');

    const nan = f.grams[1]!['fc2.weight']!.slice();
    nan[3] = NaN;
    const bad = writeFile(path.join(f.dir, 'nan.safetensors'), { ...f.grams[1]!, 'fc2.weight': nan }, { 'fc1.weight': [4, 4], 'fc2.weight': [5, 5] }, { evolver_stats: REGMEAN_STATS_FORMAT, layouts: JSON.stringify(LAYOUTS) });
    await assert.rejects(merge(f, {}, [f.stats[0]!, bad]), (e: unknown) => e instanceof RegmeanError && e.code === 'ENONFINITE' && e.file === bad && e.tensor === 'fc2.weight' && e.message.includes(bad) && /non-finite/.test(e.message));

    const skew = f.grams[1]!['fc1.weight']!.slice();
    skew[1] = skew[1]! + 1;  // [0][1] no longer equals [1][0]
    const asym = writeFile(path.join(f.dir, 'asym.safetensors'), { ...f.grams[1]!, 'fc1.weight': skew }, { 'fc1.weight': [4, 4], 'fc2.weight': [5, 5] }, { evolver_stats: REGMEAN_STATS_FORMAT, layouts: JSON.stringify(LAYOUTS) });
    await assert.rejects(merge(f, {}, [f.stats[0]!, asym]), (e: unknown) => e instanceof RegmeanError && e.code === 'ENOTSYM' && e.file === asym && e.tensor === 'fc1.weight' && /not symmetric/.test(e.message));

    assert.throws(() => validateMergeConfig({ models: [{ model: 'a' }, { model: 'b' }], merge_method: 'regmean' }, 'r.yml'), (e: unknown) => e instanceof ConfigError && /needs 'grams'/.test((e as Error).message));
    await assert.rejects(merge(f, { alpha: 2 }), (e: unknown) => e instanceof EvolverArgumentError && /alpha = 2/.test((e as Error).message));
  });
});
