import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import * as kernels from '../../lib/kernels/index.js';
import { STRATEGY_NAMES, streamFor, type Strategy } from '../../lib/kernels/strategies.js';
import { EvolutionRun, type TrialEvent } from '../../lib/evolve/engine.js';
import { contentHash } from '../../lib/evolve/content-hash.js';
import { type JournalEntry, readJournal } from '../../lib/evolve/journal.js';
import { PopulationError } from '../../lib/evolve/population.js';
import { RunFolderError } from '../../lib/evolve/run-folder.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { writeCheckpoint } from '../../lib/store/write-checkpoint.js';
import { inspect } from '../../lib/store/inspect.js';
import { F32_BASE, FORTUNES, tempDir } from '../helpers.js';
import { BF16_MODELS, distanceEvaluator, testConfig } from './helpers.js';

/** Replays accepted trials in order from the input models with the journal's parameters. */
async function replay(models: string[], entries: JournalEntry[], evolved: string[]): Promise<Map<number, Map<string, Uint16Array>>> {
  const state = new Map<number, Map<string, Uint16Array>>();
  const inputs = models.map((m) => openWeights(m));
  for (let i = 0; i < models.length; i++) state.set(i, new Map(evolved.map((n) => [n, Uint16Array.from(inputs[i]!.view(n) as Uint16Array)])));
  const n = models.length;
  for (let g = 0; g * n < entries.length; g++) {
    const gen = entries.slice(g * n, (g + 1) * n);
    // Sequential: apply each accepted trial before the next (entries are in k order).
    for (const e of gen) {
      if (!e.accepted) continue;
      const child = new Map<string, Uint16Array>();
      for (const [j, name] of evolved.entries()) {
        const x = state.get(e.target)!.get(name)!;
        const out = new Uint16Array(x.length);
        const m = e.members;
        const third = m.r0 ?? m.best ?? m.ref;
        const shape = inputs[0]!.meta(name).shape;
        await kernels.de({
          strategy: e.strategy as Strategy, granularity: e.granularity as 'element', dtype: 'BF16', target: x, out,
          ...(m.a !== undefined ? { a: state.get(m.a)!.get(name)!, b: state.get(m.b!)!.get(name)! } : {}),
          ...(third !== undefined ? { r0: state.get(third)!.get(name)!, best: state.get(third)!.get(name)!, ref: state.get(third)!.get(name)! } : {}),
          F: e.F, CR: e.CR, seed: e.seed, stream: streamFor(e.k, j), rowLength: Math.max(1, shape.slice(1).reduce((a, b) => a * b, 1)),
        });
        child.set(name, out);
      }
      state.set(e.target, child);
    }
  }
  for (const i of inputs) i.close();
  return state;
}

describe('the Evolver run (library API)', function () {
  this.timeout(300_000);

  for (const strategy of STRATEGY_NAMES) {
    it(`${strategy} improves a deterministic weight-space fitness within 3 generations`, async () => {
      const config = testConfig({ strategy, F: 0.1, CR: 0.9, generations: 3 });
      const evaluator = await distanceEvaluator();
      const report = await new EvolutionRun({ config, evaluator }).run();
      const meanInitial = report.initial.reduce((a, s) => a + s.fitness, 0) / report.initial.length;
      const meanFinal = report.final.reduce((a, s) => a + s.fitness, 0) / report.final.length;
      assert.ok(report.accepted > 0, 'some offspring were accepted');
      assert.ok(meanFinal > meanInitial, `population mean fitness ${meanInitial} -> ${meanFinal}`);
      assert.ok(report.finalBest >= report.initialBest);
      assert.equal(report.trials, 15);
    });
  }

  it('writes the run folder as docs/design.md describes, and the journal replays to every member bit for bit', async () => {
    const config = testConfig({ strategy: 'rand/1', F: [0.05, 0.3], CR: [0.5, 1], generations: 3, granularity: 'row' });
    const evaluator = await distanceEvaluator();
    const run = new EvolutionRun({ config, evaluator });
    const trials: number[] = [];
    run.on('trial', (t) => trials.push(t.entry.k));
    const report = await run.run();
    const dir = config.output;
    for (const f of ['run.json', 'journal.jsonl', 'population', 'trial', 'best', 'report.json', 'report.html']) assert.ok(fs.existsSync(path.join(dir, f)), f);
    assert.ok(!fs.existsSync(path.join(dir, 'run.lock')), 'the lock is released');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'trial')), [], 'no trial slot is left behind');
    const { entries } = readJournal(path.join(dir, 'journal.jsonl'));
    assert.deepEqual(entries.map((e) => e.k), [...Array(15).keys()]);
    assert.deepEqual(trials, [...Array(15).keys()]);
    for (const e of entries) {
      for (const key of ['k', 'generation', 'target', 'members', 'strategy', 'F', 'CR', 'granularity', 'seed', 'fitness', 'accepted', 'checksum']) assert.ok(key in e, key);
      assert.ok(e.members.a !== undefined && e.members.b !== undefined && e.members.r0 !== undefined);
      assert.ok(new Set([e.target, e.members.a, e.members.b, e.members.r0]).size === 4, 'distinct members');
      assert.ok(e.F >= 0.05 && e.F <= 0.3 && e.CR >= 0.5 && e.CR <= 1, 'dithered within the ranges');
      assert.equal(Math.fround(e.F), e.F);
    }
    // Population files exist only for changed members; each equals the replay from the inputs.
    const runJson = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
    const replayed = await replay(config.models, entries, runJson.evolved);
    for (let i = 0; i < config.models.length; i++) {
      const changed = entries.some((e) => e.accepted && e.target === i);
      const file = path.join(dir, 'population', `member-${i}.safetensors`);
      assert.equal(fs.existsSync(file), changed, `member ${i}`);
      if (!changed) continue;
      using member = openWeights(file);
      for (const name of runJson.evolved) assert.ok(Buffer.from(member.bytes(name)).equals(Buffer.from(replayed.get(i)!.get(name)!.buffer)), `member ${i} ${name}`);
    }
    // best/ is a checkpoint `inspect` reads, with the config copied; report.html has the chart.
    const best = inspect(path.join(dir, 'best'));
    assert.equal(best.parameters, 842_624);
    assert.ok(best.tensors.every((t) => t.dtype === 'BF16'));
    assert.ok(fs.existsSync(path.join(dir, 'best', 'config.json')) || config.copy_files_from === undefined);
    const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
    assert.match(html, /<svg[^>]*>/);
    assert.match(html, /Population fitness over trials/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')).history.length, report.trials);
  });

  it('the generational schedule evaluates a generation concurrently from the same parents, and replays', async () => {
    const config = testConfig({ strategy: 'interp', F: 0.3, CR: 0.9, generations: 3, schedule: 'generational', concurrency: 3 });
    const report = await new EvolutionRun({ config, evaluator: await distanceEvaluator() }).run();
    assert.ok(report.finalBest > report.initialBest);
    const { entries } = readJournal(path.join(config.output, 'journal.jsonl'));
    assert.equal(entries.length, 15);
  });

  it('never evaluates identical weights twice; rejects NaN fitness with a reason and goes on', async () => {
    const evaluator = await distanceEvaluator();
    // CR = 0: every offspring equals its target: the fitness comes from the checksum cache.
    const same = testConfig({ CR: 0, generations: 2 });
    const r = await new EvolutionRun({ config: same, evaluator }).run();
    assert.equal(evaluator.calls, 5, 'only the five initial members were evaluated');
    assert.equal(r.accepted, 0);
    assert.ok(readJournal(path.join(same.output, 'journal.jsonl')).entries.every((e) => e.cached === true));

    let calls = 0;
    const nanAfterInitial = async (w: Parameters<typeof evaluator>[0], o: { signal: AbortSignal }) => (++calls > 5 ? { score: NaN, metrics: {} } : evaluator(w, o));
    const nan = testConfig({ generations: 1 });
    const r2 = await new EvolutionRun({ config: nan, evaluator: nanAfterInitial }).run();
    assert.equal(r2.accepted, 0);
    const lines = readJournal(path.join(nan.output, 'journal.jsonl')).entries;
    assert.ok(lines.every((e) => e.fitness === -Infinity && /NaN/.test(e.reason ?? '')));
  });

  it('refuses a population too small for the strategy, and mismatched models naming both files', async () => {
    const evaluator = await distanceEvaluator();
    await assert.rejects(new EvolutionRun({ config: testConfig({ strategy: 'rand/1', models: BF16_MODELS.slice(0, 3) }), evaluator }).run(),
      (e: unknown) => e instanceof PopulationError && /at least 4/.test((e as Error).message));
    await assert.rejects(new EvolutionRun({ config: testConfig({ models: [...BF16_MODELS.slice(0, 2), F32_BASE] }), evaluator }).run(),
      (e: unknown) => e instanceof PopulationError && (e as Error).message.includes(BF16_MODELS[0]!) && (e as Error).message.includes(F32_BASE) && /BF16/.test((e as Error).message));
    // A model missing a tensor.
    const dir = tempDir();
    const partial = path.join(dir, 'partial.safetensors');
    using src = openWeights(BF16_MODELS[0]!);
    const keep = src.names().filter((n) => n !== 'transformer.ln_f.bias');
    const w = SafetensorsWriter.create(partial, { tensors: keep.map((n) => src.meta(n)) });
    for (const n of keep) w.write(n, src.chunks(n));
    w.commit();
    await assert.rejects(new EvolutionRun({ config: testConfig({ models: [...BF16_MODELS.slice(0, 2), partial] }), evaluator }).run(),
      (e: unknown) => e instanceof PopulationError && /transformer\.ln_f\.bias/.test((e as Error).message) && (e as Error).message.includes(partial));
    // include/exclude choose the evolved tensors; the others are carried from the first model.
    const carried = testConfig({ exclude: ['wte', 'wpe'], generations: 1, CR: 1 });
    await new EvolutionRun({ config: carried, evaluator }).run();
    const runJson = JSON.parse(fs.readFileSync(path.join(carried.output, 'run.json'), 'utf8'));
    assert.deepEqual(runJson.carried, ['transformer.wpe.weight', 'transformer.wte.weight']);
  });

  it('stops on max_trials and on patience; sharded inputs give a sharded best/ with the same dtypes', async () => {
    const evaluator = await distanceEvaluator();
    const capped = await new EvolutionRun({ config: testConfig({ generations: 10, max_trials: 7 }), evaluator }).run();
    assert.equal(capped.stop, 'max_trials');
    assert.equal(capped.trials, 7);
    // CR = 0 never improves: patience 2 stops after two whole generations.
    const stuck = await new EvolutionRun({ config: testConfig({ generations: 10, CR: 0, patience: 2 }), evaluator }).run();
    assert.equal(stuck.stop, 'patience');
    assert.equal(stuck.trials, 10);
    const dir = tempDir();
    const sharded = BF16_MODELS.map((m, i) => {
      const out = path.join(dir, `m${i}`);
      using src = openWeights(m);
      writeCheckpoint(src, out, { maxShardBytes: 600_000, copyFilesFrom: FORTUNES });
      return out;
    });
    const config = testConfig({ models: sharded, generations: 1, strategy: 'interp', F: 0.3 });
    await new EvolutionRun({ config, evaluator }).run();
    const best = inspect(path.join(config.output, 'best'));
    assert.equal(best.format, 'sharded');
    assert.equal(best.shards.length, inspect(sharded[0]!).shards.length);
    assert.ok(best.tensors.every((t) => t.dtype === 'BF16'));
    assert.ok(fs.existsSync(path.join(config.output, 'best', 'config.json')), 'config.json carried from the first model folder');
  });

  it('offspring live in a memory slot: evaluators read /proc/self/fd views, rejected trials never touch the disk', async () => {
    const base = await distanceEvaluator();
    const config = testConfig({ generations: 2 });
    const trialDir = path.join(config.output, 'trial');
    const paths = new Set<string>();
    const seen = new Set<string>();
    const watching: typeof base = Object.assign(async (w: Parameters<typeof base>[0], o: Parameters<typeof base>[1]) => {
      paths.add(w.path);
      if (fs.existsSync(trialDir)) for (const f of fs.readdirSync(trialDir)) seen.add(f);
      return base(w, o);
    }, { calls: 0 });
    const report = await new EvolutionRun({ config, evaluator: watching }).run();
    const slotPaths = [...paths].filter((p) => p.startsWith('/proc/self/fd/'));
    assert.equal(slotPaths.length, 1, 'one slot, reused by every trial');
    const entries = readJournal(path.join(config.output, 'journal.jsonl')).entries;
    // trial/ only ever holds accepted offspring on their way to population/ (written while the next trial runs).
    for (const e of entries) if (!e.accepted) assert.ok(!seen.has(`k-${e.k}.safetensors`), `rejected trial ${e.k} was written to disk`);
    assert.ok(entries.some((e) => !e.accepted) && entries.some((e) => e.accepted), 'both kinds of trial happened');
    assert.ok(entries.every((e) => typeof e.seconds.hash === 'number' && (e.accepted ? typeof e.seconds.persist === 'number' : e.seconds.persist === undefined)));
    // Accepted offspring are complete files with the trial's metadata.
    for (const m of report.final) {
      if (!m.file.startsWith(config.output)) continue;
      using w = openWeights(m.file);
      assert.match(w.metadata.evolver_trial ?? '', /^\d+$/);
    }
  });

  for (const schedule of ['sequential', 'generational'] as const) {
    it(`${schedule}: accepted offspring are written over the files of the members they replaced; every member is still its replay, bit for bit`, async () => {
      // Every offspring scores higher than anything before it: all 30 trials (5 members, 6
      // generations) are accepted, and from the second generation on each replaces a member file
      // the run wrote itself.
      let calls = 0;
      const acceptAll = async () => ({ score: ++calls, metrics: {} });
      const config = testConfig({ strategy: 'rand/1', F: 0.2, CR: 0.9, generations: 6, schedule, ...(schedule === 'generational' ? { concurrency: 2 } : {}) });
      const run = new EvolutionRun({ config, evaluator: acceptAll });
      const overSpare: (boolean | undefined)[] = [];
      run.on('trial', (e: TrialEvent) => overSpare.push(e.writtenOverSpare));
      const report = await run.run();
      assert.equal(report.accepted, 30);
      assert.equal(report.throughput.persisted, 30);
      // Each trial event says where its file went; together they are the report's counts.
      assert.equal(overSpare.length, 30);
      assert.equal(overSpare.filter((x) => x === true).length, report.throughput.persistedOverSpare);
      assert.equal(overSpare.filter((x) => x === false).length, 30 - report.throughput.persistedOverSpare);
      assert.ok(overSpare.slice(0, 5).every((x) => x === false), 'the first generation replaces inputs: new files');
      assert.ok(report.throughput.persistedOverSpare > 0, `written over a spare: ${report.throughput.persistedOverSpare} of 30`);
      assert.ok(report.throughput.persistedOverSpare <= 25, 'the first generation has no run-owned file to replace');
      assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), [], 'no spare is left behind');
      const { entries } = readJournal(path.join(config.output, 'journal.jsonl'));
      const runJson = JSON.parse(fs.readFileSync(path.join(config.output, 'run.json'), 'utf8'));
      const replayed = schedule === 'sequential' ? await replay(config.models, entries, runJson.evolved) : undefined;
      for (let i = 0; i < config.models.length; i++) {
        const file = path.join(config.output, 'population', `member-${i}.safetensors`);
        const last = entries.filter((e) => e.target === i).at(-1)!;
        using member = openWeights(file);
        // The header is this trial's (k = 2 and k = 22 differ in length: the file was cut to size).
        assert.equal(member.metadata.evolver_trial, String(last.k));
        const bytes = fs.readFileSync(file);
        const headerLength = Number(bytes.readBigUInt64LE(0));
        const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
        const dataEnd = Math.max(...Object.values(header).map((t) => t.data_offsets?.[1] ?? 0));
        assert.equal(bytes.length, 8 + headerLength + dataEnd, `member ${i}: no bytes of an older file after the data`);
        if (replayed) for (const name of runJson.evolved) assert.ok(Buffer.from(member.bytes(name)).equals(Buffer.from(replayed.get(i)!.get(name)!.buffer)), `member ${i} ${name}`);
        // Its weights are the ones the journal accepted (what a resume checks).
        assert.equal(await contentHash(member, runJson.evolved, runJson.checksum), last.checksum, `member ${i}`);
      }
    });
  }

  it('a second process cannot use the run folder; a stopped run is resumed, a finished one only reported', async () => {
    const config = testConfig({ generations: 1 });
    const evaluator = await distanceEvaluator();
    const stop = new AbortController();
    const first = new EvolutionRun({ config, evaluator, signal: stop.signal });
    first.on('trial', () => stop.abort());
    assert.equal((await first.run()).stop, 'aborted');
    await assert.rejects(new EvolutionRun({ config, evaluator }).run(), (e: unknown) => e instanceof RunFolderError && /--resume/.test((e as Error).message));
    fs.writeFileSync(path.join(config.output, 'run.lock'), `${process.ppid}\n`);  // a live process holds it
    await assert.rejects(new EvolutionRun({ config, evaluator, resume: true }).run(), (e: unknown) => e instanceof RunFolderError && /in use by process/.test((e as Error).message));
    fs.writeFileSync(path.join(config.output, 'run.lock'), '999999999\n');  // stale: taken over
    const r = await new EvolutionRun({ config: { ...config, generations: 2 }, evaluator, resume: true }).run();
    assert.equal(r.trials, 5, 'resume keeps the config of run.json');
    const calls = evaluator.calls;
    const logs: string[] = [];
    const again = new EvolutionRun({ folder: config.output, evaluator, resume: true });
    again.on('log', (l: string) => logs.push(l));
    const done = await again.run();
    assert.equal(done.trials, 5);
    assert.equal(evaluator.calls, calls, 'a finished run is not evaluated again');
    assert.match(logs.join('\n'), /is a finished run/);
  });
});
