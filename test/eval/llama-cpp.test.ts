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
import { skipWithoutLlamaCpp } from './llama-cpp-available.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { GgufFile } from '../../lib/store/gguf.js';
import { kv, withKV, writeGguf } from '../../lib/store/gguf-writer.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { BF16_BASE, F32_BASE, FORTUNES, ROOT, tempDir, writeTemp } from '../helpers.js';
import { BF16_MODELS, testConfig } from '../evolve/helpers.js';
import { type LlamaShape, llamaMeanNll } from './llama-reference.js';

/** HF tensor shapes of a Llama checkpoint (untied lm_head). */
function llamaTensorShapes(s: LlamaShape): Record<string, number[]> {
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [s.vocab, s.hidden], 'model.norm.weight': [s.hidden], 'lm_head.weight': [s.vocab, s.hidden] };
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    Object.assign(shapes, {
      [`${p}.input_layernorm.weight`]: [s.hidden], [`${p}.post_attention_layernorm.weight`]: [s.hidden],
      [`${p}.self_attn.q_proj.weight`]: [s.heads * s.headDim, s.hidden], [`${p}.self_attn.k_proj.weight`]: [s.kvHeads * s.headDim, s.hidden],
      [`${p}.self_attn.v_proj.weight`]: [s.kvHeads * s.headDim, s.hidden], [`${p}.self_attn.o_proj.weight`]: [s.hidden, s.heads * s.headDim],
      [`${p}.mlp.gate_proj.weight`]: [s.ff, s.hidden], [`${p}.mlp.up_proj.weight`]: [s.ff, s.hidden], [`${p}.mlp.down_proj.weight`]: [s.hidden, s.ff],
    });
  }
  return shapes;
}

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

  before(skipWithoutLlamaCpp);

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
        // One scratch folder, kept for the next offspring (rewritten in place), gone at close().
        assert.equal(fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`evolver-llama-${process.pid}-`)).length, 1);
      } finally {
        await evaluator.close();
      }
      assert.deepEqual(fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`evolver-llama-${process.pid}-`)), []);
    });
  }

  it('a random Llama-layout checkpoint (4 heads over 2 key/value heads, RoPE) scores like a plain TypeScript forward pass', async () => {
    const dir = tempDir();
    const shape: LlamaShape = { hidden: 32, heads: 4, kvHeads: 2, headDim: 8, ff: 48, vocab: 257, layers: 2, eps: 1e-5, ropeTheta: 10000 };
    const file = path.join(dir, 'model.safetensors');
    const tensors = llamaTensorShapes(shape);
    const w = SafetensorsWriter.create(file, { tensors: Object.entries(tensors).map(([name, t]) => ({ name, dtype: 'F32', shape: t })) });
    let seed = 12345;
    const random = () => {  // mulberry32: a fixed checkpoint, so a failure reproduces
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (const [name, t] of Object.entries(tensors)) {
      const v = w.view(name) as Float32Array;
      // Norm weights near 1, matrices scaled by 1/sqrt(fan-in) times 2: peaked but finite predictions.
      for (let i = 0; i < v.length; i++) v[i] = t.length === 1 ? 1 + (random() - 0.5) * 0.4 : ((random() * 2 - 1) * 2 * Math.sqrt(3)) / Math.sqrt(t[1]!);
    }
    w.commit();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: shape.hidden, num_attention_heads: shape.heads, num_key_value_heads: shape.kvHeads,
      num_hidden_layers: shape.layers, intermediate_size: shape.ff, vocab_size: shape.vocab, max_position_embeddings: 64, rms_norm_eps: shape.eps, rope_theta: shape.ropeTheta,
      bos_token_id: 256, eos_token_id: 256, tie_word_embeddings: false,
    }));
    const texts = ['The quick brown fox jumps over the lazy dog.', 'Llamas hum.', 'RoPE rotates pairs of dimensions by position; a wrong permutation shows here.'];
    const data = writeTemp(dir, 'dev.jsonl', texts.map((t) => JSON.stringify({ text: t })).join('\n'));
    const evaluator = createLlamaCppEvaluator({ data: [data], modelFolder: dir, threads: 2, log: quiet });
    try {
      using weights = openWeights(file);
      const got = (await evaluator.evaluateSets(weights))[data]!;
      // The evaluator's protocol: bytes, the end token, truncated to the context (max_position_embeddings).
      const sequences = texts.map((t) => [...Buffer.from(t, 'utf8'), 256].slice(0, 64));
      assert.ok(sequences.some((q, i) => q.length < Buffer.byteLength(texts[i]!) + 1), 'one text is truncated');
      const want = llamaMeanNll((n) => weights.view(n) as Float32Array, shape, sequences);
      assert.ok(want > 0.5, `the random model predicts something (reference NLL ${want})`);
      assert.ok(Math.abs(got - want) <= 2e-3, `llama.cpp ${got}, TypeScript reference ${want}`);
    } finally {
      await evaluator.close();
    }
  });

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

  it('NaN weights give fitness -Infinity with a reason (the trial is rejected, not the run)', async () => {
    const dir = tempDir();
    using src = openWeights(BF16_BASE);
    const nanFile = path.join(dir, 'nan.safetensors');
    const w = SafetensorsWriter.create(nanFile, { tensors: src.names().map((n) => src.meta(n)) });
    for (const n of src.names()) w.write(n, src.chunks(n));
    (w.view('transformer.h.0.mlp.c_fc.weight') as Uint16Array).fill(0x7fc0);
    w.commit();
    const small = writeTemp(dir, 'small.jsonl', '{"text": "NaN in, NaN out."}\n');
    const evaluator = createLlamaCppEvaluator({ data: [small], modelFolder: FORTUNES, threads: 2, log: quiet });
    try {
      using nan = openWeights(nanFile);
      const f = await evaluator(nan, { signal: new AbortController().signal });
      assert.equal(f.score, -Infinity);
      assert.match(f.reason ?? '', /non-finite mean NLL/);
    } finally {
      await evaluator.close();
    }
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
