// The asynchronous schedule (steady-state DE with a window): a function of the journal alone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { distanceEvaluator, testConfig } from './helpers.js';

const best = (dir: string) => fs.readFileSync(path.join(dir, 'best', 'model.safetensors'));
const decisions = (dir: string) => readJournal(path.join(dir, 'journal.jsonl')).entries.map((e) => ({ k: e.k, target: e.target, members: e.members, F: e.F, CR: e.CR, fitness: e.fitness, parentFitness: e.parentFitness, accepted: e.accepted, checksum: e.checksum }));

describe('asynchronous schedule', function () {
  this.timeout(120_000);
  const base = { strategy: 'current-to-best/1', F: [0.1, 0.4], CR: 0.9, generations: 4 } as const;

  it('with a window of 1 is the sequential schedule, trial for trial', async () => {
    const seq = testConfig({ ...base, schedule: 'sequential' });
    const asy = testConfig({ ...base, schedule: 'asynchronous', concurrency: 1 });
    await new EvolutionRun({ config: seq, evaluator: await distanceEvaluator() }).run();
    await new EvolutionRun({ config: asy, evaluator: await distanceEvaluator() }).run();
    assert.deepEqual(decisions(asy.output), decisions(seq.output));
    assert.ok(best(asy.output).equals(best(seq.output)));
  });

  it('with a window of 3 makes trial k from version k-2, the same for any evaluation timing', async () => {
    const fast = testConfig({ ...base, schedule: 'asynchronous', concurrency: 3 });
    await new EvolutionRun({ config: fast, evaluator: await distanceEvaluator() }).run();
    // Evaluations that finish out of order (later trials first) change nothing.
    const slow = testConfig({ ...base, schedule: 'asynchronous', concurrency: 3 });
    const inner = await distanceEvaluator();
    let calls = 0;
    const shuffled: typeof inner = Object.assign(async (w: Parameters<typeof inner>[0], o: Parameters<typeof inner>[1]) => {
      const delay = [40, 5, 20][calls++ % 3]!;
      const result = await inner(w, o);
      await new Promise((r) => setTimeout(r, delay));
      return result;
    }, { calls: 0 });
    await new EvolutionRun({ config: slow, evaluator: shuffled }).run();
    const entries = readJournal(path.join(fast.output, 'journal.jsonl')).entries;
    assert.deepEqual(entries.map((e) => e.version), entries.map((e) => Math.max(0, e.k - 2)));
    assert.deepEqual(decisions(slow.output), decisions(fast.output));
    assert.ok(best(slow.output).equals(best(fast.output)));
    // Differs from the sequential schedule (older parents): the window matters.
    const seq = testConfig({ ...base, schedule: 'sequential' });
    await new EvolutionRun({ config: seq, evaluator: await distanceEvaluator() }).run();
    assert.notDeepEqual(decisions(fast.output).map((d) => d.checksum), decisions(seq.output).map((d) => d.checksum));
    // Nothing superseded is left once the run is over.
    assert.equal(fs.existsSync(path.join(fast.output, 'population', 'superseded')), false);
  });
});
