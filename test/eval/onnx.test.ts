import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { EvalDataError } from '../../lib/eval/data.js';
import { GraphError, createOnnxEvaluator } from '../../lib/eval/onnx.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { prepareOnnx } from '../../lib/onnx/prepare.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { writeCheckpoint } from '../../lib/store/write-checkpoint.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { BF16_BASE, F32_BASE, FORTUNES, ROOT, tempDir, writeTemp } from '../helpers.js';
import { testConfig } from '../evolve/helpers.js';
import { exportWithInitializers, graphWithAttentionMask, graphWithHiddenOutput } from './graphs.js';

const GRAPH = path.join(FORTUNES, 'lm.onnx');
const DEV = path.join(FORTUNES, 'data', 'computers', 'dev.jsonl');
const reference = JSON.parse(fs.readFileSync(path.join(FORTUNES, 'reference.json'), 'utf8'));

describe('ONNX evaluator: bad input, prepare, eval CLI', function () {
  this.timeout(120_000);

  it('a graph whose weights are initializers is refused with the prepare command; prepare fixes it (round trip)', async () => {
    const dir = tempDir();
    for (const keepAsInputs of [false, true]) {
      const exported = exportWithInitializers(path.join(dir, `export-${keepAsInputs}.onnx`), keepAsInputs);
      fs.copyFileSync(path.join(FORTUNES, 'config.json'), path.join(dir, 'config.json'));  // carried to the prepared folder
      await assert.rejects(createOnnxEvaluator({ graph: exported, data: [DEV] }), (e: unknown) => e instanceof GraphError && /onnx prepare/.test((e as Error).message));
      const out = path.join(dir, `prepared-${keepAsInputs}`);
      const r = prepareOnnx(exported, out);
      assert.equal(r.moved, 52);
      using base = openWeights(F32_BASE);
      using prepared = openWeights(r.weights);
      assert.deepEqual(prepared.names(), base.names());
      for (const name of base.names()) assert.ok(Buffer.from(prepared.bytes(name)).equals(Buffer.from(base.bytes(name))), name);
      const evaluator = await createOnnxEvaluator({ graph: r.graph, data: [DEV] });
      assert.ok(fs.existsSync(path.join(out, 'config.json')));
      const nll = (await evaluator.evaluateSets(prepared))[DEV]!;
      assert.ok(Math.abs(nll - reference.float32.models.base.nll.computers.dev) < 1e-4, `${nll}`);
      await evaluator.close();
    }
  });

  it('missing, extra or misshapen tensors are named before anything runs', async () => {
    const evaluator = await createOnnxEvaluator({ graph: GRAPH, data: [DEV] });
    const dir = tempDir();
    using base = openWeights(F32_BASE);
    const variant = (file: string, edit: (names: string[]) => { name: string; shape: number[] }[]) => {
      const plan = edit(base.names());
      const w = SafetensorsWriter.create(path.join(dir, file), { tensors: plan.map((p) => ({ ...p, dtype: 'F32' as const })) });
      w.commit();
      return openWeights(path.join(dir, file));
    };
    const shapes = (names: string[]) => names.map((n) => ({ name: n, shape: [...base.meta(n).shape] }));
    using missing = variant('missing.safetensors', (n) => shapes(n.filter((x) => x !== 'transformer.ln_f.bias')));
    await assert.rejects(evaluator.evaluateSets(missing), (e: unknown) => e instanceof GraphError && /transformer\.ln_f\.bias/.test((e as Error).message));
    using extra = variant('extra.safetensors', (n) => [...shapes(n), { name: 'lm_head.weight', shape: [257, 128] }]);
    await assert.rejects(evaluator.evaluateSets(extra), (e: unknown) => e instanceof GraphError && /lm_head\.weight.*silently ignore/.test((e as Error).message));
    using wrong = variant('wrong.safetensors', (n) => shapes(n).map((s) => (s.name === 'transformer.wpe.weight' ? { ...s, shape: [64, 128] } : s)));
    await assert.rejects(evaluator.evaluateSets(wrong), (e: unknown) => e instanceof GraphError && /transformer\.wpe\.weight.*\[64,128\]/.test((e as Error).message));
    await evaluator.close();
  });

  it('feeds attention_mask when the graph takes one (exports often do)', async () => {
    const graph = graphWithAttentionMask(path.join(tempDir(), 'masked.onnx'));
    const evaluator = await createOnnxEvaluator({ graph, data: [DEV], maxLength: 128, endToken: 256 });
    using base = openWeights(F32_BASE);
    const nll = (await evaluator.evaluateSets(base))[DEV]!;
    assert.ok(Math.abs(nll - reference.float32.models.base.nll.computers.dev) < 1e-4);
    await evaluator.close();
  });

  it('dev files that are not JSONL, lack the field, or are empty; an unexpected output shape', async () => {
    const dir = tempDir();
    const notJson = writeTemp(dir, 'a.jsonl', '{"text": "ok"}\nnot json\n');
    await assert.rejects(createOnnxEvaluator({ graph: GRAPH, data: [notJson] }), (e: unknown) => e instanceof EvalDataError && /line 2 is not JSON/.test((e as Error).message) && (e as Error).message.includes(notJson));
    const noField = writeTemp(dir, 'b.jsonl', '{"body": "x"}\n');
    await assert.rejects(createOnnxEvaluator({ graph: GRAPH, data: [noField] }), (e: unknown) => e instanceof EvalDataError && /no 'text'/.test((e as Error).message));
    const empty = writeTemp(dir, 'c.jsonl', '\n');
    await assert.rejects(createOnnxEvaluator({ graph: GRAPH, data: [empty] }), (e: unknown) => e instanceof EvalDataError && /empty/.test((e as Error).message));
    const noLabel = writeTemp(dir, 'd.jsonl', '{"text": "abc"}\n');
    await assert.rejects(createOnnxEvaluator({ graph: GRAPH, data: [noLabel], metric: 'accuracy' }), (e: unknown) => e instanceof EvalDataError && /'label'/.test((e as Error).message));
    const hidden = graphWithHiddenOutput(path.join(dir, 'hidden.onnx'));
    const evaluator = await createOnnxEvaluator({ graph: hidden, data: [DEV], maxLength: 128, endToken: 256 });
    using base = openWeights(F32_BASE);
    await assert.rejects(evaluator.evaluateSets(base), (e: unknown) => e instanceof GraphError && /128 logits per position, but the data hold token id 256/.test((e as Error).message));
    await evaluator.close();
  });

  it('evolver eval --json on a sharded bf16 folder: the reference NLL per file, score = minus the mean', () => {
    const dir = tempDir();
    using src = openWeights(BF16_BASE);
    writeCheckpoint(src, dir, { maxShardBytes: 500_000 });
    const data = ['computers', 'work'].map((c) => path.join(FORTUNES, 'data', c, 'test.jsonl'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'eval', '--model', dir, '--graph', GRAPH, '--data', ...data, '--metric', 'nll', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const want = [reference.bfloat16.models.base.nll.computers.test, reference.bfloat16.models.base.nll.work.test];
    data.forEach((f, i) => assert.ok(Math.abs(out.metrics[f] - want[i]) < 1e-4, `${f}: ${out.metrics[f]} vs ${want[i]}`));
    assert.ok(Math.abs(out.score + (out.metrics[data[0]!] + out.metrics[data[1]!]) / 2) < 1e-12);
  });

  it('a member with NaN weights: fitness -Infinity, its trials rejected with a reason, the run goes on', async () => {
    const dir = tempDir();
    using src = openWeights(BF16_BASE);
    const nanFile = path.join(dir, 'nan.safetensors');
    const w = SafetensorsWriter.create(nanFile, { tensors: src.names().map((n) => src.meta(n)) });
    for (const n of src.names()) w.write(n, src.chunks(n));
    (w.view('transformer.h.0.mlp.c_fc.weight') as Uint16Array).fill(0x7fc0);
    w.commit();
    const models = ['computers', 'politics'].map((d) => path.join(FORTUNES, 'models-bf16', `${d}.safetensors`));
    const config = { ...testConfig({ strategy: 'interp', generations: 1, models: [...models, nanFile] }), fitness: { type: 'onnx' as const, graph: GRAPH, data: [DEV], metric: 'nll' as const, batch_size: 32, provider: 'cpu' as const, text_field: 'text', label_field: 'label' } };
    const { evaluatorFor } = await import('../../lib/evolve/fitness.js');
    const report = await new EvolutionRun({ config, evaluator: await evaluatorFor(config, 'test') }).run();
    assert.equal(report.initial[2]!.fitness, -Infinity);
    const entries = readJournal(path.join(config.output, 'journal.jsonl')).entries;
    assert.equal(entries.length, 3);
    assert.ok(entries.some((e) => !e.accepted && /NaN/.test(e.reason ?? '')), JSON.stringify(entries.map((e) => [e.fitness, e.reason])));
  });
});
