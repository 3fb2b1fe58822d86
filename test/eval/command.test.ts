import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { createCommandEvaluator, type CommandEvaluatorOptions } from '../../lib/eval/command.js';
import { ConfigError } from '../../lib/evolve/config.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import type { Fitness } from '../../lib/evolve/evaluator.js';
import { evaluatorFor } from '../../lib/evolve/fitness.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { openWeights, type WeightSet } from '../../lib/store/checkpoint.js';
import { BF16_BASE, FORTUNES, ROOT, tempDir } from '../helpers.js';
import { testConfig } from '../evolve/helpers.js';

const SCRIPT = path.join(ROOT, 'test', 'fixtures', 'score-model.mjs');
const PY_SCRIPT = path.join(ROOT, 'test', 'fixtures', 'score_model.py');
const hasPython = spawnSync('python3', ['--version']).status === 0;

/** The mean byte of a weight set's tensor data: what score-model.mjs computes from the file it is given. */
function meanByte(w: WeightSet): number {
  let sum = 0, n = 0;
  for (const name of w.names()) for (const c of w.chunks(name)) { for (const b of c) sum += b; n += c.byteLength; }
  return sum / n;
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe('fitness type command (an external evaluator)', function () {
  this.timeout(120_000);
  let weights: WeightSet;
  const logs: string[] = [];
  before(() => { weights = openWeights(BF16_BASE); });
  after(() => weights.close());

  function evaluator(mode: string, o: Partial<CommandEvaluatorOptions> = {}) {
    return createCommandEvaluator({ run: [process.execPath, SCRIPT, mode, '{model}'], timeoutS: 60, format: 'safetensors', carryFrom: FORTUNES, log: (l) => logs.push(l), ...o });
  }
  const score = (mode: string, o: Partial<CommandEvaluatorOptions> = {}, signal = new AbortController().signal): Promise<Fitness> => evaluator(mode, o)(weights, { signal });

  it('scores: the last stdout line gives the score and metrics, computed by the program from the weights it was given', async () => {
    const f = await score('good');
    assert.ok(Math.abs(f.score - meanByte(weights)) < 1e-9, `${f.score} vs ${meanByte(weights)}`);
    assert.deepEqual(f.metrics, { tensors: weights.names().length, data_bytes: weights.dataBytes });
    assert.equal(f.reason, undefined);
    assert.ok(logs.some((l) => /offspring are written to \S+/.test(l)), logs.join('\n'));
  });

  it('writes a Hugging Face folder (weights + carried config/tokenizer files) that exists during the run and is gone after', async () => {
    const dir = tempDir();
    const record = path.join(dir, 'record.json');
    const f = await score('good', { env: { RECORD_FILE: record, EXTRA: 'from-config' }, cwd: dir });
    assert.ok(Number.isFinite(f.score));
    const seen = JSON.parse(fs.readFileSync(record, 'utf8')) as { folder: string; files: string[]; cwd: string; env: string };
    assert.ok(seen.files.includes('model.safetensors') && seen.files.includes('config.json'), seen.files.join(', '));
    assert.equal(seen.cwd, fs.realpathSync(dir));
    assert.equal(seen.env, 'from-config');
    assert.equal(fs.existsSync(seen.folder), false, 'the materialized folder is removed');
    assert.equal(fs.existsSync(path.dirname(seen.folder)), false, 'and its temporary parent');
  });

  it('uses /dev/shm when it has room, else the temporary directory, and says which', async () => {
    const dir = tempDir();
    const record = path.join(dir, 'record.json');
    logs.length = 0;
    await score('good', { env: { RECORD_FILE: record }, shm: path.join(dir, 'no-such-shm') });
    const seen = JSON.parse(fs.readFileSync(record, 'utf8')) as { folder: string };
    assert.ok(!seen.folder.startsWith(path.join(dir, 'no-such-shm')), seen.folder);
    assert.match(logs.join('\n'), /no room in \/dev\/shm/);
  });

  it('a Python program works the same way', async function () {
    if (!hasPython) this.skip();
    const f = await createCommandEvaluator({ run: ['python3', PY_SCRIPT, '{model}'], timeoutS: 60, format: 'safetensors', carryFrom: FORTUNES, log: () => {} })(weights, { signal: new AbortController().signal });
    assert.ok(Math.abs(f.score - meanByte(weights)) < 1e-9, `${f.score}`);
    assert.deepEqual(f.metrics, { tensors: weights.names().length, n_layer: 4 });
  });

  it('exit code 3 -> -Infinity, the reason names the exit code and the end of stderr', async () => {
    const f = await score('exit3');
    assert.equal(f.score, -Infinity);
    assert.deepEqual(f.metrics, {});
    assert.match(f.reason!, /exit code 3/);
    assert.match(f.reason!, /CUDA out of memory \(pretend\)/);
  });

  it('a hang is killed after timeout_s -> -Infinity, "timed out"; the folder is removed', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    const f = await score('hang', { timeoutS: 1, env: { PID_FILE: pidFile, RECORD_FILE: path.join(dir, 'record.json') } });
    assert.equal(f.score, -Infinity);
    assert.match(f.reason!, /timed out after 1 s/);
    assert.equal(alive(Number(fs.readFileSync(pidFile, 'utf8'))), false);
    const seen = JSON.parse(fs.readFileSync(path.join(dir, 'record.json'), 'utf8')) as { folder: string };
    assert.equal(fs.existsSync(seen.folder), false);
  });

  it('a program that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    const f = await score('stubborn', { timeoutS: 1, graceMs: 300, env: { PID_FILE: pidFile } });
    assert.match(f.reason!, /timed out/);
    assert.equal(alive(Number(fs.readFileSync(pidFile, 'utf8'))), false);
  });

  for (const [mode, reason] of [['silent', /printed nothing/], ['high', /"score" is not a number: "high"/], ['nan', /score is NaN/]] as const) {
    it(`prints ${mode === 'silent' ? 'nothing' : mode === 'high' ? '{"score": "high"}' : 'NaN'} -> -Infinity with a reason`, async () => {
      const f = await score(mode);
      assert.equal(f.score, -Infinity);
      assert.match(f.reason!, reason);
    });
  }

  it('the AbortSignal kills the program; the evaluation rejects (cancelled, not a result) and the folder is removed', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    const record = path.join(dir, 'record.json');
    const controller = new AbortController();
    const pending = score('hang', { env: { PID_FILE: pidFile, RECORD_FILE: record } }, controller.signal);
    while (!fs.existsSync(record)) await new Promise((r) => setTimeout(r, 20));
    controller.abort(new Error('cancelled by the test'));
    await assert.rejects(pending, /cancelled by the test/);
    assert.equal(alive(Number(fs.readFileSync(pidFile, 'utf8'))), false);
    assert.equal(fs.existsSync((JSON.parse(fs.readFileSync(record, 'utf8')) as { folder: string }).folder), false);
  });

  it('bad configs are ConfigErrors naming the key', async () => {
    const file = path.join(FORTUNES, 'evolve.yaml');
    assert.throws(() => testConfig({ fitness: { type: 'command', run: [process.execPath, SCRIPT] } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.run' && /\{model\}/.test(e.message));
    assert.throws(() => testConfig({ fitness: { type: 'command', run: ['x', '{model}'], timeout_s: 0 } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.timeout_s');
    assert.throws(() => testConfig({ fitness: { type: 'command', run: ['x', '{model}'], format: 'onnx' } }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.format');
    await assert.rejects(evaluatorFor(testConfig({ fitness: { type: 'command', run: ['no-such-evaluator-program', '{model}'] } }), file), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.run[0]' && /not found on PATH/.test(e.message));
    await assert.rejects(evaluatorFor(testConfig({ fitness: { type: 'command', run: ['./fitness/missing.sh', '{model}'] } }), file), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.run[0]' && /not an executable/.test(e.message));
    const bert = tempDir();
    fs.writeFileSync(path.join(bert, 'config.json'), JSON.stringify({ architectures: ['BertModel'], model_type: 'bert' }));
    await assert.rejects(
      evaluatorFor(testConfig({ copy_files_from: bert, fitness: { type: 'command', run: [process.execPath, '{model}'], format: 'gguf' } }), file),
      (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.format' && /"BertModel".*cannot be exported to GGUF/.test(e.message),
    );
  });

  it('the bundled example evolves one generation end to end; failed trials are journaled with their reason', async () => {
    const counter = path.join(tempDir(), 'calls');
    const config = testConfig({
      generations: 1,
      fitness: { type: 'command', run: [process.execPath, SCRIPT, 'fail-after', '{model}'], timeout_s: 60, env: { COUNTER_FILE: counter, FAIL_AFTER: '7' } },
    });
    const evaluator = await evaluatorFor(config, path.join(FORTUNES, 'evolve.yaml'));
    const report = await new EvolutionRun({ config, evaluator }).run();
    assert.equal(report.initial.length, 5);
    for (const s of report.initial) assert.ok(Number.isFinite(s.fitness), String(s.fitness));
    const { entries } = readJournal(path.join(config.output, 'journal.jsonl'));
    assert.equal(entries.length, 5);
    // 5 initial evaluations + 2 trials score; the 3 later trials fail with exit code 3.
    assert.deepEqual(entries.map((e) => e.fitness === -Infinity), [false, false, true, true, true]);
    for (const e of entries.slice(2)) {
      assert.equal(e.accepted, false);
      assert.match(e.reason!, /exit code 3; stderr: something went wrong/);
    }
    assert.equal(fs.readFileSync(counter, 'utf8').length, 10);
  });

  it('format gguf: the program gets a .gguf file exported from the folder', async () => {
    const dir = tempDir();
    const record = path.join(dir, 'record.json');
    const f = await createCommandEvaluator({ run: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify({ file: process.argv[1], magic: require('fs').readFileSync(process.argv[1]).subarray(0, 4).toString() })); console.log('{"score": 1}')`, '{model}'], timeoutS: 60, format: 'gguf', carryFrom: FORTUNES, log: () => {} })(weights, { signal: new AbortController().signal });
    assert.equal(f.score, 1);
    const seen = JSON.parse(fs.readFileSync(record, 'utf8')) as { file: string; magic: string };
    assert.match(seen.file, /\.gguf$/);
    assert.equal(seen.magic, 'GGUF');
    assert.equal(fs.existsSync(seen.file), false);
  });

  describe('evolver eval --runtime command', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'eval', '--model', BF16_BASE, ...args], { encoding: 'utf8', cwd: ROOT });

    it('prints {"score", "metrics"} as the onnx runtime does', () => {
      const r = cli('--runtime', 'command', '--run', JSON.stringify([process.execPath, SCRIPT, 'good', '{model}']), '--json');
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as Fitness;
      assert.ok(Math.abs(out.score - meanByte(weights)) < 1e-9);
      assert.deepEqual(out.metrics, { tensors: weights.names().length, data_bytes: weights.dataBytes });
    });

    it('a failed evaluation prints its reason and exits with 1; a bad --run exits with 64', () => {
      const r = cli('--runtime', 'command', '--run', JSON.stringify([process.execPath, SCRIPT, 'exit3', '{model}']), '--json');
      assert.equal(r.status, 1);
      assert.match((JSON.parse(r.stdout.trim()) as { reason: string }).reason, /exit code 3/);
      assert.match(r.stderr, /evaluation failed: exit code 3/);
      const bad = cli('--runtime', 'command', '--run', '["python3", "score.py"]');
      assert.equal(bad.status, 64);
      assert.match(bad.stderr, /--run: no argument contains \{model\}/);
    });
  });
});
