import assert from 'node:assert/strict';
import fs from 'node:fs';

import { SafetensorsFile } from '../lib/store/safetensors.js';
import { tensorToArrow } from '../lib/store/arrow.js';
import { openWeights } from '../lib/store/checkpoint.js';
import { BF16_BASE, DOMAINS, F32_BASE, FORTUNES, bf16RoundNearestEven } from './helpers.js';

const reference = JSON.parse(fs.readFileSync(`${FORTUNES}/reference.json`, 'utf8')) as {
  architecture: { parameter_names: string[]; parameter_shapes?: Record<string, number[]> };
};

describe('safetensors reader on the fixture models', () => {
  it('reads every tensor of the f32 base with the names and shapes of reference.json', () => {
    using file = SafetensorsFile.open(F32_BASE);
    assert.deepEqual(new Set(file.names()), new Set(reference.architecture.parameter_names));
    const shapes = reference.architecture.parameter_shapes;
    assert.ok(shapes);
    for (const name of file.names()) assert.deepEqual(file.info(name).shape, shapes[name], name);
    const wte = file.view('transformer.wte.weight');
    assert.ok(wte instanceof Float32Array);
    assert.equal(wte.length, 257 * 128);
    assert.equal(file.metadata.format ?? 'pt', 'pt');
  });

  it('gives typed-array views that are the mapped bytes (zero copy)', () => {
    using file = SafetensorsFile.open(F32_BASE);
    const info = file.info('transformer.h.0.ln_1.weight');
    const raw = fs.readFileSync(F32_BASE);
    const view = file.view(info.name) as Float32Array;
    const expected = new Float32Array(raw.buffer.slice(raw.byteOffset + info.fileOffset, raw.byteOffset + info.fileOffset + info.byteLength));
    assert.deepEqual(view, expected);
    // The same ArrayBuffer comes back each time: no copy per access.
    assert.ok(file.view(info.name).buffer === view.buffer);
    assert.ok(file.bytes(info.name).buffer === view.buffer);
  });

  it('exposes a tensor as an Arrow vector sharing the mapped ArrayBuffer, with dtype and shape metadata', () => {
    using f32 = openWeights(F32_BASE);
    const { field, vector } = tensorToArrow(f32, 'transformer.h.1.mlp.c_fc.weight');
    const typed = f32.view('transformer.h.1.mlp.c_fc.weight');
    assert.ok(vector.data[0]!.values.buffer === typed.buffer, 'Arrow values are the typed array buffer');
    assert.equal(vector.length, 128 * 512);
    assert.equal(vector.get(5), typed[5]);
    assert.equal(field.metadata.get('dtype'), 'f32');
    assert.equal(field.metadata.get('shape'), '[128,512]');

    using bf16 = openWeights(BF16_BASE);
    const b = tensorToArrow(bf16, 'transformer.wpe.weight');
    assert.equal(b.field.metadata.get('dtype'), 'bf16');
    assert.equal(b.field.type.toString(), 'Uint16');
    assert.ok(b.vector.data[0]!.values.buffer === bf16.view('transformer.wpe.weight').buffer);
  });

  it('bf16 fixtures are the round-to-nearest-even of the f32 ones, for every value', () => {
    for (const model of ['base', ...DOMAINS]) {
      using f32 = openWeights(`${FORTUNES}/models/${model}.safetensors`);
      using bf16 = openWeights(`${FORTUNES}/models-bf16/${model}.safetensors`);
      assert.deepEqual(bf16.names(), f32.names());
      let checked = 0;
      for (const name of f32.names()) {
        const a = f32.view(name) as Float32Array;
        const b = bf16.view(name) as Uint16Array;
        assert.equal(bf16.meta(name).dtype, 'BF16');
        assert.equal(a.length, b.length);
        for (let i = 0; i < a.length; i++) {
          if (b[i] !== bf16RoundNearestEven(a[i]!)) assert.fail(`${model} ${name}[${i}]: bf16 ${b[i]} != RNE(${a[i]})`);
        }
        checked += a.length;
      }
      assert.equal(checked, 842_624);
    }
  });

  it('scan() counts NaN/Inf and gives min, max, mean and L2 per tensor', async () => {
    const { scan } = await import('../lib/store/scan.js');
    using set = openWeights(F32_BASE);
    const stats = await scan(set);
    assert.equal(stats.length, 52);
    const ln = stats.find((s) => s.name === 'transformer.ln_f.weight')!;
    const values = set.view('transformer.ln_f.weight') as Float32Array;
    assert.equal(ln.count, values.length);
    assert.equal(ln.nan + ln.posInf + ln.negInf, 0);
    assert.equal(ln.min, Math.min(...values));
    assert.equal(ln.max, Math.max(...values));
    const sum = values.reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(ln.mean! - sum / values.length) < 1e-9);
    assert.ok(Math.abs(ln.l2 - Math.sqrt(values.reduce((a, v) => a + v * v, 0))) < 1e-9);
  });
});
