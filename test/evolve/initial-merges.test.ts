// Extra initial members from merges (config.initial_merges): validated, made once, used by the
// evolution, and a stopped-and-resumed run ends bit-identical to an uninterrupted one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { StoppedError } from '../../lib/errors.js';
import { ConfigError, validateConfig } from '../../lib/evolve/config.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { mergeToFile } from '../../lib/merge/simple.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { FORTUNES } from '../helpers.js';
import { distanceEvaluator, testConfig } from './helpers.js';

const BASE = path.join(FORTUNES, 'models-bf16', 'base.safetensors');
const merges = { base: BASE, average: true, task_arithmetic: [0.2, 0.5] };
const minimal = { models: ['a', 'b'], output: 'o', seed: 1 };
const expectError = (initial_merges: unknown, keyPath: string, pattern: RegExp) =>
  assert.throws(() => validateConfig({ ...minimal, initial_merges }, 'cfg.yaml'), (e: unknown) => e instanceof ConfigError && e.keyPath === keyPath && pattern.test(e.message));

describe('initial_merges: extra initial members from merges', function () {
  this.timeout(120_000);

  it('is validated: a merge is asked for, task_arithmetic and ties need a base', () => {
    expectError({}, 'initial_merges', /asks for no merge/);
    expectError({ task_arithmetic: [0.2] }, 'initial_merges.base', /required by task_arithmetic/);
    expectError({ base: 'b', task_arithmetic: [] }, 'initial_merges.task_arithmetic', /./);
    expectError({ average: 'yes' }, 'initial_merges.average', /boolean/);
    expectError({ average: true, linear: true }, 'initial_merges', /linear/);
    expectError({ base: 'b', average: true, depth_search: {} }, 'initial_merges.depth_search', /refines the task_arithmetic member/);
    expectError({ base: 'b', task_arithmetic: [0.2], depth_search: { groups: 0 } }, 'initial_merges.depth_search.groups', /./);
    expectError({ base: 'b', task_arithmetic: [0.2], depth_search: { step: -1 } }, 'initial_merges.depth_search.step', /./);
    expectError({ base: 'b', task_arithmetic: [0.2], depth_search: { sweep: 2 } }, 'initial_merges.depth_search', /sweep/);
  });

  it('depth_search refines the task-arithmetic member by a weight per model and depth group, on the fitness', async () => {
    const config = testConfig({ initial_merges: { base: BASE, task_arithmetic: [0.2, 0.5], depth_search: { groups: 2, sweeps: 1 } }, generations: 1 });
    const report = await new EvolutionRun({ config, evaluator: await distanceEvaluator() }).run();
    const ta = JSON.parse(fs.readFileSync(path.join(config.output, 'run.json'), 'utf8')).initialMerges[0];
    const n = config.models.length;
    assert.equal(ta.merge.lambda, 0.2);
    assert.deepEqual(ta.depthSearch.groups, ['blocks 0-1', 'blocks 2-3', 'outside blocks']);
    assert.equal(ta.merge.depth.weights.length, n);
    assert.ok(ta.merge.depth.weights.every((row: number[]) => row.length === 3));
    // 5 models x 3 groups, 2 or 3 merges scored each.
    assert.ok(ta.depthSearch.evaluations >= 30 && ta.depthSearch.evaluations <= 45, String(ta.depthSearch.evaluations));
    assert.equal(ta.depthSearch.from, ta.candidates[0].fitness);
    // The fitness is minus a squared distance: the search cuts it to under a quarter.
    assert.ok(ta.depthSearch.to > ta.depthSearch.from / 4, `the search improved the fitness (${ta.depthSearch.from} -> ${ta.depthSearch.to})`);
    // The member is that merge: its initial fitness is the search's best, and the file is the recorded recipe merged again.
    assert.equal(report.initial[n]!.fitness, ta.depthSearch.to);
    const again = path.join(config.output, 'again.safetensors');
    const models = config.models.map((m) => openWeights(m));
    using base = openWeights(BASE);
    await mergeToFile(models, base, ta.merge, again);
    for (const m of models) m.close();
    assert.ok(fs.readFileSync(again).equals(fs.readFileSync(path.join(config.output, ta.file))), 'the member is the recorded merge, bit for bit');
    // The distance fitness pulls the four domains' weights towards 1.25 (0.2 x 1.25 = their f32 average's 0.25).
    for (const row of ta.merge.depth.weights.slice(0, 4)) for (const w of row) assert.ok(w > 1 && w < 1.6, `weight ${w}`);
  });

  it('adds the merges as members N.. that evolution uses, λ chosen on the fitness', async () => {
    const config = testConfig({ initial_merges: merges, generations: 2 });
    const report = await new EvolutionRun({ config, evaluator: await distanceEvaluator() }).run();
    const runJson = JSON.parse(fs.readFileSync(path.join(config.output, 'run.json'), 'utf8'));
    assert.deepEqual(runJson.initialMerges.map((m: { name: string }) => m.name), ['average', 'task_arithmetic']);
    const ta = runJson.initialMerges[1];
    assert.equal(ta.merge.lambda, ta.candidates.reduce((a: { fitness: number }, b: { fitness: number }) => (b.fitness > a.fitness ? b : a)).lambda);
    // λ candidates were scored in memory: initial/ holds the members only.
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'initial')).sort(), ['average.safetensors', 'task_arithmetic.safetensors']);
    const n = config.models.length;
    // The chosen λ's recorded dev fitness is the member's own (the same merge, in memory then on disk).
    assert.equal(report.initial[n + 1]!.fitness, ta.candidates.find((c: { lambda: number }) => c.lambda === ta.merge.lambda).fitness);
    assert.equal(report.initial.length, n + 2);
    assert.match(report.initial[n]!.model, /initial\/average\.safetensors$/);
    // The fitness is the distance to the f32 average: the bf16 average merge starts best.
    assert.equal(report.initial.reduce((b, s) => (s.fitness > report.initial[b]!.fitness ? s.member : b), 0), n);
    const { entries } = readJournal(path.join(config.output, 'journal.jsonl'));
    assert.equal(entries.length, 2 * (n + 2), 'a generation is one trial per member, the merges included');
    assert.ok(entries.some((e) => e.target >= n), 'a merged member is a target');
    assert.ok(entries.some((e) => Object.values(e.members).some((m) => (m as number) >= n)), 'a merged member is used to make offspring');
  });

  it('depth_search: a search that finds nothing better keeps plain task arithmetic; Ctrl-C during it keeps nothing', async () => {
    // A fitness blind to the weights: every merge scores the same, so no weight moves.
    const flat = testConfig({ initial_merges: { base: BASE, task_arithmetic: [0.2], depth_search: { groups: 1, sweeps: 1 } }, generations: 1 });
    await new EvolutionRun({ config: flat, evaluator: async () => ({ score: -1, metrics: {} }) }).run();
    const ta = JSON.parse(fs.readFileSync(path.join(flat.output, 'run.json'), 'utf8')).initialMerges[0];
    assert.deepEqual(ta.merge, { kind: 'task_arithmetic', lambda: 0.2 });
    assert.equal(ta.depthSearch.from, ta.depthSearch.to);
    assert.equal(ta.depthSearch.evaluations, 5 * 2 * 2, '5 models x 2 groups, 2 merges each (a flat score has no vertex)');

    // The stop signal during the search: the run stops at the next merge, removes its folder, and says why.
    const config = testConfig({ initial_merges: { base: BASE, task_arithmetic: [0.2], depth_search: { groups: 1, sweeps: 1 } } });
    const stop = new AbortController();
    const distance = await distanceEvaluator();
    let calls = 0;
    const evaluator: typeof distance = Object.assign(async (w: Parameters<typeof distance>[0], o: Parameters<typeof distance>[1]) => {
      if (++calls === 4) stop.abort();
      return distance(w, o);
    }, { calls: 0 });
    await assert.rejects(new EvolutionRun({ config, evaluator, signal: stop.signal }).run(), (e: unknown) => e instanceof StoppedError && /initial merges.*nothing was kept/.test((e as Error).message));
    assert.equal(calls, 4, 'no merge is scored after the stop');
    assert.ok(!fs.existsSync(config.output), 'the folder of a run that never started is removed');
  });

  it('a stopped run resumes to bit-identical weights; a changed merge file is refused', async () => {
    const overrides = { initial_merges: merges, generations: 3, strategy: 'interp', F: 0.3 };
    const reference = testConfig(overrides);
    await new EvolutionRun({ config: reference, evaluator: await distanceEvaluator() }).run();

    const config = testConfig(overrides);
    const stop = new AbortController();
    const first = new EvolutionRun({ config, evaluator: await distanceEvaluator(), signal: stop.signal });
    let seen = 0;
    first.on('trial', () => ++seen === 5 && stop.abort());
    assert.equal((await first.run()).stop, 'aborted');
    await new EvolutionRun({ folder: config.output, resume: true, evaluator: await distanceEvaluator() }).run();
    const journal = (dir: string) => readJournal(path.join(dir, 'journal.jsonl')).entries.map((e) => [e.k, e.target, e.accepted, e.checksum]);
    assert.deepEqual(journal(config.output), journal(reference.output));
    const best = (dir: string) => fs.readFileSync(path.join(dir, 'best', 'model.safetensors'));
    assert.ok(best(config.output).equals(best(reference.output)), 'best/ is bit-identical');

    // A run stopped early whose merged member was changed by hand: refused on resume.
    const changed = testConfig(overrides);
    const stop2 = new AbortController();
    const run2 = new EvolutionRun({ config: changed, evaluator: await distanceEvaluator(), signal: stop2.signal });
    run2.on('trial', () => stop2.abort());
    await run2.run();
    fs.copyFileSync(path.join(FORTUNES, 'models-bf16', 'science.safetensors'), path.join(changed.output, 'initial', 'average.safetensors'));
    await assert.rejects(new EvolutionRun({ folder: changed.output, resume: true, evaluator: await distanceEvaluator() }).run(), /does not hold the average merge/);
  });
});
