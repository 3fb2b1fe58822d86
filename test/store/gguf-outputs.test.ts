import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { WeightFileError } from '../../lib/errors.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import type { Evaluator } from '../../lib/evolve/evaluator.js';
import { exportGguf } from '../../lib/export/gguf-export.js';
import { loadMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { GgufFile } from '../../lib/store/gguf.js';
import { writeGguf } from '../../lib/store/gguf-writer.js';
import { writeLike } from '../../lib/store/write-gguf-like.js';
import { testConfig } from '../evolve/helpers.js';
import { DOMAINS, FORTUNES, tempDir } from '../helpers.js';

const CONFIG = path.join(FORTUNES, 'config.json');
const EXTRA = 'extra.q8';  // a Q8_0 tensor: quantized, so carried byte for byte, never evolved

/**
 * The f32 fortunes model of `domain` exported to GGUF, plus a Q8_0 tensor whose bytes depend
 * on the domain (so a wrongly sourced carried tensor shows).
 */
async function ggufInput(dir: string, domain: string, seed: number): Promise<string> {
  const plain = path.join(dir, `${domain}.plain.gguf`);
  await exportGguf(path.join(FORTUNES, 'models', `${domain}.safetensors`), plain, { config: CONFIG });
  const g = GgufFile.open(plain);
  const q = new Uint8Array(2 * 34).map((_, i) => (i * 37 + seed * 11) & 0xff);
  const file = path.join(dir, `${domain}.gguf`);
  try {
    const tensors = [...g.tensors().map((t) => ({ name: t.name, type: t.ggmlType, shape: t.shape })), { name: EXTRA, type: 'Q8_0', shape: [2, 32] }];
    writeGguf(file, { kv: g.kv, tensors }, (n) => (n === EXTRA ? q : g.chunks(n)));
  } finally {
    g.close();
  }
  return file;
}

const concat = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));

describe('GGUF inputs give GGUF outputs with the inputs\' metadata', function () {
  this.timeout(300_000);
  const dir = tempDir('evolver-gguf-out-');
  let inputs: string[] = [];

  before(async () => {
    inputs = await Promise.all(DOMAINS.map((d, i) => ggufInput(dir, d, i)));
  });

  it('evolve: best/model.gguf has the first input\'s KV and tensor order, the best member\'s bytes and the Q8_0 tensor carried', async () => {
    const config = testConfig({ models: inputs, generations: 1, exclude: [`^${EXTRA.replace('.', '\\.')}$`] });
    // A deterministic weight-only fitness on a GGUF-named tensor (the bundled module knows HF names).
    const evaluator: Evaluator = async (w) => {
      const v = w.view('output_norm.weight') as Float32Array;
      let s = 0;
      for (const x of v) s += (x - 1) * (x - 1);
      return { score: -s, metrics: {} };
    };
    const report = await new EvolutionRun({ config, evaluator }).run();
    const bestDir = path.join(config.output, 'best');
    assert.ok(!fs.readdirSync(bestDir).some((f) => f.endsWith('.safetensors')), 'no safetensors in best/');
    const out = GgufFile.open(path.join(bestDir, 'model.gguf'));
    const first = GgufFile.open(inputs[0]!);
    const member = openWeights(report.final[report.bestMember]!.file);
    try {
      assert.deepEqual(out.kv, first.kv);
      assert.deepEqual(out.headerNames(), first.headerNames());
      for (const t of first.tensors()) {
        const o = out.info(t.name);
        assert.equal(o.ggmlType, t.ggmlType, t.name);
        assert.deepEqual(o.shape, t.shape, t.name);
        assert.ok(concat(out.chunks(t.name)).equals(concat(member.chunks(t.name))), `${t.name}: the best member's bytes`);
      }
      assert.ok(concat(out.chunks(EXTRA)).equals(concat(first.chunks(EXTRA))), 'the Q8_0 tensor is the first input\'s, byte for byte');
      // The folder opens as a checkpoint (final tables and later runs read best/ this way).
      const reopened = openWeights(bestDir);
      assert.equal(reopened.format, 'gguf');
      reopened.close();
    } finally {
      out.close();
      first.close();
      member.close();
    }
  });

  it('merge: a linear merge of two GGUF models is OUT/model.gguf, element-wise 0.25 a + 0.75 b, KV and order kept', async () => {
    const out = path.join(dir, 'merged');
    const cfgFile = path.join(dir, 'merge.yml');
    fs.writeFileSync(cfgFile, stringify({ merge_method: 'linear', models: [{ model: inputs[0], parameters: { weight: 0.25 } }, { model: inputs[1], parameters: { weight: 0.75 } }] }));
    const r = await runMerge(loadMergeConfig(cfgFile), out);
    assert.deepEqual(r.shards, ['model.gguf']);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.safetensors') || f.endsWith('.json') && f.includes('index')), []);
    const m = GgufFile.open(path.join(out, 'model.gguf'));
    const a = GgufFile.open(inputs[0]!);
    const b = GgufFile.open(inputs[1]!);
    try {
      assert.deepEqual(m.kv, a.kv);
      assert.deepEqual(m.headerNames(), a.headerNames());
      let compared = 0;
      for (const t of a.tensors()) {
        if (t.ggmlType !== 'F32') continue;
        const va = a.view(t.name) as Float32Array, vb = b.view(t.name) as Float32Array, vm = m.view(t.name) as Float32Array;
        assert.equal(m.info(t.name).ggmlType, 'F32');
        for (let i = 0; i < va.length; i++) {
          const want = Math.fround(0.25 * va[i]! + 0.75 * vb[i]!);
          assert.ok(Math.abs(vm[i]! - want) <= 1e-6 * Math.max(1, Math.abs(want)), `${t.name}[${i}]: ${vm[i]} != ${want}`);
        }
        compared++;
      }
      assert.ok(compared > 5, `${compared} f32 tensors compared`);
      assert.equal(m.info(EXTRA).ggmlType, 'Q8_0');
      assert.ok(concat(m.chunks(EXTRA)).equals(concat(a.chunks(EXTRA))), 'the Q8_0 tensor is the reference model\'s, byte for byte');
    } finally {
      m.close();
      a.close();
      b.close();
    }
  });

  it('writeLike refuses weights whose tensors differ from the template\'s, naming the tensor', () => {
    const t = GgufFile.open(inputs[0]!);
    const other = openWeights(path.join(FORTUNES, 'models', 'base.safetensors'));
    try {
      assert.throws(() => writeLike(t, other, path.join(dir, 'bad.gguf')), (e: unknown) => e instanceof WeightFileError && e.code === 'SHARD_MISMATCH' && e.tensor !== undefined);
      assert.ok(!fs.existsSync(path.join(dir, 'bad.gguf')));
    } finally {
      t.close();
      other.close();
    }
  });
});
