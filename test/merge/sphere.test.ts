import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { ConfigError } from '../../lib/evolve/config.js';
import { loadMergeConfig, validateMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { bf16ToFloat } from '../kernels/reference.js';
import { FORTUNES, tempDir } from '../helpers.js';

// Plain double-precision transcriptions of mergekit's nuslerp, multislerp and karcher (vector by
// vector, as mergekit's torch code), against which the Gram-matrix implementation is checked.
const BF16 = (m: string) => path.join(FORTUNES, 'models-bf16', `${m}.safetensors`);
const DOMAINS = ['computers', 'politics', 'science', 'songs-poems'];
const CHECKED = ['transformer.h.1.attn.c_attn.weight', 'transformer.ln_f.bias', 'transformer.wpe.weight'];

type Vec = number[];
const dot = (a: Vec, b: Vec) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Vec) => Math.sqrt(dot(a, a));
const scale = (a: Vec, c: number) => a.map((x) => x * c);
const add = (a: Vec, b: Vec) => a.map((x, i) => x + b[i]!);
const sub = (a: Vec, b: Vec) => a.map((x, i) => x - b[i]!);

function nuslerpRef(t: number, v0: Vec, v1: Vec): Vec {
  const u0 = scale(v0, 1 / Math.max(norm(v0), 1e-7)), u1 = scale(v1, 1 / Math.max(norm(v1), 1e-7));
  const theta = Math.acos(Math.min(1, Math.max(-1, dot(u0, u1))));
  const s = Math.sin(theta);
  if (Math.abs(s) < 1e-8) return add(scale(v0, 1 - t), scale(v1, t));
  return scale(add(scale(v0, Math.sin((1 - t) * theta)), scale(v1, Math.sin(t * theta))), 1 / s);
}

function multislerpRef(vs: Vec[], weight: number[], eps = 1e-8): Vec {
  const sum = weight.reduce((a, b) => a + b, 0);
  const w = weight.map((x) => x / sum);
  const norms = vs.map(norm);
  const units = vs.map((v, i) => scale(v, 1 / (norms[i]! + eps)));
  let mean = units.reduce((acc, u, i) => add(acc, scale(u, w[i]!)), units[0]!.map(() => 0));
  mean = scale(mean, 1 / norm(mean));
  const tangents = units.map((u) => sub(u, scale(mean, dot(u, mean))));
  const tr = tangents.reduce((acc, tv, i) => add(acc, scale(tv, w[i]!)), units[0]!.map(() => 0));
  const tn = norm(tr) + eps;
  const result = add(scale(mean, Math.cos(tn)), scale(tr, Math.sin(tn) / tn));
  return scale(result, w.reduce((a, x, i) => a + x * norms[i]!, 0));
}

function karcherRef(xs: Vec[], maxIter = 10, tol = 1e-5): Vec {
  const alphas = xs.map(() => 1 / xs.length);
  const norms = xs.map(norm);
  const units = xs.map((x, i) => scale(x, 1 / norms[i]!));
  let u = units.reduce((acc, v, i) => add(acc, scale(v, alphas[i]!)), units[0]!.map(() => 0));
  u = scale(u, 1 / norm(u));
  for (let it = 0; it < maxIter; it++) {
    let T = u.map(() => 0);
    units.forEach((ui, i) => {
      const d = Math.min(1, Math.max(-1, dot(u, ui)));
      const theta = Math.acos(d);
      if (theta >= tol) T = add(T, scale(sub(ui, scale(u, d)), alphas[i]! * (theta / Math.sin(theta))));
    });
    const nT = norm(T);
    if (nT < tol) break;
    u = add(scale(u, Math.cos(nT)), scale(T, Math.sin(nT) / nT));
    u = scale(u, 1 / norm(u));
  }
  return scale(u, alphas.reduce((s, a, i) => s + a * norms[i]!, 0));
}

const floats = (file: string, name: string) => {
  using w = openWeights(file);
  return Array.from(w.view(name) as Uint16Array, bf16ToFloat);
};

async function mergedF32(raw: Record<string, unknown>): Promise<(name: string) => Float32Array> {
  const dir = tempDir();
  const file = path.join(dir, 'merge.yml');
  fs.writeFileSync(file, stringify({ ...raw, out_dtype: 'float32' }));
  const out = path.join(dir, 'out');
  await runMerge(loadMergeConfig(file), out);
  return (name) => {
    using w = openWeights(out);
    return (w.view(name) as Float32Array).slice();
  };
}

function close(got: Float32Array, want: Vec, label: string) {
  const size = Math.max(...want.map(Math.abs));
  want.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= 1e-5 * size, `${label}[${i}]: ${got[i]} vs ${v}`));
}

describe('spherical merges (nuslerp, multislerp, karcher) against plain double-precision transcriptions of mergekit', function () {
  this.timeout(120_000);

  it('nuslerp of two models, with and without a base (task vectors), t = w1 / (w0 + w1)', async () => {
    const pair = ['computers', 'science'];
    const plain = await mergedF32({ models: pair.map((m, i) => ({ model: BF16(m), parameters: { weight: [1, 3][i]! } })), merge_method: 'nuslerp' });
    const based = await mergedF32({ models: pair.map((m, i) => ({ model: BF16(m), parameters: { weight: [2, 1][i]! } })), base_model: BF16('base'), merge_method: 'nuslerp' });
    for (const name of CHECKED) {
      const [a, b] = pair.map((m) => floats(BF16(m), name)) as [Vec, Vec];
      const base = floats(BF16('base'), name);
      close(plain(name), nuslerpRef(0.75, a, b), `plain ${name}`);
      close(based(name), add(base, nuslerpRef(1 / 3, sub(a, base), sub(b, base))), `based ${name}`);
    }
  });

  it('multislerp of four task vectors with weights', async () => {
    const weights = [0.5, 0.3, 0.15, 0.05];
    const get = await mergedF32({ models: DOMAINS.map((m, i) => ({ model: BF16(m), parameters: { weight: weights[i]! } })), base_model: BF16('base'), merge_method: 'multislerp' });
    for (const name of CHECKED) {
      const base = floats(BF16('base'), name);
      close(get(name), add(base, multislerpRef(DOMAINS.map((m) => sub(floats(BF16(m), name), base)), weights)), name);
    }
  });

  it('karcher mean of four models (equal weights, as mergekit), and with the base as a fifth point', async () => {
    const get = await mergedF32({ models: DOMAINS.map((m) => ({ model: BF16(m) })), merge_method: 'karcher', parameters: { max_iter: 20 } });
    const withBase = await mergedF32({ models: DOMAINS.map((m) => ({ model: BF16(m) })), base_model: BF16('base'), merge_method: 'karcher' });
    for (const name of CHECKED) {
      close(get(name), karcherRef(DOMAINS.map((m) => floats(BF16(m), name)), 20), name);
      close(withBase(name), karcherRef([...DOMAINS, 'base'].map((m) => floats(BF16(m), name))), `with base ${name}`);
    }
  });

  it('bad configs name the key', () => {
    const expect = (raw: unknown, keyPath: string, pattern: RegExp) =>
      assert.throws(() => validateMergeConfig(raw, 'cfg.yml'), (e: unknown) => e instanceof ConfigError && e.keyPath === keyPath && pattern.test(e.message));
    expect({ models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'b', parameters: { weight: 1 } }, { model: 'c', parameters: { weight: 1 } }], merge_method: 'nuslerp' }, 'models', /exactly 2 models/);
    expect({ models: [{ model: 'a' }, { model: 'b' }], merge_method: 'multislerp' }, 'models[0].parameters.weight', /needs 'weight'/);
    expect({ models: [{ model: 'a' }, { model: 'b' }], merge_method: 'karcher', parameters: { max_iter: 'x' } }, 'parameters.max_iter', /expected a number/);
  });

  it('nuslerp_flatten: false is refused with the tensor named', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'merge.yml');
    fs.writeFileSync(file, stringify({ models: ['computers', 'science'].map((m) => ({ model: BF16(m), parameters: { weight: 1 } })), merge_method: 'nuslerp', parameters: { nuslerp_flatten: false } }));
    await assert.rejects(runMerge(loadMergeConfig(file), path.join(dir, 'out')), /merging tensor '.+' with nuslerp failed: nuslerp_flatten: false/);
  });
});
