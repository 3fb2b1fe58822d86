// granularity: layer — one crossover draw per transformer block (lib/evolve/layer-crossover.ts).
import assert from 'node:assert/strict';
import path from 'node:path';

import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { layerOf, layerTakesMutant } from '../../lib/evolve/layer-crossover.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { distanceEvaluator, testConfig } from './helpers.js';

const names = ['transformer.h.0.attn.c_attn.weight', 'transformer.h.0.mlp.c_fc.bias', 'transformer.h.1.ln_1.weight', 'transformer.h.10.ln_2.bias', 'transformer.ln_f.weight', 'transformer.wte.weight'];

describe('granularity: layer', function () {
  this.timeout(120_000);

  it('groups tensors by transformer block; the others stand alone', () => {
    assert.deepEqual(names.map(layerOf), ['transformer.h.0', 'transformer.h.0', 'transformer.h.1', 'transformer.h.10', 'transformer.ln_f.weight', 'transformer.wte.weight']);
    assert.equal(layerOf('model.layers.31.self_attn.q_proj.weight'), 'model.layers.31');
  });

  it('one draw per block, reproducible, CR 0 and 1 exact, about CR of the blocks take the mutant', () => {
    let taken = 0, total = 0;
    for (let k = 0; k < 200; k++) {
      const t = layerTakesMutant(names, 7, k, 0.5);
      assert.deepEqual(t, layerTakesMutant(names, 7, k, 0.5));
      assert.equal(t[0], t[1], 'a block is decided once');
      taken += t.filter(Boolean).length;
      total += t.length;
      assert.ok(layerTakesMutant(names, 7, k, 1).every(Boolean));
      assert.ok(!layerTakesMutant(names, 7, k, 0).some(Boolean));
    }
    assert.ok(Math.abs(taken / total - 0.5) < 0.08, `share ${taken / total}`);
  });

  it('an accepted offspring holds, block by block, the target\'s bits or none of them', async () => {
    const config = testConfig({ granularity: 'layer', strategy: 'interp', F: 0.3, CR: 0.5, generations: 1 });
    await new EvolutionRun({ config, evaluator: await distanceEvaluator() }).run();
    const accepted = readJournal(path.join(config.output, 'journal.jsonl')).entries.filter((e) => e.accepted);
    assert.ok(accepted.length > 0);
    for (const e of accepted) {
      assert.equal(e.granularity, 'layer');
      const child = openWeights(path.join(config.output, 'population', `member-${e.target}.safetensors`));
      const parent = openWeights(config.models[e.target]!);
      const same = new Map<string, boolean[]>();
      for (const n of child.names()) {
        const equal = Buffer.from(child.view(n).buffer, child.view(n).byteOffset, child.view(n).byteLength).equals(Buffer.from(parent.view(n).buffer, parent.view(n).byteOffset, parent.view(n).byteLength));
        same.set(layerOf(n), [...(same.get(layerOf(n)) ?? []), equal]);
      }
      for (const [layer, eq] of same) assert.ok(eq.every((x) => x === eq[0]), `${layer}: all from the target or all from the mutant`);
      assert.ok([...same.values()].some((eq) => !eq[0]), 'something changed');
      child.close();
      parent.close();
    }
  });
});
