// per_set_tolerance: an offspring better on the mean is still refused when one dev set got worse
// than the parent's by more than the tolerance (lib/evolve/acceptance.ts).
import assert from 'node:assert/strict';
import path from 'node:path';

import { accepts, worstSetLoss } from '../../lib/evolve/acceptance.js';
import { ConfigError, validateConfig } from '../../lib/evolve/config.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import type { Evaluator } from '../../lib/evolve/evaluator.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { distanceEvaluator, testConfig } from './helpers.js';

const f = (score: number, a: number, b: number) => ({ score, metrics: { 'nll:a': a, 'nll:b': b, neg_mean_nll: score } });

describe('per_set_tolerance: selection guarded per dev set', function () {
  this.timeout(120_000);

  it('a tiny case: better on the mean, worse on one set', () => {
    const parent = f(-1.5, 1.0, 2.0);
    const child = f(-1.4, 1.05, 1.75);  // mean better, set a worse by 0.05
    assert.ok(Math.abs(worstSetLoss(child, parent) - 0.05) < 1e-12);
    assert.equal(accepts({ accept: 'better' }, child, parent), true);
    assert.equal(accepts({ accept: 'better', per_set_tolerance: 0.01 }, child, parent), false);
    assert.equal(accepts({ accept: 'better', per_set_tolerance: 0.1 }, child, parent), true);
    assert.equal(accepts({ accept: 'better', per_set_tolerance: 0.1 }, f(-1.6, 0.9, 2.3), parent), false, 'never when the mean is worse');
    assert.equal(accepts({ accept: 'better', per_set_tolerance: 0 }, { score: -Infinity, metrics: {} }, parent), false);
    // Higher-is-better metrics count the other way.
    assert.equal(worstSetLoss({ score: 0, metrics: { 'accuracy:a': 0.7 } }, { score: 0, metrics: { 'accuracy:a': 0.8 } }).toFixed(6), '0.100000');
  });

  it('is validated', () => {
    assert.throws(() => validateConfig({ models: ['a', 'b'], output: 'o', seed: 1, per_set_tolerance: -1 }, 'cfg.yaml'), (e: unknown) => e instanceof ConfigError && e.keyPath === 'per_set_tolerance');
  });

  it('a run never accepts an offspring that breaks the rule, and the rule refuses some', async () => {
    const distance = await distanceEvaluator();
    // Two "sets": the distance itself, and a second score that disagrees with it.
    const evaluator: Evaluator = async (w, o) => {
      const d = await distance(w, o);
      // The first weight of the embedding (bf16: its bits are the top half of a float32).
      const view = w.view('transformer.wte.weight');
      const bits = Buffer.from(view.buffer, view.byteOffset, 2).readUInt16LE(0);
      const first = new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
      return { score: d.score, metrics: { 'nll:a': -d.score, 'nll:b': first } };
    };
    const run = async (tolerance?: number) => {
      const config = testConfig({ strategy: 'interp', F: 0.3, generations: 4, ...(tolerance === undefined ? {} : { per_set_tolerance: tolerance }) });
      await new EvolutionRun({ config, evaluator }).run();
      return { config, entries: readJournal(path.join(config.output, 'journal.jsonl')).entries };
    };
    const { config, entries } = await run(0.0001);
    const runJson = JSON.parse((await import('node:fs')).readFileSync(path.join(config.output, 'run.json'), 'utf8'));
    const current = new Map<number, { score: number; metrics: Record<string, number> }>(runJson.initial.map((s: { member: number; fitness: number; metrics: Record<string, number> }) => [s.member, { score: s.fitness, metrics: s.metrics }]));
    let refusedByRule = 0;
    for (const e of entries) {
      const parent = current.get(e.target)!;
      const child = { score: e.fitness, metrics: e.metrics };
      assert.equal(e.accepted, accepts({ accept: 'better', per_set_tolerance: 0.0001 }, child, parent), `trial ${e.k}`);
      if (!e.accepted && e.fitness > parent.score) refusedByRule++;
      if (e.accepted) current.set(e.target, child);
    }
    assert.ok(refusedByRule > 0, 'the rule refused an offspring the mean alone would keep');
  });
});
