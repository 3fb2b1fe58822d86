// adapt: jde — self-adaptive F and CR per member, from the journal and the trial's Philox draws:
// a stopped-and-resumed run makes the same trials as an uninterrupted one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError, validateConfig } from '../../lib/evolve/config.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { distanceEvaluator, testConfig } from './helpers.js';

describe('adapt: jde (self-adaptive F and CR)', function () {
  this.timeout(120_000);

  it('is validated: it starts from one F and one CR, not a range', () => {
    assert.throws(() => validateConfig({ models: ['a', 'b'], output: 'o', seed: 1, adapt: 'jde', F: [0.1, 0.5] }, 'cfg.yaml'), (e: unknown) => e instanceof ConfigError && e.keyPath === 'F' && /range/.test(e.message));
    assert.throws(() => validateConfig({ models: ['a', 'b'], output: 'o', seed: 1, adapt: 'shade' }, 'cfg.yaml'), (e: unknown) => e instanceof ConfigError && e.keyPath === 'adapt');
  });

  for (const schedule of ['sequential', 'generational'] as const) {
    it(`${schedule}: members pass on the F and CR that made them; a resume is bit-identical`, async () => {
      const overrides = { adapt: 'jde', strategy: 'interp', F: 0.3, CR: 0.9, generations: 6, schedule };
      const reference = testConfig(overrides);
      await new EvolutionRun({ config: reference, evaluator: await distanceEvaluator() }).run();
      const entries = readJournal(path.join(reference.output, 'journal.jsonl')).entries;
      const fs32 = (x: number) => Math.fround(x);
      assert.ok(entries.some((e) => e.F !== fs32(0.3)), 'some trial drew a new F');
      assert.ok(entries.some((e) => e.CR !== fs32(0.9)), 'some trial drew a new CR');
      assert.ok(entries.every((e) => e.F >= fs32(0.1) && e.F <= 1 && e.CR >= 0 && e.CR < 1));
      // Without a new draw, a trial uses its target's values: those of its latest accepted offspring.
      const n = reference.models.length;
      const version = (k: number) => (schedule === 'sequential' ? k : Math.floor(k / n) * n);
      let inherited = 0;
      for (const e of entries) {
        const last = entries.filter((x) => x.k < version(e.k) && x.accepted && x.target === e.target).at(-1);
        const expected = last === undefined ? fs32(0.3) : last.F;
        if (e.F === expected) inherited++;
      }
      assert.ok(inherited >= entries.length * 0.8, `${inherited} of ${entries.length} trials kept their target's F`);

      const config = testConfig(overrides);
      const stop = new AbortController();
      const first = new EvolutionRun({ config, evaluator: await distanceEvaluator(), signal: stop.signal });
      let seen = 0;
      first.on('trial', () => ++seen === 7 && stop.abort());
      await first.run();
      await new EvolutionRun({ folder: config.output, resume: true, evaluator: await distanceEvaluator() }).run();
      const resumed = readJournal(path.join(config.output, 'journal.jsonl')).entries;
      assert.deepEqual(resumed.map((e) => [e.k, e.F, e.CR, e.accepted, e.checksum]), entries.map((e) => [e.k, e.F, e.CR, e.accepted, e.checksum]));
      const best = (dir: string) => fs.readFileSync(path.join(dir, 'best', 'model.safetensors'));
      assert.ok(best(config.output).equals(best(reference.output)));
    });
  }
});
