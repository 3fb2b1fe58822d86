import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { EvalDataError } from '../../lib/eval/data.js';
import { GgufNotLoadableError, checkLoadableGguf } from '../../lib/eval/gguf-loadable.js';
import { createLlamaCppEvaluator } from '../../lib/eval/llama-cpp.js';
import { LlamaCppMissingError, importNodeLlamaCpp, runtimeHooks } from '../../lib/eval/llama-cpp-runtime.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { evaluatorFor } from '../../lib/evolve/fitness.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { exportGguf } from '../../lib/export/gguf-export.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { GgufFile } from '../../lib/store/gguf.js';
import { kv, withKV, writeGguf } from '../../lib/store/gguf-writer.js';
import { BF16_BASE, F32_BASE, FORTUNES, ROOT, tempDir, writeTemp } from '../helpers.js';
import { BF16_MODELS, testConfig } from '../evolve/helpers.js';

const reference = JSON.parse(fs.readFileSync(path.join(FORTUNES, 'reference.json'), 'utf8'));
const SETS = ['computers', 'politics', 'science', 'songs-poems', 'people', 'work'] as const;
const dev = (d: string) => path.join(FORTUNES, 'data', d, 'dev.jsonl');
const quiet = () => undefined;

/** A GGUF of the f32 base with some key/value pairs changed. */
async function ggufWith(dir: string, name: string, changes: Parameters<typeof withKV>[1]): Promise<string> {
  const plain = path.join(dir, `${name}-plain.gguf`);
  await exportGguf(F32_BASE, plain, { config: path.join(FORTUNES, 'config.json') });
  const g = GgufFile.open(plain);
  const out = path.join(dir, `${name}.gguf`);
  try {
    writeGguf(out, { kv: withKV(g.kv, changes), tensors: g.tensors().map((t) => ({ name: t.name, type: t.ggmlType, shape: t.shape })) }, (n) => g.chunks(n));
  } finally {
    g.close();
  }
  return out;
}

describe('llama.cpp evaluator (node-llama-cpp)', function () {
  this.timeout(300_000);

  before(async function () {
    try {
      await importNodeLlamaCpp();
    } catch (err) {
      console.log(`    skipped: node-llama-cpp cannot be imported (${(err as Error).message})`);
      this.skip();
    }
  });

  for (const [folder, key, tolerance] of [['models', 'float32', 1e-4], ['models-bf16', 'bfloat16', 2e-3]] as const) {
    it(`scores the bundled ${key} base on all six dev sets like the ONNX reference (within ${tolerance})`, async () => {
      const lines: string[] = [];
      const evaluator = createLlamaCppEvaluator({ data: SETS.map(dev), modelFolder: FORTUNES, threads: 2, log: (l) => lines.push(l) });
      try {
        using weights = openWeights(path.join(FORTUNES, folder, 'base.safetensors'));
        const fitness = await evaluator(weights, { signal: new AbortController().signal });
        for (const d of SETS) {
          const got = fitness.metrics[`nll:${dev(d)}`]!;
          const want = reference[key].models.base.nll[d].dev as number;
          assert.ok(Math.abs(got - want) <= tolerance, `${d}: llama.cpp ${got}, reference ${want}`);
        }
        const mean = SETS.reduce((a, d) => a + fitness.metrics[`nll:${dev(d)}`]!, 0) / SETS.length;
        assert.ok(Math.abs(fitness.score + mean) < 1e-12);
        assert.ok(evaluator.device !== undefined && lines.some((l) => l.includes(`llama.cpp fitness: ${evaluator.device}`)), lines.join('\n'));
        assert.equal(evaluator.timings.evaluations, 1);
        // The offspring's GGUF is gone once scored.
        assert.deepEqual(fs.readdirSync('/dev/shm').filter((f) => f.startsWith('evolver-llama-')), []);
      } finally {
        await evaluator.close();
      }
    });
  }

  it('evolves the bundled example for one generation with fitness type llama.cpp', async () => {
    const config = testConfig({ strategy: 'interp', generations: 1, copy_files_from: '.', fitness: { type: 'llama.cpp', data: [dev('computers')], threads: 2, gpu_layers: 0 } });
    const evaluator = await evaluatorFor(config, 'test');
    const report = await new EvolutionRun({ config, evaluator }).run();
    // The initial members are the inputs: their fitness is minus their reference dev NLL.
    const computers = report.initial.find((m) => m.model === BF16_MODELS[0]);
    assert.ok(computers !== undefined, JSON.stringify(report.initial));
    assert.ok(Math.abs(-computers.fitness - reference.bfloat16.models.computers.nll.computers.dev) < 2e-3, JSON.stringify(report.initial));
    const entries = readJournal(path.join(config.output, 'journal.jsonl')).entries;
    assert.ok(entries.length >= 1);
    for (const e of entries) assert.ok(Number.isFinite(e.fitness) && e.metrics[`nll:${dev('computers')}`] !== undefined, JSON.stringify(e));
    await (evaluator as { close(): Promise<void> }).close();
  });

  it('refuses a GGUF whose tokenizer model is "none" before llama.cpp loads it (which would abort the process)', async () => {
    const dir = tempDir();
    const none = await ggufWith(dir, 'none', [kv('tokenizer.ggml.model', 'string', 'none')]);
    const evaluator = createLlamaCppEvaluator({ data: [dev('work')], modelFolder: FORTUNES, threads: 2, log: quiet });
    try {
      await assert.rejects(evaluator.evaluateGgufSets(none), (e: unknown) => e instanceof GgufNotLoadableError && e.file === none && /"none"/.test(e.message));
      assert.equal(evaluator.device, undefined);  // llama.cpp was never started
    } finally {
      await evaluator.close();
    }
    const noTokens = await ggufWith(dir, 'no-tokens', [{ key: 'tokenizer.ggml.tokens', remove: true }]);
    assert.throws(() => checkLoadableGguf(noTokens), /tokenizer\.ggml\.tokens/);
    const noMerges = await ggufWith(dir, 'no-merges', [{ key: 'tokenizer.ggml.merges', remove: true }]);
    assert.throws(() => checkLoadableGguf(noMerges), /merges/);
    assert.throws(() => checkLoadableGguf(none.replace('none.gguf', 'none-plain.gguf'), 257), /257 tokens but the data hold token id 257/);
  });

  it('a bad data file is a clear error naming the file and line, before anything loads', () => {
    const dir = tempDir();
    const bad = writeTemp(dir, 'bad.jsonl', '{"text": "fine"}\nnot json\n');
    assert.throws(() => createLlamaCppEvaluator({ data: [bad], modelFolder: FORTUNES }), (e: unknown) => e instanceof EvalDataError && e.file === bad && e.line === 2);
    const missing = path.join(dir, 'missing.jsonl');
    assert.throws(() => createLlamaCppEvaluator({ data: [missing], modelFolder: FORTUNES }), (e: unknown) => e instanceof EvalDataError && /missing\.jsonl: cannot read \(ENOENT\)/.test((e as Error).message));
  });

  it('evolver eval --runtime llama.cpp prints the same JSON as the onnx runtime', () => {
    const data = ['--data', dev('work'), '--data', dev('people')];
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'eval', '--model', BF16_BASE, ...data, '--json', ...args], { encoding: 'utf8', cwd: ROOT });
    const llama = run(['--runtime', 'llama.cpp', '--config', path.join(FORTUNES, 'config.json'), '--threads', '2']);
    assert.equal(llama.status, 0, llama.stderr);
    const onnx = run(['--graph', path.join(FORTUNES, 'lm.onnx')]);
    assert.equal(onnx.status, 0, onnx.stderr);
    const a = JSON.parse(llama.stdout), b = JSON.parse(onnx.stdout);
    assert.deepEqual(Object.keys(a.metrics), Object.keys(b.metrics));
    assert.ok(Math.abs(a.score - b.score) < 2e-3, `${a.score} vs ${b.score}`);
  });
});

describe('llama.cpp runtime without node-llama-cpp', () => {
  it('says which package to install', async () => {
    const saved = runtimeHooks.specifier;
    runtimeHooks.specifier = 'node-llama-cpp-that-is-not-installed';
    try {
      await assert.rejects(importNodeLlamaCpp(), (e: unknown) => e instanceof LlamaCppMissingError && /npm install node-llama-cpp@3\.21\.1/.test((e as Error).message));
    } finally {
      runtimeHooks.specifier = saved;
    }
  });
});
