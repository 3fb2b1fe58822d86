import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { ConfigError } from '../../lib/evolve/config.js';
import { WeightFileError } from '../../lib/errors.js';
import { layerInfo, loadMergeConfig, resolveParam, validateMergeConfig } from '../../lib/merge/config.js';
import { rowLengthOf } from '../../lib/merge/methods.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { inspect } from '../../lib/store/inspect.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { bitsOf, firstDifference } from '../kernels/inputs.js';
import { arceeFusionRef, bf16ToFloat, convertRef, fisherRef, mergeRef, nearswapRef, ramRef, sceRef } from '../kernels/reference.js';
import { FORTUNES, ROOT, tempDir } from '../helpers.js';

const BF16 = (m: string) => path.join(FORTUNES, 'models-bf16', `${m}.safetensors`);
const DOMAINS = ['computers', 'politics', 'science', 'songs-poems'];
const CHECKED = ['transformer.h.1.attn.c_attn.weight', 'transformer.ln_f.bias', 'transformer.wpe.weight'];

function writeConfig(dir: string, raw: unknown): string {
  const file = path.join(dir, 'merge.yml');
  fs.writeFileSync(file, stringify(raw));
  return file;
}

async function merged(raw: Record<string, unknown>, seed = 0): Promise<{ dir: string; out: string }> {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await runMerge(loadMergeConfig(writeConfig(dir, raw)), out, { seed });
  return { dir, out };
}

const bits = (file: string, name: string) => {
  using w = openWeights(file);
  return Array.from(w.view(name) as Uint16Array);
};

describe('evolver merge (mergekit configs) against independent implementations', function () {
  this.timeout(120_000);
  const models = DOMAINS.map((d) => ({ model: BF16(d), parameters: { weight: [0.5, 0.3, 0.15, 0.05][DOMAINS.indexOf(d)]!, density: 0.4 } }));

  const gtaCases = [
    ['task_arithmetic', { kind: 'task_arithmetic', sparsify: 'none', rescale: false }, { lambda: 0.7 }],
    ['ties', { kind: 'ties', sparsify: 'magnitude', rescale: false, normalize: true }, { lambda: 1.2 }],
    // mergekit's DARE default: rescale true = keep each task vector's L1 norm.
    ['dare_linear', { kind: 'task_arithmetic', sparsify: 'random', rescale: 'l1' }, {}],
    ['dare_ties', { kind: 'ties', sparsify: 'random', rescale: 'l1', normalize: false }, {}],
    ['breadcrumbs', { kind: 'task_arithmetic', sparsify: 'magnitude_band', rescale: false, gamma: 0.01 }, {}],
    ['breadcrumbs_ties', { kind: 'ties', sparsify: 'magnitude_band', rescale: false, gamma: 0.01, normalize: false }, {}],
    // DELLA: rank-based keep probabilities within rows (epsilon 0.15 by default), L1 rescale by default.
    ['della', { kind: 'ties', sparsify: 'della', rescale: 'l1', normalize: true, epsilon: 0.15 }, { lambda: 0.9 }],
    ['della_linear', { kind: 'task_arithmetic', sparsify: 'della', rescale: 'l1', epsilon: 0.15 }, {}],
  ] as const;
  for (const [method, ref, params] of gtaCases) {
    it(`${method} (bf16 in and out) matches the plain TypeScript implementation bit for bit`, async () => {
      const { out } = await merged({ models, base_model: BF16('base'), merge_method: method, parameters: params, dtype: 'bfloat16' }, 42);
      using base = openWeights(BF16('base'));
      const names = base.names();
      for (const name of CHECKED) {
        const want = mergeRef({
          ...ref,
          inDtype: 'BF16',
          outDtype: 'BF16',
          inputs: DOMAINS.map((d) => bits(BF16(d), name)),
          weights: models.map((m) => m.parameters.weight),
          base: bits(BF16('base'), name),
          lambda: (params as { lambda?: number }).lambda ?? 1,
          density: 0.4,
          seed: 42n,
          tensorIndex: names.indexOf(name),
          rowLength: rowLengthOf(base.meta(name).shape),
        } as never);
        assert.equal(firstDifference(bits(path.join(out, 'model.safetensors'), name), want), undefined, `${method} ${name}`);
      }
    });
  }

  for (const [method, ref] of [gtaCases[1], gtaCases[3], gtaCases[5]] as const) {
    it(`${method} with negative weights (sign of w_i * tau_i elects, as mergekit) matches the TypeScript implementation`, async () => {
      const negative = models.map((m, i) => ({ model: m.model, parameters: { ...m.parameters, weight: [0.6, -0.4, 0.5, -0.3][i]! } }));
      const { out } = await merged({ models: negative, base_model: BF16('base'), merge_method: method, dtype: 'bfloat16' }, 3);
      using base = openWeights(BF16('base'));
      for (const name of CHECKED) {
        const args = { ...ref, inDtype: 'BF16', outDtype: 'BF16', inputs: DOMAINS.map((d) => bits(BF16(d), name)), weights: negative.map((m) => m.parameters.weight), base: bits(BF16('base'), name), lambda: 1, density: 0.4, seed: 3n, tensorIndex: base.names().indexOf(name) } as const;
        assert.equal(firstDifference(bits(path.join(out, 'model.safetensors'), name), mergeRef(args as never)), undefined, `${method} ${name}`);
      }
    });
  }

  it('rescale (true = l1, density, false), per-model densities and per-layer gradients match the TypeScript implementation', async () => {
    const densities = [0.3, [0.2, 0.8], 0.7, 0.9] as const;  // model 1: a gradient over layer depth
    const perModel = models.map((m, i) => ({ model: m.model, parameters: { weight: m.parameters.weight, density: densities[i]!, gamma: [0.01, 0.02, 0.05, 0.03][i]! } }));
    using base = openWeights(BF16('base'));
    const names = base.names();
    const layers = layerInfo(names);
    const cases = [
      ['dare_ties', { rescale: 'density' }, { kind: 'ties', sparsify: 'random', rescale: 'density', normalize: false }],
      ['dare_linear', { rescale: false }, { kind: 'task_arithmetic', sparsify: 'random', rescale: 'none' }],
      ['dare_linear', {}, { kind: 'task_arithmetic', sparsify: 'random', rescale: 'l1' }],
      ['ties', { rescale: true }, { kind: 'ties', sparsify: 'magnitude', rescale: 'l1', normalize: true }],
      ['breadcrumbs_ties', { rescale: 'l1' }, { kind: 'ties', sparsify: 'magnitude_band', rescale: 'l1', normalize: false }],
    ] as const;
    for (const [method, params, ref] of cases) {
      const cfg = { models: perModel.map((m) => ({ model: m.model, parameters: method.startsWith('breadcrumbs') ? m.parameters : { weight: m.parameters.weight, density: m.parameters.density } })), base_model: BF16('base'), merge_method: method, parameters: params, dtype: 'bfloat16' };
      const { out } = await merged(cfg, 11);
      for (const name of CHECKED) {
        const density = densities.map((d) => resolveParam(d as never, name, layers, 'density') as number);
        const want = mergeRef({ ...ref, inDtype: 'BF16', outDtype: 'BF16', inputs: DOMAINS.map((d) => bits(BF16(d), name)), weights: perModel.map((m) => m.parameters.weight), base: bits(BF16('base'), name), lambda: 1, density, gamma: perModel.map((m) => m.parameters.gamma), seed: 11n, tensorIndex: names.indexOf(name) } as never);
        assert.equal(firstDifference(bits(path.join(out, 'model.safetensors'), name), want), undefined, `${method} ${JSON.stringify(params)} ${name}`);
      }
    }
    // The gradient gave model 1 a different density per layer.
    assert.notEqual(resolveParam([0.2, 0.8], CHECKED[0]!, layers, 'd'), resolveParam([0.2, 0.8], 'transformer.h.3.attn.c_attn.weight', layers, 'd'));
  });

  it('dtype rounds the inputs to it (mergekit loads in dtype); out_dtype is the output dtype', async () => {
    const F32 = (m: string) => path.join(FORTUNES, 'models', `${m}.safetensors`);
    const pair = ['computers', 'science'];
    const cfg = { models: pair.map((m, i) => ({ model: F32(m), parameters: { weight: [0.25, 0.75][i]! } })), merge_method: 'linear', dtype: 'bfloat16', out_dtype: 'float32' };
    const { out } = await merged(cfg);
    using w = openWeights(out);
    const f32bits = (file: string, name: string) => {
      using x = openWeights(file);
      return Array.from(bitsOf(x.view(name) as Float32Array));
    };
    for (const name of CHECKED) {
      assert.equal(w.meta(name).dtype, 'F32');
      const inputs = pair.map((m) => convertRef(f32bits(F32(m), name), 'F32', 'BF16'));
      const want = mergeRef({ kind: 'linear', sparsify: 'none', inDtype: 'BF16', outDtype: 'F32', inputs, weights: [0.25, 0.75], lambda: 1, density: 1, rescale: false, seed: 0n, tensorIndex: 0 });
      assert.equal(firstDifference(bitsOf(w.view(name) as Float32Array), want), undefined, name);
    }
    // Without dtype the float32 inputs are used as they are.
    const { out: plain } = await merged({ ...cfg, dtype: undefined });
    using p = openWeights(plain);
    assert.notEqual(firstDifference(bitsOf(p.view(CHECKED[0]!) as Float32Array), bitsOf(w.view(CHECKED[0]!) as Float32Array)), undefined);
  });

  it('passthrough copies the one model (bits unchanged) or scales it; nearswap matches the TypeScript implementation', async () => {
    const { out: copy } = await merged({ models: [{ model: BF16('politics') }], merge_method: 'passthrough' });
    const { out: scaled } = await merged({ models: [{ model: BF16('politics'), parameters: { scale: [{ filter: 'attn', value: 0.5 }, { value: 1 }] } }], merge_method: 'passthrough', out_dtype: 'float32' });
    const { out: near } = await merged({ models: [{ model: BF16('base') }, { model: BF16('songs-poems') }], base_model: BF16('base'), merge_method: 'nearswap', parameters: { t: 0.002 } });
    using s = openWeights(scaled);
    for (const name of CHECKED) {
      const x = bits(BF16('politics'), name);
      assert.equal(firstDifference(bits(path.join(copy, 'model.safetensors'), name), x), undefined, `passthrough ${name}`);
      const want = mergeRef({ kind: 'linear', sparsify: 'none', inDtype: 'BF16', outDtype: 'F32', inputs: [x], weights: [name.includes('attn') ? 0.5 : 1], lambda: 1, density: 1, rescale: false, seed: 0n, tensorIndex: 0 });
      assert.equal(firstDifference(bitsOf(s.view(name) as Float32Array), want), undefined, `passthrough scale ${name}`);
      const got = bits(path.join(near, 'model.safetensors'), name);
      assert.equal(firstDifference(got, nearswapRef(bits(BF16('songs-poems'), name), bits(BF16('base'), name), 0.002, 'BF16', 'BF16')), undefined, `nearswap ${name}`);
    }
    const file = 'cfg.yml';
    assert.throws(() => validateMergeConfig({ models: [{ model: 'a' }], base_model: 'b', merge_method: 'passthrough' }, file), (e: unknown) => e instanceof ConfigError && e.keyPath === 'base_model' && /no base_model/.test(e.message));
    assert.throws(() => validateMergeConfig({ models: [{ model: 'a' }, { model: 'c' }], merge_method: 'passthrough' }, file), (e: unknown) => e instanceof ConfigError && e.keyPath === 'models' && /exactly 1/.test(e.message));
    assert.throws(() => validateMergeConfig({ models: [{ model: 'a' }], base_model: 'b', merge_method: 'nearswap' }, file), (e: unknown) => e instanceof ConfigError && e.keyPath === 'parameters.t' && /needs 't'/.test(e.message));
  });

  it('sce (select_topk 0.3 and 1) matches the plain TypeScript implementation', async () => {
    for (const selectTopk of [0.3, 1]) {
      const { out } = await merged({ models: DOMAINS.map((d) => ({ model: BF16(d) })), base_model: BF16('base'), merge_method: 'sce', parameters: { select_topk: selectTopk, int8_mask: true }, out_dtype: 'float32' });
      using w = openWeights(out);
      for (const name of CHECKED) {
        const want = sceRef(DOMAINS.map((d) => bits(BF16(d), name)), bits(BF16('base'), name), 'BF16', 'F32', selectTopk);
        assert.equal(firstDifference(bitsOf(w.view(name) as Float32Array), want), undefined, `sce ${selectTopk} ${name}`);
      }
    }
  });

  it('arcee_fusion matches the plain TypeScript implementation', async () => {
    const { out } = await merged({ models: [{ model: BF16('base') }, { model: BF16('science') }], base_model: BF16('base'), merge_method: 'arcee_fusion', out_dtype: 'float32' });
    using w = openWeights(out);
    using b = openWeights(BF16('base'));
    for (const name of CHECKED) {
      const shape = b.meta(name).shape;
      const want = arceeFusionRef(bits(BF16('science'), name), bits(BF16('base'), name), shape[shape.length - 1]!, 'BF16', 'F32');
      assert.equal(firstDifference(bitsOf(w.view(name) as Float32Array), want), undefined, name);
    }
  });

  it('ram and ramplus_tl match the plain TypeScript implementation', async () => {
    const raw = (method: string, parameters: Record<string, number>) => ({ models: DOMAINS.map((d) => ({ model: BF16(d) })), base_model: BF16('base'), merge_method: method, parameters, out_dtype: 'float32' });
    // epsilon 0.01: the fixture's task vectors are small, so entries split into unique, shared and untouched ones.
    const { out: plain } = await merged(raw('ram', { epsilon: 0.01 }));
    const { out: plus } = await merged(raw('ramplus_tl', { epsilon: 0.01, r: 0.5, alpha: 1 }));
    using p = openWeights(plain);
    using q = openWeights(plus);
    for (const name of CHECKED) {
      const inputs = DOMAINS.map((d) => bits(BF16(d), name)), base = bits(BF16('base'), name);
      assert.equal(firstDifference(bitsOf(p.view(name) as Float32Array), ramRef(inputs, base, 'BF16', 'F32', 0.01, false)), undefined, `ram ${name}`);
      assert.equal(firstDifference(bitsOf(q.view(name) as Float32Array), ramRef(inputs, base, 'BF16', 'F32', 0.01, true, 0.5, 1)), undefined, `ramplus_tl ${name}`);
    }
    assert.notEqual(firstDifference(bitsOf(p.view(CHECKED[0]!) as Float32Array), bitsOf(q.view(CHECKED[0]!) as Float32Array)), undefined, 'RAM+ scales unique entries');
  });

  it('linear normalizes the weights (mergekit default) and writes float32 when asked', async () => {
    const { out } = await merged({ models: models.map((m) => ({ model: m.model, parameters: { weight: m.parameters.weight * 2 } })), merge_method: 'linear', out_dtype: 'float32' });
    using w = openWeights(out);
    const name = 'transformer.ln_f.weight';
    assert.equal(w.meta(name).dtype, 'F32');
    const want = mergeRef({ kind: 'linear', sparsify: 'none', inDtype: 'BF16', outDtype: 'F32', inputs: DOMAINS.map((d) => bits(BF16(d), name)), weights: models.map((m) => m.parameters.weight), lambda: 1, density: 1, rescale: false, seed: 0n, tensorIndex: 0 });
    assert.equal(firstDifference(bitsOf(w.view(name) as Float32Array), want), undefined);
  });

  it('slerp: t = 0 and t = 1 give the endpoints; filters and gradients pick t per tensor', async () => {
    for (const t of [0, 1]) {
      const { out } = await merged({ models: [{ model: BF16('base') }, { model: BF16('computers') }], base_model: BF16('base'), merge_method: 'slerp', parameters: { t }, dtype: 'bfloat16' });
      for (const name of CHECKED) {
        const got = bits(path.join(out, 'model.safetensors'), name).map(bf16ToFloat);
        const want = bits(t === 0 ? BF16('base') : BF16('computers'), name).map(bf16ToFloat);
        got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= Math.abs(want[i]!) * 2 ** -7 + 1e-30, `${name}[${i}]: ${g} vs ${want[i]}`));
      }
    }
    using base = openWeights(BF16('base'));
    const layers = layerInfo(base.names());
    assert.equal(layers.count, 4);
    const t = [{ filter: 'attn', value: [0.2, 0.8] }, { filter: 'mlp', value: [0.8, 0.2] }, { value: 0.5 }];
    assert.equal(resolveParam(t, 'transformer.h.0.attn.c_attn.weight', layers, 't'), 0.2);
    assert.ok(Math.abs((resolveParam(t, 'transformer.h.3.attn.c_proj.bias', layers, 't') as number) - 0.8) < 1e-12);
    assert.ok(Math.abs((resolveParam(t, 'transformer.h.1.mlp.c_fc.weight', layers, 't') as number) - 0.6) < 1e-12);
    assert.equal(resolveParam(t, 'transformer.ln_f.weight', layers, 't'), 0.5);
    assert.equal(resolveParam([0, 1], 'transformer.wte.weight', layers, 'x'), 0);
    assert.equal(resolveParam([0, 1], 'transformer.ln_f.weight', layers, 'x'), 1);
    assert.throws(() => resolveParam([{ filter: 'attn', value: 1 }], 'transformer.ln_f.weight', layers, 'parameters.t'), /no condition matches/);
  });

  it('model_stock matches a plain double-precision implementation', async () => {
    const { out } = await merged({ models: DOMAINS.map((d) => ({ model: BF16(d) })), base_model: BF16('base'), merge_method: 'model_stock', out_dtype: 'float32' });
    using w = openWeights(out);
    for (const name of CHECKED) {
      const xs = DOMAINS.map((d) => bits(BF16(d), name).map(bf16ToFloat));
      const b = bits(BF16('base'), name).map(bf16ToFloat);
      const taus = xs.map((x) => x.map((v, i) => Math.fround(v - b[i]!)));
      const dot = (p: number[], q: number[]) => p.reduce((a, v, i) => a + v * q[i]!, 0);
      let cos = 0, pairs = 0;
      for (let a = 0; a < 4; a++) for (let c = a + 1; c < 4; c++, pairs++) cos += dot(taus[a]!, taus[c]!) / Math.sqrt(dot(taus[a]!, taus[a]!) * dot(taus[c]!, taus[c]!));
      cos /= pairs;
      const t = (4 * cos) / (1 + 3 * cos);
      const got = w.view(name) as Float32Array;
      b.forEach((bv, i) => {
        const want = (t * xs.reduce((a, x) => a + x[i]!, 0)) / 4 + (1 - t) * bv;
        assert.ok(Math.abs(got[i]! - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${name}[${i}]: ${got[i]} vs ${want}`);
      });
    }
  });

  it('fisher: a Fisher-weighted average given diagonal Fisher files (f32) with the same tensor names', async () => {
    const dir = tempDir();
    // Stand-in Fisher values: the squared weights of each model (non-negative, varied).
    const fisherFile = (m: string) => {
      using w = openWeights(BF16(m));
      const file = path.join(dir, `${m}.fisher.safetensors`);
      const writer = SafetensorsWriter.create(file, { tensors: w.names().map((n) => ({ ...w.meta(n), dtype: 'F32' as const })) });
      for (const n of w.names()) {
        const out = writer.view(n) as Float32Array;
        (w.view(n) as Uint16Array).forEach((h, i) => (out[i] = Math.fround(bf16ToFloat(h) ** 2)));
      }
      writer.commit();
      return file;
    };
    const pair = ['computers', 'science'];
    const cfg = { models: pair.map((m, i) => ({ model: BF16(m), parameters: { weight: [1, 3][i]!, fisher: fisherFile(m) } })), merge_method: 'fisher', out_dtype: 'float32' };
    const { out } = await merged(cfg);
    using w = openWeights(out);
    for (const name of CHECKED) {
      const inputs = pair.map((m) => bits(BF16(m), name));
      const fisher = inputs.map((x) => x.map((h) => new Uint32Array(new Float32Array([Math.fround(bf16ToFloat(h) ** 2)]).buffer)[0]!));
      const want = fisherRef(inputs, fisher, [1, 3], 'BF16', 'F32', 'F32', 1e-8);
      assert.equal(firstDifference(bitsOf(w.view(name) as Float32Array), want), undefined, name);
    }
    assert.throws(() => validateMergeConfig({ models: [{ model: 'a', parameters: { weight: 1 } }], merge_method: 'fisher' }, 'f.yml'), (e: unknown) => e instanceof ConfigError && /needs 'fisher'/.test((e as Error).message));
  });

  it('DARE masks are reproducible from --seed, and differ between seeds', async () => {
    const cfg = { models, base_model: BF16('base'), merge_method: 'dare_ties', dtype: 'bfloat16' };
    const a = await merged(cfg, 7), b = await merged(cfg, 7), c = await merged(cfg, 8);
    const read = (o: string) => fs.readFileSync(path.join(o, 'model.safetensors'));
    assert.ok(read(a.out).equals(read(b.out)));
    assert.ok(!read(a.out).equals(read(c.out)));
  });

  it('config errors name the key; unsupported keys are listed, never ignored', () => {
    const file = 'cfg.yml';
    const expect = (raw: unknown, keyPath: string, pattern: RegExp) =>
      assert.throws(() => validateMergeConfig(raw, file), (e: unknown) => e instanceof ConfigError && e.keyPath === keyPath && pattern.test(e.message));
    expect({ models: [{ model: 'a' }], merge_method: 'linear', chat_template: 'x', modules: {} }, '', /unsupported keys: chat_template, modules/);
    expect({ models: [{ model: 'a' }], merge_method: 'frankenmerge' }, 'merge_method', /expected one of linear/);
    expect({ models, merge_method: 'ties' }, 'base_model', /needs a base_model/);
    expect({ models: [{ model: 'a' }, { model: 'b' }], merge_method: 'linear' }, 'models[0].parameters.weight', /needs 'weight'/);
    expect({ models, merge_method: 'linear' }, 'models[0].parameters.density', /linear has no parameter 'density'/);
    expect({ models, merge_method: 'ties', base_model: 'b', parameters: { t: 0.5 } }, 'parameters.t', /no parameter 't'/);
    expect({ models: [{ model: 'a', parameters: { weight: 1, normalize: true } }], merge_method: 'linear' }, 'models[0].parameters.normalize', /global parameter/);
    expect({ models: [{ model: 'a', parameters: { weight: 'heavy' } }], merge_method: 'linear' }, 'models[0].parameters.weight', /expected a number/);
    expect({ models: [{ model: 'a' }, { model: 'b' }, { model: 'c' }], base_model: 'a', merge_method: 'slerp', parameters: { t: 0.5 } }, 'models', /exactly 1/);
    expect({ models: [{ model: 'a', parameters: { weight: 1 } }], merge_method: 'linear', dtype: 'int4' }, 'dtype', /bfloat16/);
    expect({ models, merge_method: 'dare_ties', base_model: 'b', parameters: { rescale: 'l2' } }, 'parameters.rescale', /true, false or one of l1, density, none/);
    expect({ models, merge_method: 'dare_ties', base_model: 'b', parameters: { rescale: 1 } }, 'parameters.rescale', /got 1/);
    expect({ models, merge_method: 'ties', base_model: 'b', parameters: { rescale: 'density' } }, 'parameters.rescale', /one of l1, none, got "density"/);
    expect({ models, merge_method: 'della', base_model: 'b', parameters: { epsilon: 0.1 } }, 'parameters.epsilon', /per-model parameter of della/);
    expect({ models: [{ model: 'a', parameters: { weight: 1, rescale: true } }], base_model: 'b', merge_method: 'ties' }, 'models[0].parameters.rescale', /global parameter/);
  });

  it('a missing tensor or a shape mismatch names the tensor and the model', async () => {
    const dir = tempDir();
    using src = openWeights(BF16('computers'));
    const partial = path.join(dir, 'partial.safetensors');
    const keep = src.names().filter((n) => n !== 'transformer.h.2.ln_1.bias');
    const w = SafetensorsWriter.create(partial, { tensors: keep.map((n) => src.meta(n)) });
    for (const n of keep) w.write(n, src.chunks(n));
    w.commit();
    const cfg = loadMergeConfig(writeConfig(dir, { models: [{ model: BF16('politics'), parameters: { weight: 1 } }, { model: partial, parameters: { weight: 1 } }], merge_method: 'linear' }));
    await assert.rejects(runMerge(cfg, path.join(dir, 'out')), (e: unknown) => e instanceof WeightFileError && e.tensor === 'transformer.h.2.ln_1.bias' && e.file === partial);
    const cfg2 = loadMergeConfig(writeConfig(dir, { models: [{ model: BF16('politics'), parameters: { weight: 1 } }, { model: path.join(FORTUNES, 'models', 'science.safetensors'), parameters: { weight: 1 } }], merge_method: 'linear' }));
    const out = path.join(dir, 'mixed');
    await runMerge(cfg2, out);  // bf16 + f32 inputs: computed in float32
    assert.equal(inspect(out).tensors[0]!.dtype, 'BF16');
  });

  it('evolver merge CONFIG OUT_DIR writes a checkpoint inspect reads, with the config copied', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'merge', path.join(FORTUNES, 'merges', 'ties.yml'), out, '--max-shard-size', '600KB', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.ok(result.shards.length > 1);
    const info = inspect(out);
    assert.equal(info.shards.length, result.shards.length);
    assert.equal(info.format, 'sharded');
    assert.equal(info.parameters, 842_624);
    assert.ok(fs.existsSync(path.join(out, 'config.json')) || !fs.existsSync(path.join(FORTUNES, 'models-bf16', 'config.json')));
    const again = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'merge', path.join(FORTUNES, 'merges', 'ties.yml'), out], { encoding: 'utf8' });
    assert.equal(again.status, 73);  // ExitCode.OutputExists, the same in every command
    assert.match(again.stderr, /OUTPUT_EXISTS/);
  });
});
