/**
 * bench/scale.ts and its helpers: the synthetic Llama population (shapes, names, sharded
 * checkpoints the store opens, deterministic and member-specific values), the bytes per trial
 * of each strategy, the generic summary of the journal's seconds fields, and one tiny end-to-end
 * run that writes its JSON where it is told and leaves no synthetic models behind.
 * Timings are never asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { elementsOf, llamaParams, llamaShape, llamaTensors, populationMatches, shardGroups, writePopulation } from '../lib/bench/scale-model.js';
import { MemorySampler, numericSeconds, summarizeTrials, trialTraffic } from '../lib/bench/scale-measure.js';
import { INDEX_NAME, openWeights } from '../lib/store/checkpoint.js';
import { ROOT, tempDir } from './helpers.js';

describe('bench scale', function () {
  this.timeout(120_000);

  it('picks a Llama shape close to the parameter count, with Hugging Face names and shapes', () => {
    for (const p of [2e7, 1e8, 0.75e9, 7e9]) {
      const s = llamaShape(p);
      assert.ok(Math.abs(s.params / p - 1) < 0.05, `${p}: ${s.params}`);
      const tensors = llamaTensors(s);
      assert.equal(tensors.reduce((n, t) => n + elementsOf(t), 0), s.params);
      assert.equal(llamaParams(s), s.params);
      assert.equal(tensors.length, 2 + 9 * s.layers + 1);
      assert.equal(s.hidden % s.heads, 0);
      assert.equal(s.heads % s.kvHeads, 0);
    }
    const s = llamaShape(0.75e9);
    assert.deepEqual({ hidden: s.hidden, intermediate: s.intermediate, vocab: s.vocab }, { hidden: 2048, intermediate: 5632, vocab: 32000 });
    const byName = new Map(llamaTensors(s).map((t) => [t.name, t.shape]));
    assert.deepEqual(byName.get('model.embed_tokens.weight'), [32000, 2048]);
    assert.deepEqual(byName.get('lm_head.weight'), [32000, 2048]);
    assert.deepEqual(byName.get('model.layers.0.self_attn.k_proj.weight'), [s.kvHeads * s.headDim, 2048]);
    assert.deepEqual(byName.get('model.layers.0.mlp.down_proj.weight'), [2048, 5632]);
    assert.deepEqual(byName.get(`model.layers.${s.layers - 1}.post_attention_layernorm.weight`), [2048]);
    assert.deepEqual(byName.get('model.norm.weight'), [2048]);
    // Shards keep module order and respect the budget (a larger tensor alone).
    const groups = shardGroups(llamaTensors(s), 512 * 2 ** 20);
    assert.equal(groups.flat().map((t) => t.name).join(), llamaTensors(s).map((t) => t.name).join());
    for (const g of groups) assert.ok(g.length === 1 || g.reduce((n, t) => n + elementsOf(t) * 2, 0) <= 512 * 2 ** 20);
  });

  it('writes sharded bf16 checkpoints the store opens: deterministic, different per member, norms near 1', () => {
    const dir = tempDir('evolver-scale-');
    try {
      const spec = { shape: llamaShape(2e6), members: 2, seed: 3 };
      const pop = writePopulation(path.join(dir, 'a'), spec);
      assert.ok(pop.shards >= 2);
      assert.ok(populationMatches(path.join(dir, 'a'), spec));
      assert.ok(!populationMatches(path.join(dir, 'a'), { ...spec, seed: 4 }));
      const again = writePopulation(path.join(dir, 'b'), { ...spec, members: 1 });
      const [m0, m1, b0] = [pop.folders[0]!, pop.folders[1]!, again.folders[0]!].map(openWeights);
      try {
        assert.equal(m0!.format, 'sharded');
        assert.ok(fs.existsSync(path.join(pop.folders[0]!, INDEX_NAME)));
        assert.equal(JSON.parse(fs.readFileSync(path.join(pop.folders[0]!, 'config.json'), 'utf8')).model_type, 'llama');
        assert.deepEqual([...m0!.names()].sort(), llamaTensors(spec.shape).map((t) => t.name).sort());
        const name = 'model.layers.0.mlp.up_proj.weight';
        assert.equal(m0!.meta(name).dtype, 'BF16');
        assert.deepEqual(Buffer.from(m0!.chunks(name)[0]!), Buffer.from(b0!.chunks(name)[0]!), 'same seed and member: same bytes');
        const x = m0!.view(name) as Uint16Array, y = m1!.view(name) as Uint16Array;
        let differ = 0;
        for (let i = 0; i < x.length; i++) {
          if (x[i] !== y[i]) differ++;
          assert.equal(x[i]! & 0xfff0, y[i]! & 0xfff0, 'members differ only in the low mantissa bits');
        }
        assert.ok(differ > x.length * 0.8);
        const bf16 = (u: number) => new Float32Array(new Uint32Array([u << 16]).buffer)[0]!;
        for (const u of m0!.view('model.norm.weight') as Uint16Array) assert.ok(bf16(u) >= 1 && bf16(u) < 2);
        for (const u of x.subarray(0, 1000)) assert.ok(Math.abs(bf16(u)) >= 2 ** -8 && Math.abs(bf16(u)) < 2 ** -4);
      } finally {
        for (const w of [m0, m1, b0]) w!.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts the bytes a trial must move per strategy, and summarizes whatever seconds fields the journal has', () => {
    assert.equal(trialTraffic('interp', 100).bytes, 300);
    assert.equal(trialTraffic('current/1', 100).bytes, 400);
    for (const s of ['rand/1', 'best/1', 'current-to-best/1'] as const) assert.equal(trialTraffic(s, 100).bytes, 500);
    assert.equal(trialTraffic('interp', 100, 10).bytes, 320);
    assert.deepEqual(numericSeconds({ offspring: 1, hash: 0.5, note: 'x', evaluation: 2, bad: NaN }), { offspring: 1, hash: 0.5, evaluation: 2 });
    const s = summarizeTrials([
      { k: 0, accepted: true, cached: false, wall: 5, seconds: { offspring: 1, evaluation: 1 } },
      { k: 1, accepted: false, cached: false, wall: 7, seconds: { offspring: 2, hash: 1, persist: 1, evaluation: 3 } },
    ]);
    assert.deepEqual(s.fields, ['offspring', 'hash', 'persist']);
    assert.equal(s.engine.mean, 4);
    assert.equal(s.evaluation.mean, 2);
    assert.equal(s.phases.hash!.mean, 0.5);
    assert.deepEqual([s.other.min, s.other.max], [0, 3]);
    assert.equal(s.accepted, 1);
  });

  it('samples memory on its own thread, per phase (smaps_rollup less often than status)', async () => {
    const sampler = new MemorySampler(['a', 'b'], 10, 30);
    await sampler.ready();
    sampler.phase('b');
    const block = Date.now() + 100;
    while (Date.now() < block);  // a blocked event loop does not stop the sampling
    await sampler.stop();
    assert.ok(sampler.samples >= 3, `${sampler.samples} samples`);
    assert.ok(sampler.peak('b').RssAnon! > 0 && sampler.peak().VmHWM! > 0);
    assert.ok(sampler.peak().AnonPlusShmem! >= sampler.peak('b').AnonPlusShmem!);
    assert.ok(sampler.peak('b').PssAnonPlusShmem! > 0, 'the rollup was read during phase b');
  });

  it('bench/scale.ts runs end to end on a tiny population, writes its JSON where told and removes its folder', () => {
    const dir = tempDir('evolver-scale-run-');
    try {
      const out = path.join(dir, 'scale.json');
      const work = path.join(dir, 'work');
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'scale.ts'), '--params', '2e6', '--members', '3', '--generations', '1', '--dir', work, '--out', out], { encoding: 'utf8', cwd: ROOT });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /engine \/ limit = [\d.]+x/);
      assert.match(r.stdout.trimEnd().split('\n').pop()!, /^wrote .*scale\.json$/);
      const json = JSON.parse(fs.readFileSync(out, 'utf8'));
      assert.equal(json.summary.trials, 3);
      assert.ok(json.summary.fields.includes('offspring'));
      assert.equal(json.limit.bytesPerTrial, 3 * json.model.bytes);
      assert.ok(json.bandwidth.copyGbps > 0);
      // The limit takes the faster copy of the two measured around the run.
      assert.equal(json.bandwidth.copyGbps, Math.max(json.bandwidth.before.copyGbps, json.bandwidth.after.copyGbps));
      assert.ok(json.bandwidth.freshMemory.firstGbps > 0 && json.bandwidth.freshMemory.againGbps > 0);
      // Every trial is counted once: into a new member file, or not.
      assert.equal((json.intoNewFiles?.trials ?? 0) + (json.otherTrials?.trials ?? 0), 3);
      assert.equal(json.intoNewFiles?.trials ?? 0, json.persisted.files - json.persisted.overSpare);
      assert.ok(json.memoryKB.peak.AnonPlusShmem > 0, 'memory was sampled');  // a tiny run's trials may end between two samples
      assert.ok(!fs.existsSync(work) || fs.readdirSync(work).length === 0, 'the population and the run folder are removed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
