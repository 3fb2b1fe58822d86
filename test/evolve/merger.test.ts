import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { Merger } from '../../lib/evolve/merger.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { tempDir } from '../helpers.js';
import { BF16_MODELS, distanceEvaluator, testConfig } from './helpers.js';

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
    await merger.update(current, members[2]!, replaced, 2, names, path.join(dir, 'inc.safetensors'));
    await merger.full(members.map((m, i) => (i === 2 ? replaced : m)), undefined, names, path.join(dir, 'scratch.safetensors'));
    using inc = openWeights(path.join(dir, 'inc.safetensors'));
    using scratch = openWeights(path.join(dir, 'scratch.safetensors'));
    for (const n of names) {
      const a = inc.view(n) as Float32Array, b = scratch.view(n) as Float32Array;
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * Math.max(1, Math.abs(b[i]!)), `${n}[${i}]`);
    }
    for (const m of [...members, replaced]) m.close();
  });

  it('an interrupted merger run resumes to the same merged model', async () => {
    const overrides = { strategy: 'interp', F: 0.3, generations: 3 } as const;
    const reference = { ...testConfig(overrides), merger: { method: 'ties' as const, base: BF16_MODELS[4]!, parameters: { density: 0.5 } } };
    reference.models = BF16_MODELS.slice(0, 4);
    await new EvolutionRun({ config: reference, evaluator: await distanceEvaluator() }).run();
    const config = { ...reference, output: path.join(tempDir(), 'run') };
    const controller = new AbortController();
    const run = new EvolutionRun({ config, evaluator: await distanceEvaluator(), signal: controller.signal });
    run.on('trial', (t) => t.entry.k === 5 && controller.abort());
    assert.equal((await run.run()).stop, 'aborted');
    await new EvolutionRun({ config, evaluator: await distanceEvaluator(), resume: true }).run();
    const a = fs.readFileSync(path.join(config.output, 'best', 'model.safetensors'));
    const b = fs.readFileSync(path.join(reference.output, 'best', 'model.safetensors'));
    assert.ok(a.equals(b));
  });
});
