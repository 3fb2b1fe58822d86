// Messages, flags and exit codes a new user meets first: a file that is not safetensors, mergekit's
// int8_mask, an existing output in every command, --version, --max-shard-size, and an npm setup
// that installs offline without warnings.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { WeightFileError } from '../lib/errors.js';
import { ExitCode } from '../lib/cli/exit.js';
import { parseByteSize } from '../lib/cli/merge-command.js';
import { loadMergeConfig, validateMergeConfig } from '../lib/merge/config.js';
import { runMerge } from '../lib/merge/run.js';
import { carriedFilesFolder } from '../lib/store/carried-files.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { BF16_BASE, FORTUNES, ROOT, assertWeightError, tempDir, writeTemp } from './helpers.js';

function evolver(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a file that is not safetensors says so', () => {
  const dir = tempDir();

  for (const [name, file] of [
    ['a JSON Lines data file', path.join(FORTUNES, 'data', 'work', 'dev.jsonl')],
    ['an ONNX graph', path.join(FORTUNES, 'lm.onnx')],
    ['a YAML config', path.join(FORTUNES, 'evolve.yaml')],
    ['a text file named .safetensors', writeTemp(dir, 'notes.safetensors', 'these are not weights\n')],
  ] as const) {
    it(`${name}: NOT_SAFETENSORS naming the file, exit 2`, () => {
      const err = assertWeightError(() => SafetensorsFile.open(file), 'NOT_SAFETENSORS', file);
      assert.match(err.message, /not a safetensors file/);
      const r = evolver('inspect', file);
      assert.equal(r.code, ExitCode.BadInput);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.includes(`[NOT_SAFETENSORS]: ${file}: not a safetensors file`), r.stderr);
    });
  }

  it('names the format it recognizes', () => {
    assert.throws(() => SafetensorsFile.open(path.join(FORTUNES, 'lm.onnx')), /an ONNX model/);
    assert.throws(() => SafetensorsFile.open(path.join(FORTUNES, 'data', 'work', 'dev.jsonl')), /JSON Lines text file \(it starts with "\{\\"text\\":"\)/);
    const gguf = writeTemp(dir, 'model.safetensors', Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(60, 3)]));
    assert.throws(() => SafetensorsFile.open(gguf), /GGUF/);
    // A torch.save zip keeps its header code and gets the conversion hint (test/bad-input.test.ts).
    const zip = writeTemp(dir, 'zip.safetensors', Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(60, 7)]));
    assert.throws(() => SafetensorsFile.open(zip), (e: unknown) => e instanceof WeightFileError && e.code !== 'NOT_SAFETENSORS' && /torch\.save/.test(e.message));
  });

  it('a plausible length followed by something that is not JSON', () => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 16n, true);
    bytes.fill(0x01, 8);
    const file = writeTemp(dir, 'binary.safetensors', bytes);
    assertWeightError(() => SafetensorsFile.open(file), 'NOT_SAFETENSORS', file);
  });

  it('a damaged safetensors length (no recognizable format) keeps its precise code', () => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    const file = writeTemp(dir, 'damaged.safetensors', bytes);
    assertWeightError(() => SafetensorsFile.open(file), 'HEADER_TOO_LARGE', file);
  });
});

describe("mergekit's int8_mask", () => {
  const dir = tempDir();
  const config = (extra: Record<string, unknown>) => ({
    models: [{ model: '../models-bf16/computers.safetensors', parameters: { weight: 1, density: 0.5 } }, { model: '../models-bf16/politics.safetensors', parameters: { weight: 1, density: 0.5 } }],
    merge_method: 'ties',
    base_model: '../models-bf16/base.safetensors',
    parameters: { lambda: 1, ...extra },
    dtype: 'bfloat16',
  });
  const file = path.join(FORTUNES, 'merges', 'ties.yml');

  it('is accepted as a global boolean and changes nothing in the result', async () => {
    const withMask = validateMergeConfig(config({ int8_mask: true }), file);
    assert.equal(withMask.parameters.int8_mask, undefined);
    const a = await runMerge(withMask, path.join(dir, 'with'));
    const b = await runMerge(validateMergeConfig(config({}), file), path.join(dir, 'without'));
    assert.deepEqual(a.shards, b.shards);
    for (const s of a.shards) assert.ok(fs.readFileSync(path.join(dir, 'with', s)).equals(fs.readFileSync(path.join(dir, 'without', s))), s);
  });

  it('a non-boolean value or a per-model int8_mask is an error naming the key', () => {
    assert.throws(() => validateMergeConfig(config({ int8_mask: 'yes' }), file), /parameters\.int8_mask.*true or false/);
    const perModel = config({});
    (perModel.models[0]!.parameters as Record<string, unknown>).int8_mask = true;
    assert.throws(() => validateMergeConfig(perModel, file), /models\[0\]\.parameters\.int8_mask.*global parameter/);
    assert.ok(loadMergeConfig(file));
  });
});

describe('an existing output exits with the same code in every command', function () {
  this.timeout(120_000);

  it('merge, evolve and onnx prepare: exit 73 with [OUTPUT_EXISTS], nothing overwritten', () => {
    const dir = tempDir();
    // merge: a folder holding weights
    const mergeOut = path.join(dir, 'merged');
    fs.mkdirSync(mergeOut);
    fs.copyFileSync(BF16_BASE, path.join(mergeOut, 'model.safetensors'));
    const merge = evolver('merge', path.join(FORTUNES, 'merges', 'ties.yml'), mergeOut);
    // evolve: a folder holding a run
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    fs.writeFileSync(path.join(runDir, 'run.json'), '{}\n');
    const cfg = path.join(dir, 'evolve.yaml');
    fs.writeFileSync(cfg, stringify({
      models: ['computers', 'politics'].map((m) => path.join(FORTUNES, 'models-bf16', `${m}.safetensors`)),
      output: runDir, seed: 1, generations: 1,
      fitness: { type: 'module', path: path.join(FORTUNES, 'fitness', 'weight-distance.mjs') },
    }));
    const evolve = evolver('evolve', cfg);
    // evolve: a folder that is not empty and holds no run (a leftover journal)
    const strayDir = path.join(dir, 'stray');
    fs.mkdirSync(strayDir);
    fs.writeFileSync(path.join(strayDir, 'journal.jsonl'), '');
    const cfg2 = path.join(dir, 'evolve-stray.yaml');
    fs.writeFileSync(cfg2, fs.readFileSync(cfg, 'utf8').replace(runDir, strayDir));
    const stray = evolver('evolve', cfg2);
    // onnx prepare: a folder holding a prepared graph
    const prepared = path.join(dir, 'prepared');
    fs.mkdirSync(prepared);
    fs.writeFileSync(path.join(prepared, 'model.onnx'), 'earlier result');
    const onnx = evolver('onnx', 'prepare', path.join(FORTUNES, 'lm.onnx'), prepared);
    for (const [name, r] of [['merge', merge], ['evolve', evolve], ['evolve (stray files)', stray], ['onnx prepare', onnx]] as const) {
      assert.equal(r.code, ExitCode.OutputExists, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /^evolver: error \[OUTPUT_EXISTS\]: /, name);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: ${r.stderr}`);
    }
    assert.match(evolve.stderr, /already holds a run.*--resume/);
    assert.ok(fs.readFileSync(path.join(mergeOut, 'model.safetensors')).equals(fs.readFileSync(BF16_BASE)));
    assert.equal(fs.readFileSync(path.join(prepared, 'model.onnx'), 'utf8'), 'earlier result');
  });
});

describe('flags', () => {
  it('--version and -V print the package version', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = evolver(flag);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
    }
  });

  it('--max-shard-size takes 5GB / 500MB / 1.5GiB and refuses 0, negatives and junk naming the flag', () => {
    assert.equal(parseByteSize('5GB', '--max-shard-size'), 5e9);
    assert.equal(parseByteSize('500MB', '--max-shard-size'), 5e8);
    assert.equal(parseByteSize('1.5GiB', '--max-shard-size'), 1.5 * 2 ** 30);
    assert.equal(parseByteSize('600 kb', '--max-shard-size'), 600_000);
    assert.equal(parseByteSize('2e9', '--max-shard-size'), 2e9);
    for (const bad of ['0', '0GB', '-1', '-5GB', 'abc', '5XB', '', '5B']) assert.throws(() => parseByteSize(bad, '--max-shard-size'), /^EvolverArgumentError: --max-shard-size: /, bad);
    assert.throws(() => parseByteSize('5B', '--max-shard-size'), /5 billion/);
    const dir = tempDir();
    for (const bad of ['0', '-1', 'lots']) {
      const r = evolver('merge', path.join(FORTUNES, 'merges', 'ties.yml'), path.join(dir, `out-${bad}`), '--max-shard-size', bad);
      assert.equal(r.code, ExitCode.Usage, r.stderr);
      assert.match(r.stderr, /--max-shard-size: /);
      assert.doesNotMatch(r.stderr, /--size/);
      assert.ok(!fs.existsSync(path.join(dir, `out-${bad}`, 'model.safetensors')));
    }
  });
});

describe('config.json for merges', () => {
  it('comes from the model folder, else (single file) the folder above; merge reports what it carried', () => {
    assert.equal(carriedFilesFolder(BF16_BASE), FORTUNES);  // models-bf16/ has none; examples/fortunes/ has one
    assert.equal(carriedFilesFolder(path.join(FORTUNES, 'models-bf16')), undefined);  // a folder: itself only
    const dir = tempDir();
    const out = path.join(dir, 'ties');
    const r = evolver('merge', path.join(FORTUNES, 'merges', 'ties.yml'), out, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).carried, ['config.json']);
    assert.ok(fs.readFileSync(path.join(out, 'config.json')).equals(fs.readFileSync(path.join(FORTUNES, 'config.json'))));
  });
});

describe('npm setup', () => {
  it('.npmrc sets no key npm does not know (npm 11 warns on every call); allowScripts skips the CUDA download', () => {
    const npmrc = fs.readFileSync(path.join(ROOT, '.npmrc'), 'utf8');
    assert.deepEqual(npmrc.split('\n').filter((l) => l.trim() && !/^\s*[#;]/.test(l)), []);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
    const r = spawnSync('npm', ['config', 'get', 'fund'], { cwd: ROOT, encoding: 'utf8' });
    if (r.error) return;  // no npm on PATH: nothing more to check
    assert.doesNotMatch(r.stderr, /Unknown (project|env|user) config/);
  });
});
