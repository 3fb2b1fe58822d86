import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { ConfigError } from '../../lib/evolve/config.js';
import { loadMergeConfig, validateMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { FORTUNES, tempDir } from '../helpers.js';

const BF16 = (m: string) => path.join(FORTUNES, 'models-bf16', `${m}.safetensors`);

async function merge(raw: Record<string, unknown>, seed = 0): Promise<string> {
  const dir = tempDir();
  const file = path.join(dir, 'merge.yml');
  fs.writeFileSync(file, stringify(raw));
  const out = path.join(dir, 'out');
  await runMerge(loadMergeConfig(file), out, { seed });
  return out;
}

/** Every tensor of a checkpoint as its raw bytes. */
function tensorBytes(target: string): Map<string, Buffer> {
  using w = openWeights(target);
  return new Map(w.names().map((n) => [n, Buffer.concat(w.chunks(n))]));
}

describe('evolver merge: slices (frankenmerges and per-slice merges)', function () {
  this.timeout(120_000);

  it('passthrough: layers [0,2) of one model + [1,3) of another give 4 layers, each byte-identical to its source; config.json says n_layer 4', async () => {
    const out = await merge({
      slices: [
        { sources: [{ model: BF16('computers'), layer_range: [0, 2] }] },
        { sources: [{ model: BF16('science'), layer_range: [1, 3] }] },
      ],
      merge_method: 'passthrough',
    });
    const got = tensorBytes(out);
    const computers = tensorBytes(BF16('computers'));
    const science = tensorBytes(BF16('science'));
    // Output layer -> [source, source layer]; embeddings from the first slice, the tail (ln_f) from the last.
    const origin: [Map<string, Buffer>, number][] = [[computers, 0], [computers, 1], [science, 1], [science, 2]];
    const want = new Map<string, Buffer>();
    for (const [name, bytes] of computers) {
      const m = /^transformer\.h\.(\d+)\.(.+)$/.exec(name);
      if (m) {
        if (Number(m[1]) > 3) continue;
        const [src, layer] = origin[Number(m[1])]!;
        want.set(name, src.get(`transformer.h.${layer}.${m[2]}`)!);
      } else {
        want.set(name, (/wte|wpe/.test(name) ? computers : science).get(name)!);
      }
    }
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [name, bytes] of want) assert.ok(got.get(name)!.equals(bytes), name);
    // The layers really differ between the two models (so the test can tell which was taken).
    assert.ok(!computers.get('transformer.h.1.attn.c_attn.weight')!.equals(science.get('transformer.h.1.attn.c_attn.weight')!));
    assert.ok(!computers.get('transformer.ln_f.weight')!.equals(science.get('transformer.ln_f.weight')!));
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(config.n_layer, 4);
    assert.equal(config.n_embd, 128);  // the rest of the carried config is unchanged
  });

  it('passthrough repeats, drops and interleaves layers; an empty range adds none (as mergekit)', async () => {
    const out = await merge({
      slices: [
        { sources: [{ model: BF16('politics'), layer_range: [3, 4] }] },
        { sources: [{ model: BF16('politics'), layer_range: [2, 2] }] },
        { sources: [{ model: BF16('base'), layer_range: [0, 1] }] },
        { sources: [{ model: BF16('politics'), layer_range: [3, 4] }] },
      ],
      merge_method: 'passthrough',
    });
    const got = tensorBytes(out);
    const politics = tensorBytes(BF16('politics'));
    const base = tensorBytes(BF16('base'));
    const name = (l: number) => `transformer.h.${l}.mlp.c_fc.weight`;
    assert.ok(got.get(name(0))!.equals(politics.get(name(3))!));
    assert.ok(got.get(name(1))!.equals(base.get(name(0))!));
    assert.ok(got.get(name(2))!.equals(politics.get(name(3))!));
    assert.equal(got.has(name(3)), false);
    assert.ok(got.get('transformer.ln_f.bias')!.equals(politics.get('transformer.ln_f.bias')!));
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).n_layer, 3);
  });

  it('a slice over the whole depth with linear, ties or dare_ties equals the same merge written with models (bit for bit, gradients included)', async () => {
    const whole = [0, 4];
    const cases = [
      { merge_method: 'linear', models: [['computers', { weight: [0.2, 0.8] }], ['science', { weight: 0.5 }]] },
      { merge_method: 'ties', base_model: BF16('base'), models: [['computers', { weight: 0.6, density: 0.4 }], ['science', { weight: 0.4, density: [0.3, 0.9] }]] },
      { merge_method: 'dare_ties', base_model: BF16('base'), models: [['politics', { weight: 0.7, density: 0.5 }], ['songs-poems', { weight: 0.3, density: 0.5 }]] },
    ] as const;
    for (const c of cases) {
      const models = c.models.map(([m, parameters]) => ({ model: BF16(m), parameters }));
      const common = { merge_method: c.merge_method, dtype: 'bfloat16', ...('base_model' in c ? { base_model: c.base_model } : {}) };
      const viaModels = tensorBytes(await merge({ ...common, models }, 5));
      const sources = [...models.map((m) => ({ ...m, layer_range: whole })), ...('base_model' in c ? [{ model: c.base_model, layer_range: whole }] : [])];
      const viaSlices = tensorBytes(await merge({ ...common, slices: [{ sources }] }, 5));
      assert.deepEqual([...viaSlices.keys()], [...viaModels.keys()]);
      for (const [name, bytes] of viaModels) assert.ok(viaSlices.get(name)!.equals(bytes), `${c.merge_method} ${name}`);
    }
  });

  it('two linear slices with their own weights: each output layer equals the models-form merge with that slice\'s weights', async () => {
    const src = (m: string, range: number[], weight: number) => ({ model: BF16(m), layer_range: range, parameters: { weight } });
    const out = tensorBytes(await merge({
      slices: [
        { sources: [src('computers', [0, 2], 0.9), src('science', [0, 2], 0.1)] },
        // slice-level parameters apply to every source of the slice (mergekit's lookup: source, slice, top level)
        { sources: [{ model: BF16('computers'), layer_range: [2, 4] }, { model: BF16('science'), layer_range: [2, 4] }], parameters: { weight: 0.5 } },
      ],
      merge_method: 'linear',
    }));
    const full = (w: number[]) => merge({ models: [{ model: BF16('computers'), parameters: { weight: w[0] } }, { model: BF16('science'), parameters: { weight: w[1] } }], merge_method: 'linear' }).then(tensorBytes);
    const first = await full([0.9, 0.1]);
    const second = await full([0.5, 0.5]);
    const name = (l: number) => `transformer.h.${l}.attn.c_proj.weight`;
    assert.ok(out.get(name(1))!.equals(first.get(name(1))!));
    assert.ok(out.get(name(3))!.equals(second.get(name(3))!));
    assert.ok(!out.get(name(3))!.equals(first.get(name(3))!));
    assert.ok(out.get('transformer.wte.weight')!.equals(first.get('transformer.wte.weight')!));  // embeddings: the first slice
    assert.ok(out.get('transformer.ln_f.weight')!.equals(second.get('transformer.ln_f.weight')!));  // tail: the last slice
  });

  it('bad slices are errors that name the key and the model', async () => {
    const file = 'cfg.yml';
    const expect = (raw: unknown, keyPath: string, pattern: RegExp) =>
      assert.throws(() => validateMergeConfig(raw, file), (e: unknown) => e instanceof ConfigError && e.keyPath === keyPath && pattern.test(e.message));
    const src = (range: unknown) => ({ model: 'a', layer_range: range });
    expect({ models: [{ model: 'a' }], slices: [{ sources: [src([0, 1])] }], merge_method: 'passthrough' }, '', /either 'models' or 'slices'/);
    expect({ slices: [], merge_method: 'passthrough' }, 'slices', /non-empty list/);
    expect({ slices: [{ sources: [src([2, 1])] }], merge_method: 'passthrough' }, 'slices[0].sources[0].layer_range', /ends before it starts/);
    expect({ slices: [{ sources: [src([0])] }], merge_method: 'passthrough' }, 'slices[0].sources[0].layer_range', /two non-negative integers/);
    expect({ slices: [{ sources: [src([0, 1]), { model: 'b', layer_range: [0, 1] }] }], merge_method: 'passthrough' }, 'slices[0].sources', /passthrough takes exactly 1 source per slice/);
    expect({ slices: [{ sources: [src([0, 1]), { model: 'b', layer_range: [0, 2] }] }], merge_method: 'linear' }, 'slices[0].sources', /same number of layers.*1, 2/);
    expect({ slices: [{ sources: [src([0, 1]), { model: 'b', layer_range: [0, 1] }] }], merge_method: 'ties', base_model: 'c' }, 'slices[0].sources', /needs the base_model/);
    expect({ slices: [{ sources: [{ ...src([0, 1]), weight: 1 }] }], merge_method: 'passthrough' }, 'slices[0].sources[0]', /unsupported keys: weight/);
    expect({ slices: [{ sources: [src([0, 1]), { model: 'b', layer_range: [0, 1] }] }], merge_method: 'linear' }, 'slices[0].sources[0].parameters.weight', /needs 'weight'/);

    // Out of bounds: known once the model is open; the error names the model and its layer count.
    const dir = tempDir();
    const cfgFile = path.join(dir, 'merge.yml');
    fs.writeFileSync(cfgFile, stringify({ slices: [{ sources: [{ model: BF16('base'), layer_range: [0, 2] }] }, { sources: [{ model: BF16('science'), layer_range: [2, 6] }] }], merge_method: 'passthrough' }));
    await assert.rejects(runMerge(loadMergeConfig(cfgFile), path.join(dir, 'out')), (e: unknown) =>
      e instanceof ConfigError && e.keyPath === 'slices[1].sources[0].layer_range' && e.message.includes(BF16('science')) && /has 4 layers/.test(e.message));
    assert.equal(fs.existsSync(path.join(dir, 'out')), false);

    // A model whose layers are named in no known scheme.
    const odd = path.join(dir, 'odd.safetensors');
    const w = SafetensorsWriter.create(odd, { tensors: [{ name: 'encoder.block.0.w', dtype: 'F32', shape: [2] }] });
    (w.view('encoder.block.0.w') as Float32Array).set([1, 2]);
    w.commit();
    fs.writeFileSync(cfgFile, stringify({ slices: [{ sources: [{ model: odd, layer_range: [0, 1] }] }], merge_method: 'passthrough' }));
    await assert.rejects(runMerge(loadMergeConfig(cfgFile), path.join(dir, 'out2')), (e: unknown) =>
      e instanceof ConfigError && e.keyPath === 'slices[0].sources[0].model' && e.message.includes(odd) && /model\.layers\.N\.\*, transformer\.h\.N\.\*, h\.N\.\*/.test(e.message));
  });
});
