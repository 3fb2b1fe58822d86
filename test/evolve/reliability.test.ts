// Run-folder defects found by attacking the engine (issue: "Nothing lost, nothing crashes"):
// each test reproduces one and checks that the run loses nothing and ends bit-identically.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { EvaluationError, EvolutionRun } from '../../lib/evolve/engine.js';
import type { Evaluator } from '../../lib/evolve/evaluator.js';
import { InputChangedError } from '../../lib/evolve/inputs.js';
import { Journal, type JournalEntry, readJournal } from '../../lib/evolve/journal.js';
import { RunFolderError } from '../../lib/evolve/run-folder.js';
import { fillDisk, mountTmpfs, tempDir } from '../helpers.js';
import { BF16_MODELS, distanceEvaluator, testConfig } from './helpers.js';

const bestBytes = (dir: string) => fs.readFileSync(path.join(dir, 'best', 'model.safetensors'));
const journalLines = (dir: string) => fs.readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').trim().split('\n');

/** Runs to the end once, uninterrupted: what every recovered run must equal. */
async function reference(overrides: Parameters<typeof testConfig>[0], evaluator: Evaluator) {
  const config = testConfig(overrides);
  await new EvolutionRun({ config, evaluator }).run();
  return config.output;
}

/** Stops a run after `trials` trials (the stop signal: the trial in flight finishes). */
async function runUntil(config: ReturnType<typeof testConfig>, evaluator: Evaluator, trials: number, options: { resume?: boolean } = {}) {
  const stop = new AbortController();
  const run = new EvolutionRun({ config, evaluator, signal: stop.signal, ...options });
  run.on('trial', (t) => t.trialsDone >= trials && stop.abort());
  return run.run();
}

const tmpfs = mountTmpfs;

/** The example models copied to a temp folder (tests that change an input change these). */
function copiesOfModels(): string[] {
  const dir = tempDir();
  return BF16_MODELS.map((m, i) => {
    const copy = path.join(dir, `m${i}.safetensors`);
    fs.copyFileSync(m, copy);
    return copy;
  });
}

function entry(k: number): JournalEntry {
  return { k, generation: 0, target: k, members: { ref: 1 }, strategy: 'interp', F: 0.3, CR: 0.9, granularity: 'element', seed: 1, fitness: -1, metrics: { x: -1 }, parentFitness: -2, accepted: true, checksum: 'c'.repeat(64), seconds: { offspring: 0, evaluation: 0 } };
}

describe('run folder reliability', function () {
  this.timeout(180_000);

  it('a short journal write on a full disk is cut back and throws NO_SPACE; the journal stays whole', function () {
    const mount = tmpfs(1);
    if (mount === undefined) this.skip();
    try {
      const file = path.join(mount!, 'journal.jsonl');
      const journal = new Journal(file, 0);
      journal.append([entry(0), entry(1)]);
      const before = fs.readFileSync(file);
      fillDisk(path.join(mount!, 'fill'));
      const many = Array.from({ length: 200 }, (_, i) => entry(i + 2));
      assert.throws(() => journal.append(many), (e: unknown) => e instanceof WeightFileError && e.code === 'NO_SPACE' && e.message.includes(file));
      assert.ok(fs.readFileSync(file).equals(before), 'the journal is exactly what it was before the failed append');
      assert.equal(readJournal(file).entries.length, 2);
      fs.rmSync(path.join(mount!, 'fill'));
      journal.append([entry(2)]);
      journal.close();
      assert.deepEqual(readJournal(file).entries.map((e) => e.k), [0, 1, 2]);
    } finally {
      execFileSync('umount', [mount!]);
    }
  });

  it('--resume works on the folder itself: a copy resumes without touching the original, a moved folder resumes', async () => {
    const evaluator = await distanceEvaluator();
    const overrides = { generations: 2, strategy: 'interp', F: 0.3 } as const;
    const expected = bestBytes(await reference(overrides, evaluator));
    const config = testConfig(overrides);
    await runUntil(config, evaluator, 3);
    const original = journalLines(config.output);
    const copy = path.join(tempDir(), 'copy');
    fs.cpSync(config.output, copy, { recursive: true });
    await new EvolutionRun({ folder: copy, evaluator, resume: true }).run();
    assert.ok(bestBytes(copy).equals(expected), 'the copy ends where an uninterrupted run ends');
    assert.deepEqual(journalLines(config.output), original, 'the original folder was not touched');
    const moved = path.join(tempDir(), 'moved');
    fs.renameSync(config.output, moved);
    await new EvolutionRun({ folder: moved, evaluator, resume: true }).run();
    assert.ok(bestBytes(moved).equals(expected));
    assert.ok(!fs.existsSync(config.output), 'nothing was recreated at the old place');
  });

  it('an input replaced between a run and its resume, or during a run, is refused naming the file', async () => {
    const evaluator = await distanceEvaluator();
    const models = copiesOfModels();
    const config = testConfig({ models, generations: 2 });
    await runUntil(config, evaluator, 2);
    // Replaced by another model of the same shape: only the identity in run.json can tell.
    fs.copyFileSync(BF16_MODELS[3]!, models[1]!);
    const journalBefore = journalLines(config.output);
    await assert.rejects(new EvolutionRun({ folder: config.output, evaluator, resume: true }).run(), (e: unknown) => e instanceof InputChangedError && e.file === models[1] && e.message.includes(models[1]!));
    assert.deepEqual(journalLines(config.output), journalBefore, 'a refused resume changes nothing');
    fs.copyFileSync(BF16_MODELS[1]!, models[1]!);  // restored: resumes
    // During a run: the evaluator overwrites an input while trials are being made.
    let calls = 0;
    const meddling: Evaluator = async (w, o) => {
      if (++calls === 3) fs.copyFileSync(BF16_MODELS[0]!, models[2]!);
      return evaluator(w, o);
    };
    await assert.rejects(new EvolutionRun({ folder: config.output, evaluator: meddling, resume: true }).run(), (e: unknown) => e instanceof InputChangedError && e.file === models[2]);
    assert.equal(readJournal(path.join(config.output, 'journal.jsonl')).entries.length, journalBefore.length + 2, 'the trial made on a changed input is not journaled');
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), []);
  });

  it('an input truncated while mapped during a run is a typed error naming it (no SIGBUS death); restored, the run resumes identically', async () => {
    const evaluator = await distanceEvaluator();
    const models = copiesOfModels();
    const overrides = { generations: 2, strategy: 'interp', F: 0.3 } as const;
    const refDir = await reference(overrides, evaluator);
    const config = testConfig({ ...overrides, models });
    let calls = 0;
    const truncating: Evaluator = async (w, o) => {
      if (++calls === 7) fs.truncateSync(models[2]!, 4096);
      return evaluator(w, o);
    };
    await assert.rejects(new EvolutionRun({ config, evaluator: truncating }).run(), (e: unknown) => (e instanceof InputChangedError || (e instanceof WeightFileError && e.code === 'FILE_CHANGED')) && (e as Error).message.includes(models[2]!));
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), []);
    fs.copyFileSync(BF16_MODELS[2]!, models[2]!);
    await new EvolutionRun({ folder: config.output, evaluator, resume: true }).run();
    assert.ok(bestBytes(config.output).equals(bestBytes(refDir)));
  });

  it('a damaged journal line is refused without changing anything; --repair recovers the uninterrupted result', async () => {
    const evaluator = await distanceEvaluator();
    const overrides = { generations: 4, strategy: 'interp', F: 0.3 } as const;
    const refDir = await reference(overrides, evaluator);
    const config = testConfig(overrides);
    await runUntil(config, evaluator, 12);
    const file = path.join(config.output, 'journal.jsonl');
    const lines = journalLines(config.output);
    assert.equal(lines.length, 12);
    lines[5] = lines[5]!.slice(0, 40) + '#' + lines[5]!.slice(41);  // line 6 of 12
    fs.writeFileSync(file, lines.join('\n') + '\n');
    const damaged = fs.readFileSync(file);
    await assert.rejects(new EvolutionRun({ folder: config.output, evaluator, resume: true }).run(), (e: unknown) => e instanceof RunFolderError && /line 6 is damaged/.test((e as Error).message) && /--repair/.test((e as Error).message));
    assert.ok(fs.readFileSync(file).equals(damaged), 'the refused resume dropped no line');
    const logs: string[] = [];
    const repaired = new EvolutionRun({ folder: config.output, evaluator, resume: true, repair: true });
    repaired.on('log', (l: string) => logs.push(l));
    await repaired.run();
    assert.match(logs.join('\n'), /rebuilding the population/);
    assert.ok(bestBytes(config.output).equals(bestBytes(refDir)), 'the repaired run ends bit-identical to an uninterrupted one');
    assert.deepEqual(journalLines(config.output).map((l) => JSON.parse(l).checksum), journalLines(refDir).map((l) => JSON.parse(l).checksum));
    assert.ok(fs.readdirSync(config.output).some((f) => f.startsWith('journal.jsonl.damaged-')), 'the damaged journal is kept');
  });

  it('a repair that cannot replay changes nothing: population/ and the journal stay as they were', async () => {
    const evaluator = await distanceEvaluator();
    const models = copiesOfModels();
    const config = testConfig({ generations: 3, strategy: 'interp', F: 0.3, models });
    await runUntil(config, evaluator, 8);
    const file = path.join(config.output, 'journal.jsonl');
    const lines = journalLines(config.output);
    lines[6] = '{"k": 6, broken';
    fs.writeFileSync(file, lines.join('\n') + '\n');
    // A run made before input identities were recorded, whose input was then replaced.
    const runJson = JSON.parse(fs.readFileSync(path.join(config.output, 'run.json'), 'utf8'));
    delete runJson.inputs;
    fs.writeFileSync(path.join(config.output, 'run.json'), JSON.stringify(runJson));
    fs.copyFileSync(BF16_MODELS[4]!, models[1]!);
    const population = path.join(config.output, 'population');
    const before = Object.fromEntries(fs.readdirSync(population).map((f) => [f, fs.readFileSync(path.join(population, f))]));
    const journalBefore = fs.readFileSync(file);
    await assert.rejects(new EvolutionRun({ folder: config.output, evaluator, resume: true, repair: true }).run(), (e: unknown) => e instanceof RunFolderError && /cannot be repaired/.test((e as Error).message));
    assert.ok(fs.readFileSync(file).equals(journalBefore), 'the journal is unchanged');
    assert.deepEqual(fs.readdirSync(population).sort(), Object.keys(before).sort());
    for (const [f, bytes] of Object.entries(before)) assert.ok(fs.readFileSync(path.join(population, f)).equals(bytes), `${f} is unchanged`);
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), []);
  });

  it('generational: a worker whose evaluator throws stops the others cleanly; the resume finishes identically', async () => {
    const evaluator = await distanceEvaluator();
    const overrides = { generations: 2, strategy: 'interp', F: 0.3, schedule: 'generational', concurrency: 2 } as const;
    const refDir = await reference(overrides, evaluator);
    const config = testConfig(overrides);
    let calls = 0;
    const failing: Evaluator = async (w, o) => {
      const call = ++calls;
      if (call === 8) throw new Error('lost the GPU');
      if (call > 5) await new Promise((r) => setTimeout(r, 30));  // the other worker is mid-trial
      return evaluator(w, o);
    };
    await assert.rejects(new EvolutionRun({ config, evaluator: failing }).run(), (e: unknown) => e instanceof EvaluationError && /lost the GPU/.test((e as Error).message));
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), []);
    assert.ok(!fs.existsSync(path.join(config.output, 'run.lock')));
    await new EvolutionRun({ folder: config.output, evaluator, resume: true }).run();
    assert.ok(bestBytes(config.output).equals(bestBytes(refDir)));
  });

  it('+Infinity and NaN fitness survive the journal: a resumed run makes the decisions the run made', async () => {
    const base = await distanceEvaluator();
    // Deterministic in the weights: the same offspring always gets the same score.
    const special: Evaluator = async (w, o) => {
      const f = await base(w, o);
      const bucket = Math.floor(-f.score * 1e9) % 5;
      return bucket === 0 ? { score: Infinity, metrics: { special: Infinity } } : bucket === 1 ? { score: NaN, metrics: { special: NaN } } : f;
    };
    const overrides = { generations: 3, strategy: 'interp', F: 0.3 } as const;
    const refDir = await reference(overrides, special);
    const refEntries = readJournal(path.join(refDir, 'journal.jsonl')).entries;
    assert.ok(refEntries.some((e) => e.fitness === Infinity) || refEntries.some((e) => e.parentFitness === Infinity), 'the run saw +Infinity');
    const config = testConfig(overrides);
    await runUntil(config, special, 4);
    await new EvolutionRun({ folder: config.output, evaluator: special, resume: true }).run();
    const entries = readJournal(path.join(config.output, 'journal.jsonl')).entries;
    assert.deepEqual(entries.map((e) => [e.fitness, e.parentFitness, e.accepted]), refEntries.map((e) => [e.fitness, e.parentFitness, e.accepted]));
    assert.ok(bestBytes(config.output).equals(bestBytes(refDir)));
  });

  it('a fresh run refuses a folder with a leftover journal; a failed start leaves no folder', async () => {
    const evaluator = await distanceEvaluator();
    const config = testConfig({ generations: 1 });
    fs.mkdirSync(config.output, { recursive: true });
    fs.writeFileSync(path.join(config.output, 'journal.jsonl'), JSON.stringify(entry(0)) + '\n');
    await assert.rejects(new EvolutionRun({ config, evaluator }).run(), (e: unknown) => e instanceof RunFolderError && /not empty/.test((e as Error).message) && /journal\.jsonl/.test((e as Error).message));
    assert.deepEqual(fs.readdirSync(config.output), ['journal.jsonl']);
    const bad = testConfig({ generations: 1, models: [...BF16_MODELS.slice(0, 2), path.join(tempDir(), 'missing.safetensors')] });
    await assert.rejects(new EvolutionRun({ config: bad, evaluator }).run(), WeightFileError);
    assert.ok(!fs.existsSync(bad.output), 'no empty run folder is left behind');
  });

  it('a throwing evaluator stops the run naming the trial; nothing is left behind and the resume finishes identically', async () => {
    const evaluator = await distanceEvaluator();
    const overrides = { generations: 2, strategy: 'interp', F: 0.3 } as const;
    const refDir = await reference(overrides, evaluator);
    const config = testConfig(overrides);
    let calls = 0;
    const flaky: Evaluator = async (w, o) => {
      if (++calls === 8) throw new Error('CUDA out of memory');
      return evaluator(w, o);
    };
    await assert.rejects(new EvolutionRun({ config, evaluator: flaky }).run(), (e: unknown) => e instanceof EvaluationError && /trial k=2 /.test((e as Error).message) && /CUDA out of memory/.test((e as Error).message) && /--resume/.test((e as Error).message));
    assert.equal(readJournal(path.join(config.output, 'journal.jsonl')).entries.length, 2);
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), []);
    assert.ok(!fs.existsSync(path.join(config.output, 'run.lock')));
    await new EvolutionRun({ folder: config.output, evaluator, resume: true }).run();
    assert.ok(bestBytes(config.output).equals(bestBytes(refDir)));
  });

  it('a corrupt run.json is a RunFolderError naming it', async () => {
    const evaluator = await distanceEvaluator();
    const config = testConfig({ generations: 1 });
    await runUntil(config, evaluator, 1);
    const runJson = path.join(config.output, 'run.json');
    fs.writeFileSync(runJson, fs.readFileSync(runJson, 'utf8').slice(0, 100));
    await assert.rejects(new EvolutionRun({ folder: config.output, evaluator, resume: true }).run(), (e: unknown) => e instanceof RunFolderError && e.message.includes(runJson) && /damaged/.test(e.message));
  });
});
