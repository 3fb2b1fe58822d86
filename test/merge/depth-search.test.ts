// Task arithmetic by depth: the depth groups, the merge with one weight per model and group, and
// the coordinate search that finds the weights on a score.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { depthGroups } from '../../lib/merge/depth-groups.js';
import { searchDepthWeights } from '../../lib/merge/depth-search.js';
import { tensorPlan } from '../../lib/evolve/population.js';
import { TrialSlot } from '../../lib/evolve/trial-slot.js';
import { mergeComputes, mergeInto, mergeToFile } from '../../lib/merge/simple.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { FORTUNES } from '../helpers.js';

const MODELS = ['computers', 'politics', 'science', 'songs-poems'].map((d) => path.join(FORTUNES, 'models', `${d}.safetensors`));
const BASE = path.join(FORTUNES, 'models', 'base.safetensors');

describe('task arithmetic by depth', function () {
  this.timeout(60_000);

  it('depth groups: blocks in contiguous runs, one group outside the blocks', () => {
    const names = ['transformer.wte.weight', 'transformer.wpe.weight', ...[0, 1, 2, 3].map((l) => `transformer.h.${l}.mlp.c_fc.weight`), 'transformer.ln_f.weight'];
    const four = depthGroups(names, 4);
    assert.equal(four.count, 5);
    assert.deepEqual(names.map(four.of), [4, 4, 0, 1, 2, 3, 4]);
    assert.deepEqual(four.labels, ['block 0', 'block 1', 'block 2', 'block 3', 'outside blocks']);
    const two = depthGroups(names, 2);
    assert.deepEqual(names.map(two.of), [2, 2, 0, 0, 1, 1, 2]);
    assert.deepEqual(two.labels, ['blocks 0-1', 'blocks 2-3', 'outside blocks']);
    // More groups than blocks: a group per block. 7 blocks in 3 groups: sizes 3, 2, 2 (⌊l·3/7⌋).
    assert.equal(depthGroups(names, 9).count, 5);
    const seven = depthGroups(Array.from({ length: 7 }, (_, l) => `model.layers.${l}.w`), 3);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((l) => seven.of(`model.layers.${l}.w`)), [0, 0, 0, 1, 1, 2, 2]);
    assert.deepEqual(seven.labels, ['blocks 0-2', 'blocks 3-4', 'blocks 5-6', 'outside blocks']);
    assert.equal(depthGroups(['a', 'b'], 4).count, 1, 'no blocks: one group');
    assert.throws(() => depthGroups(names, 0), RangeError);
  });

  it('merges with each tensor weighted by its model and group; all ones is plain task arithmetic, bit for bit', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-depth-'));
    try {
      const models = MODELS.map((m) => openWeights(m));
      const base = openWeights(BASE);
      const plain = path.join(dir, 'plain.safetensors'), ones = path.join(dir, 'ones.safetensors'), mixed = path.join(dir, 'mixed.safetensors');
      const lambda = 0.3;
      await mergeToFile(models, base, { kind: 'task_arithmetic', lambda }, plain);
      await mergeToFile(models, base, { kind: 'task_arithmetic', lambda, depth: { groups: 2, weights: models.map(() => [1, 1, 1]) } }, ones);
      const weights = [[0.5, 1.5, 2], [1, 0, -1], [0.25, 0.75, 1], [2, 1, 0.5]];
      await mergeToFile(models, base, { kind: 'task_arithmetic', lambda, depth: { groups: 2, weights } }, mixed);
      const read = (f: string) => fs.readFileSync(f);
      using p = openWeights(plain), o = openWeights(ones), m = openWeights(mixed);
      for (const name of p.names()) assert.ok(Buffer.from(p.bytes(name)).equals(Buffer.from(o.bytes(name))), name);
      assert.ok(!read(plain).equals(read(mixed)));
      // Each tensor against base + λ Σ w[i][group] (θᵢ − base), computed here in double.
      const group = depthGroups(p.names(), 2);
      for (const name of ['transformer.h.0.attn.c_attn.weight', 'transformer.h.3.mlp.c_proj.weight', 'transformer.wte.weight', 'transformer.ln_f.bias']) {
        const g = group.of(name);
        const f32 = (w: { view(n: string): unknown }) => w.view(name) as Float32Array;
        const b = f32(base), xs = models.map(f32), got = f32(m);
        let worst = 0;
        for (let e = 0; e < b.length; e++) {
          let want = b[e]!;
          xs.forEach((x, i) => (want += lambda * weights[i]![g]! * (x[e]! - b[e]!)));
          worst = Math.max(worst, Math.abs(got[e]! - want));
        }
        assert.ok(worst < 1e-5, `${name} (group ${g}): off by ${worst}`);
      }
      // The same merge into a trial slot (memory, as the depth search scores its candidates): the same bytes.
      const merge = { kind: 'task_arithmetic' as const, lambda, depth: { groups: 2, weights } };
      const { computed } = mergeComputes(models, base, merge);
      const slot = TrialSlot.create(tensorPlan(models[0]!, models[0]!.names().filter(computed)), models[0]!, 'depth-test');
      try {
        await mergeInto(models, base, { kind: 'task_arithmetic', lambda: 0.1 }, slot);  // something else first: every byte is rewritten
        await mergeInto(models, base, merge, slot);
        for (const name of m.names()) assert.ok(Buffer.from(m.bytes(name)).equals(Buffer.from(slot.weights.bytes(name))), `slot: ${name}`);
      } finally {
        slot.close();
      }
      await assert.rejects(mergeToFile(models, base, { kind: 'task_arithmetic', lambda, depth: { groups: 2, weights: [[1, 1]] } }, path.join(dir, 'bad.safetensors')), /4 rows of 3 weights/);
      assert.ok(!fs.existsSync(path.join(dir, 'bad.safetensors')), 'nothing is left behind');
      for (const w of [...models, base]) w.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the search climbs a concave score to its maximum, never ends worse than it started, and is deterministic', async () => {
    // A separable concave score with its maximum at known weights: each coordinate's parabola step lands on it.
    const target = [[1.3, 0.6, 1], [0.8, 1.9, 1.2]];
    const score = async (w: number[][]) => -w.reduce((a, row, i) => a + row.reduce((b, x, g) => b + (x - target[i]![g]!) ** 2, 0), 0);
    const start = await score([[1, 1, 1], [1, 1, 1]]);
    const found = await searchDepthWeights({ models: 2, groups: 3, sweeps: 1, step: 0.5 }, start, score);
    found.weights.flat().forEach((x, d) => assert.ok(Math.abs(x - target.flat()[d]!) < 1e-9, `weight ${d}: ${x}`));
    assert.ok(Math.abs(found.score) < 1e-12);
    // 2 points per coordinate, plus the vertex where it is not one of them (at 1, the start, it is not scored again).
    assert.equal(found.evaluations, 6 * 2 + 5);
    assert.deepEqual(await searchDepthWeights({ models: 2, groups: 3, sweeps: 1, step: 0.5 }, start, score), found);
    // A flat score: nothing moves (ties keep the current weight). Progress after each sweep.
    const sweeps: [number, number, number][] = [];
    const flat = await searchDepthWeights({ models: 2, groups: 2, sweeps: 2, step: 0.5, onSweep: (...a) => sweeps.push(a) }, 0, async () => 0);
    assert.deepEqual(flat.weights, [[1, 1], [1, 1]]);
    assert.deepEqual(sweeps, [[1, 0, 8], [2, 0, 16]]);
    // A score worse everywhere else: the start stays.
    const peaked = await searchDepthWeights({ models: 1, groups: 2, sweeps: 3, step: 1 }, 5, async () => 1);
    assert.deepEqual(peaked, { weights: [[1, 1]], score: 5, evaluations: 12 });
    await assert.rejects(searchDepthWeights({ models: 1, groups: 1, sweeps: 1, step: 0 }, 0, score), RangeError);
  });

  it('the parabola step is clipped to two steps, a worse vertex is not taken, and later sweeps refine with half the step', async () => {
    // Maximum at 4, far beyond 1 ± 2·0.5: sweep 1 moves to the clipped vertex 2, sweep 2 (step 0.25)
    // to 2.5, sweep 3 (0.125) to 2.75. The score is not a parabola (|x − 4|^1.5).
    const far = async (w: number[][]) => -(Math.abs(w[0]![0]! - 4) ** 1.5);
    const seen: number[] = [];
    const r = await searchDepthWeights({ models: 1, groups: 1, sweeps: 3, step: 0.5, onSweep: (_, best) => seen.push(best) }, await far([[1]]), far);
    assert.deepEqual(r.weights, [[2.75]]);
    assert.equal(r.evaluations, 9);
    assert.ok(seen[0]! < seen[1]! && seen[1]! < seen[2]!, `each sweep improves: ${seen.join(', ')}`);
    // A score the parabola misfits: through f(0.5) = 0, f(1) = 1, f(1.5) = 1.2 its vertex is at
    // 1.375, which scores 0.9 here: +step (1.5) is kept.
    const points = new Map([[0.5, 0], [1, 1], [1.5, 1.2], [1.375, 0.9]]);
    const kink = async (w: number[][]) => points.get(w[0]![0]!) ?? -10;
    const k = await searchDepthWeights({ models: 1, groups: 1, sweeps: 1, step: 0.5 }, 1, kink);
    assert.deepEqual(k, { weights: [[1.5]], score: 1.2, evaluations: 3 });
  });
});
