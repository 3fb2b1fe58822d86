import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, type EvolveConfig } from '../../lib/evolve/config.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { InputChangedError } from '../../lib/evolve/inputs.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { Merger } from '../../lib/evolve/merger.js';
import { loadMergeConfig } from '../../lib/merge/config.js';
import { REGMEAN_STATS_FORMAT } from '../../lib/merge/regmean.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import type { TensorMeta } from '../../lib/store/source.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { tempDir } from '../helpers.js';
import { BF16_MODELS, distanceEvaluator, testConfig } from './helpers.js';

/**
 * Stand-in RegMean statistics for a fortunes model: X^T X of 24 seeded random rows for every
 * GPT-2 Conv1D weight (y = x W, W [in, out]); RegMean with alpha < 1 is well posed with them. One
 * feature of one layer is dead (always 0), as a ReLU unit or an unused byte can be.
 */
function syntheticGrams(dir: string, member: number): string {
  using w = openWeights(BF16_MODELS[0]!);
  const linear = w.names().filter((n) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(n));
  let state = 12345 + member;
  const rnd = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const file = path.join(dir, `grams-${member}.safetensors`);
  const metas = linear.map((name) => ({ name, dtype: 'F32', shape: [w.meta(name).shape[0]!, w.meta(name).shape[0]!] })) as unknown as TensorMeta[];
  const writer = SafetensorsWriter.create(file, { tensors: metas, metadata: { evolver_stats: REGMEAN_STATS_FORMAT, layouts: JSON.stringify(Object.fromEntries(linear.map((n) => [n, 'in_out']))) } });
  for (const name of linear) {
    const dim = w.meta(name).shape[0]!;
    // Input feature 5 of block 0's attention projection never fires: RegMean's row for it is the plain average.
    const dead = name === 'transformer.h.0.attn.c_proj.weight' ? 5 : -1;
    const rows = Array.from({ length: 24 }, () => Float64Array.from({ length: dim }, (_, c) => (c === dead ? 0 : rnd())));
    const g = writer.view(name) as Float32Array;
    for (let r = 0; r < dim; r++) for (let c = 0; c < dim; c++) g[r * dim + c] = rows.reduce((s, x) => s + x[r]! * x[c]!, 0);
  }
  writer.commit();
  return file;
}

/** The same config run again, stopped after trial 5 and resumed: best/ must equal `reference`'s bit for bit. */
async function assertResumesIdentically(reference: EvolveConfig): Promise<void> {
  const config = { ...reference, output: path.join(tempDir(), 'run') };
  const controller = new AbortController();
  const run = new EvolutionRun({ config, evaluator: await distanceEvaluator(), signal: controller.signal });
  run.on('trial', (t) => t.entry.k === 5 && controller.abort());
  assert.equal((await run.run()).stop, 'aborted');
  await new EvolutionRun({ config, evaluator: await distanceEvaluator(), resume: true }).run();
  const a = fs.readFileSync(path.join(config.output, 'best', 'model.safetensors'));
  const b = fs.readFileSync(path.join(reference.output, 'best', 'model.safetensors'));
  assert.ok(a.equals(b));
}

describe('evolution with a merger (Evolver + merging)', function () {
  this.timeout(120_000);

  it('scores offspring inside the merged population, keeps improvements of the merged model, outputs it', async () => {
    const config = { ...testConfig({ strategy: 'interp', F: 0.3, generations: 3 }), merger: { method: 'linear' as const, parameters: {} } };
    const report = await new EvolutionRun({ config, evaluator: await distanceEvaluator() }).run();
    assert.ok(report.merged);
    assert.ok(report.merged.final >= report.merged.initial);
    const entries = readJournal(path.join(config.output, 'journal.jsonl')).entries;
    assert.ok(entries.every((e) => typeof e.mergedChecksum === 'string'));
    // Each accepted trial improved on the merged model it was compared with.
    let current = report.merged.initial;
    for (const e of entries) {
      assert.equal(e.parentFitness, current);
      if (e.accepted) current = e.fitness;
    }
    assert.equal(current, report.merged.final);
    const best = fs.readFileSync(path.join(config.output, 'best', 'model.safetensors'));
    assert.ok(best.length > 0);
    using merged = openWeights(path.join(config.output, 'merged', 'current.safetensors'));
    using out = openWeights(path.join(config.output, 'best'));
    for (const n of merged.names()) assert.ok(Buffer.from(merged.bytes(n)).equals(Buffer.from(out.bytes(n))), n);
  });

  it('the incremental linear update agrees with merging from scratch', async () => {
    const dir = tempDir();
    const members = BF16_MODELS.slice(0, 4).map((m) => openWeights(m));
    const names = members[0]!.names();
    const merger = new Merger({ method: 'linear' }, 4);
    await merger.full(members, undefined, names, path.join(dir, 'full.safetensors'));
    // Replace member 2 by member 4 (the base): incremental vs from scratch.
    const replaced = openWeights(BF16_MODELS[4]!);
    using current = openWeights(path.join(dir, 'full.safetensors'));
    await merger.update(current, members, replaced, 2, names, path.join(dir, 'inc.safetensors'));
    await merger.full(members.map((m, i) => (i === 2 ? replaced : m)), undefined, names, path.join(dir, 'scratch.safetensors'));
    using inc = openWeights(path.join(dir, 'inc.safetensors'));
    using scratch = openWeights(path.join(dir, 'scratch.safetensors'));
    for (const n of names) {
      const a = inc.view(n) as Float32Array, b = scratch.view(n) as Float32Array;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * Math.max(1, Math.abs(b[i]!)), `${n}[${i}]`);
    }
    for (const m of [...members, replaced]) m.close();
  });

  it('regmean: the incremental update (one term + a solve) gives the same linear layers, bit for bit, as merging from scratch', async () => {
    const dir = tempDir();
    const stats = [0, 1, 2, 3].map((i) => syntheticGrams(dir, i));
    const members = BF16_MODELS.slice(0, 4).map((m) => openWeights(m));
    const names = members[0]!.names();
    const merger = new Merger({ method: 'regmean', stats, parameters: { alpha: 0.8 } }, 4);
    await merger.full(members, undefined, names, path.join(dir, 'full.safetensors'));
    await merger.prepare(members, names);
    const replaced = openWeights(BF16_MODELS[4]!);
    using current = openWeights(path.join(dir, 'full.safetensors'));
    await merger.update(current, members, replaced, 2, names, path.join(dir, 'inc.safetensors'));
    // A rejected trial leaves the members' terms alone: a second trial on another member is exact too.
    await merger.update(current, members, replaced, 1, names, path.join(dir, 'inc1.safetensors'));
    await merger.full(members.map((m, i) => (i === 2 ? replaced : m)), undefined, names, path.join(dir, 'scratch.safetensors'));
    await merger.full(members.map((m, i) => (i === 1 ? replaced : m)), undefined, names, path.join(dir, 'scratch1.safetensors'));
    for (const [a, b] of [['inc', 'scratch'], ['inc1', 'scratch1']]) {
      using inc = openWeights(path.join(dir, `${a}.safetensors`));
      using scratch = openWeights(path.join(dir, `${b}.safetensors`));
      for (const n of names) {
        const x = inc.view(n) as Float32Array, y = scratch.view(n) as Float32Array;
        if (/\.(c_attn|c_proj|c_fc)\.weight$/.test(n)) assert.ok(Buffer.from(inc.bytes(n)).equals(Buffer.from(scratch.bytes(n))), `${a}: ${n}`);
        else for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= 1e-6 * Math.max(1, Math.abs(y[i]!)), `${a}: ${n}[${i}]`);
      }
    }
    // RegMean is not the average: a linear layer differs from the plain mean of the members.
    using scratch = openWeights(path.join(dir, 'scratch.safetensors'));
    using linear = openWeights(path.join(dir, 'full.safetensors'));
    assert.ok(!Buffer.from(scratch.bytes('transformer.h.0.mlp.c_fc.weight')).equals(Buffer.from(linear.bytes('transformer.h.0.mlp.c_fc.weight'))));
    merger.close();
    for (const m of [...members, replaced]) m.close();
  });

  it('fisher: the merger computes what `evolver merge` does with the same Fisher files and weights', async () => {
    const dir = tempDir();
    const models = BF16_MODELS.slice(0, 3);
    const stats = models.map((m, i) => {
      using w = openWeights(m);
      const file = path.join(dir, `fisher-${i}.safetensors`);
      const writer = SafetensorsWriter.create(file, { tensors: w.names().map((n) => ({ ...w.meta(n), dtype: 'F32' as const })) });
      for (const n of w.names()) {
        const out = writer.view(n) as Float32Array;
        (w.view(n) as Uint16Array).forEach((h, j) => (out[j] = new Float32Array(new Uint32Array([h << 16]).buffer)[0]! ** 2 + 1e-3));
      }
      writer.commit();
      return file;
    });
    const members = models.map((m) => openWeights(m));
    const merger = new Merger({ method: 'fisher', stats }, 3);
    await merger.full(members, undefined, members[0]!.names(), path.join(dir, 'merger.safetensors'));
    const cfg = path.join(dir, 'fisher.yml');
    fs.writeFileSync(cfg, JSON.stringify({ models: models.map((m, i) => ({ model: m, parameters: { weight: 1 / 3, fisher: stats[i] } })), merge_method: 'fisher', out_dtype: 'float32' }));
    await runMerge(loadMergeConfig(cfg), path.join(dir, 'merged'));
    using a = openWeights(path.join(dir, 'merger.safetensors'));
    using b = openWeights(path.join(dir, 'merged'));
    for (const n of b.names()) assert.ok(Buffer.from(a.bytes(n)).equals(Buffer.from(b.bytes(n))), n);
    merger.close();
    for (const m of members) m.close();
  });

  it('merger config errors name the key: statistics files per member, parameters and their ranges, weights', () => {
    assert.throws(() => testConfig({ merger: { method: 'regmean', stats: ['a'] } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'merger.stats' && /one statistics file per model \(5\)/.test(e.message));
    assert.throws(() => testConfig({ merger: { method: 'linear', stats: ['a'] } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'merger.stats');
    const five = ['a', 'b', 'c', 'd', 'e'];
    assert.throws(() => testConfig({ merger: { method: 'regmean', stats: five, parameters: { alpha: 1.5 } } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'merger.parameters.alpha' && /outside \[0, 1\]/.test(e.message));
    assert.throws(() => testConfig({ merger: { method: 'regmean', stats: five, parameters: { lambda: 1 } } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'merger.parameters.lambda' && /it has: alpha/.test(e.message));
    assert.throws(() => testConfig({ merger: { method: 'regmean', stats: five, weights: [1, 1, 1, 1, 1] } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'merger.weights');
    assert.throws(() => testConfig({ merger: { method: 'fisher', stats: five }, initial_merges: { average: true } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'initial_merges');
  });

  it('an interrupted regmean-merger run resumes to the same merged model, bit for bit', async () => {
    const dir = tempDir();
    const overrides = { strategy: 'interp', F: 0.3, generations: 3, models: BF16_MODELS.slice(0, 4) } as const;
    const reference = { ...testConfig(overrides), merger: { method: 'regmean' as const, stats: [0, 1, 2, 3].map((i) => syntheticGrams(dir, i)), parameters: { alpha: 0.9 } } };
    const report = await new EvolutionRun({ config: reference, evaluator: await distanceEvaluator() }).run();
    assert.ok(report.merged && report.merged.final > report.merged.initial, 'the merged model improved');
    await assertResumesIdentically(reference);
  });

  it('a resume refuses statistics files that changed since the run started, naming the file', async () => {
    const dir = tempDir();
    const stats = [0, 1, 2, 3].map((i) => syntheticGrams(dir, i));
    const config = { ...testConfig({ generations: 1, models: BF16_MODELS.slice(0, 4) }), merger: { method: 'regmean' as const, stats, parameters: { alpha: 0.9 } } };
    const controller = new AbortController();
    const run = new EvolutionRun({ config, evaluator: await distanceEvaluator(), signal: controller.signal });
    run.on('trial', () => controller.abort());
    assert.equal((await run.run()).stop, 'aborted');
    fs.rmSync(stats[2]!);
    fs.renameSync(syntheticGrams(tempDir(), 7), stats[2]!);  // regenerated with other data
    await assert.rejects(new EvolutionRun({ folder: config.output, evaluator: await distanceEvaluator(), resume: true }).run(), (e: unknown) => e instanceof InputChangedError && e.file === stats[2]);
  });

  it('an interrupted merger run resumes to the same merged model', async () => {
    const overrides = { strategy: 'interp', F: 0.3, generations: 3 } as const;
    const reference = { ...testConfig(overrides), merger: { method: 'ties' as const, base: BF16_MODELS[4]!, parameters: { density: 0.5 } } };
    reference.models = BF16_MODELS.slice(0, 4);
    await new EvolutionRun({ config: reference, evaluator: await distanceEvaluator() }).run();
    await assertResumesIdentically(reference);
  });
});
