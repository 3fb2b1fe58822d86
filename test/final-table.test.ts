// The held-out table a run ends with (lib/eval/table.ts): progress, the merges' dtype, what is
// kept of them, and their config.json.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { type FinalTableOptions, buildFinalTable, finalTableSteps, mergeKey } from '../lib/eval/table.js';
import type { Evaluator } from '../lib/evolve/evaluator.js';
import { resolvePaths, validateConfig } from '../lib/evolve/config.js';
import { inspect } from '../lib/store/inspect.js';
import { BF16_BASE, DOMAINS, FORTUNES, tempDir } from './helpers.js';

function tableConfig() {
  return resolvePaths(validateConfig({
    models: DOMAINS.map((d) => `models-bf16/${d}.safetensors`),
    output: 'unused',
    seed: 1,
    fitness: { type: 'onnx', graph: 'lm.onnx', metric: 'nll', data: ['data/computers/dev.jsonl'] },
    final_table: {
      sets: { computers: 'data/computers/test.jsonl', work: 'data/work/test.jsonl' },
      in_domain: ['computers'],
      out_of_domain: ['work'],
      baselines: { base: 'models-bf16/base.safetensors' },
      merges: { base: 'models-bf16/base.safetensors', average: true, task_arithmetic: [0.3, 0.5], ties: { density: 0.5, lambdas: [0.5, 1.0] } },
    },
  }, 'table-test'), FORTUNES);
}

/** A dev "fitness" that prefers λ = 0.5 (read from the merge's metadata): no model run needed. */
const devEvaluator: Evaluator = async (weights) => {
  const merge = JSON.parse(weights.metadata.evolver_merge ?? '{}') as { lambda?: number };
  return { score: merge.lambda === 0.5 ? 1 : 0, metrics: {} };
};

describe('final table (buildFinalTable)', function () {
  this.timeout(120_000);

  it('reports progress step by step, writes merges in the inputs\' dtype and drops them by default', async () => {
    const config = tableConfig();
    const work = path.join(tempDir(), 'merges');
    const calls: [number, number, string][] = [];
    const logged: string[] = [];
    const seenMerges = new Set<string>();
    const table = await buildFinalTable(config, BF16_BASE, work, devEvaluator, {
      log: (l) => logged.push(l),
      onProgress: (done, total, label) => {
        calls.push([done, total, label]);
        // While the table runs, the merges on disk are bf16 like the inputs, one folder each.
        if (fs.existsSync(work)) {
          for (const d of fs.readdirSync(work)) {
            const info = inspect(path.join(work, d));
            assert.ok(info.tensors.every((t) => t.dtype === 'BF16'), `${d}: ${[...new Set(info.tensors.map((t) => t.dtype))].join(', ')}`);
            seenMerges.add(d);
          }
        }
      },
    });
    // 4 models + base + average + task arithmetic (2 candidates + its row) + ties (2 + 1) + evolved
    const total = finalTableSteps(config);
    assert.equal(total, 4 + 1 + 1 + 3 + 3 + 1);
    assert.ok(calls.every(([, t]) => t === total));
    assert.deepEqual(calls.at(-1), [total, total, 'done']);
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i]![0] >= calls[i - 1]![0] && calls[i]![0] <= calls[i - 1]![0] + 1, `monotone by one: ${JSON.stringify(calls)}`);
    assert.ok(calls.some(([, , l]) => /task_arithmetic λ = 0\.3: dev sets/.test(l)));
    assert.equal(table.rows.length, 9);
    assert.equal(logged.length, 9, 'the log callback still gets a line per row');
    assert.equal(table.rows.find((r) => r.name === 'task_arithmetic')!.note, 'λ = 0.5 chosen on dev');
    assert.equal(table.rows.find((r) => r.name === 'ties')!.note, 'density 0.5, λ = 0.5 chosen on dev');
    assert.ok(seenMerges.size > 0, 'the merges were observed on disk while the table ran');
    assert.ok(!fs.existsSync(work), 'merges/ is removed after the table unless kept');
  });

  it('rows for the initial members; known dev scores choose a merge row without scoring its candidates again', async () => {
    const config = tableConfig();
    const work = path.join(tempDir(), 'merges');
    const devCalls: string[] = [];
    const counting: Evaluator = async (weights, o) => {
      devCalls.push(weights.metadata.evolver_merge ?? '');
      return devEvaluator(weights, o);
    };
    const calls: [number, number][] = [];
    // The run's initial merges said λ = 0.3 is best (the evaluator here would pick 0.5): the table trusts them.
    const knownDevScores = new Map([[mergeKey({ kind: 'task_arithmetic', lambda: 0.3 }), -1], [mergeKey({ kind: 'task_arithmetic', lambda: 0.5 }), -2]]);
    const initialMembers = [{ name: 'task_arithmetic by depth', file: path.join(FORTUNES, 'models-bf16', 'science.safetensors'), note: 'initial member' }];
    const table = await buildFinalTable(config, BF16_BASE, work, counting, { knownDevScores, initialMembers, onProgress: (done, total) => calls.push([done, total]) });
    assert.equal(table.rows.find((r) => r.name === 'task_arithmetic')!.note, 'λ = 0.3 chosen on dev');
    assert.ok(devCalls.every((m) => !m.includes('task_arithmetic')), `task arithmetic was not scored again: ${devCalls.join(' ')}`);
    assert.equal(devCalls.length, 2, 'the ties candidates (not known) are scored');
    assert.deepEqual(table.rows.slice(-2).map((r) => r.name), ['task_arithmetic by depth', 'evolved']);
    const science = table.rows.find((r) => r.name === 'science')!;
    assert.deepEqual(table.rows.at(-2)!.values, science.values, 'the initial member row scores its file');
    assert.deepEqual(calls.at(-1), [finalTableSteps(config) + 1, finalTableSteps(config) + 1]);

    // Only some candidates known: the row scores all of them again (the evaluator's choice, 0.5).
    devCalls.length = 0;
    const partly = new Map([[mergeKey({ kind: 'task_arithmetic', lambda: 0.3 }), 5]]);
    const again = await buildFinalTable(config, BF16_BASE, path.join(tempDir(), 'merges'), counting, { knownDevScores: partly });
    assert.equal(again.rows.find((r) => r.name === 'task_arithmetic')!.note, 'λ = 0.5 chosen on dev');
    assert.equal(devCalls.length, 4, 'both task-arithmetic and both TIES candidates are scored');
  });

  it('keepMerges keeps every merge as a Hugging Face folder with config.json (a log function still works as the 5th argument)', async () => {
    const config = tableConfig();
    const work = path.join(tempDir(), 'merges');
    const options: FinalTableOptions = { keepMerges: true };
    await buildFinalTable(config, BF16_BASE, work, devEvaluator, options);
    const kept = fs.readdirSync(work).sort();
    assert.deepEqual(kept, ['average', 'task_arithmetic-lambda0.3', 'task_arithmetic-lambda0.5', 'ties-density0.5-lambda0.5', 'ties-density0.5-lambda1']);
    for (const d of kept) {
      // models-bf16/ has no config.json: it comes from the folder above (examples/fortunes/).
      assert.deepEqual(fs.readFileSync(path.join(work, d, 'config.json')), fs.readFileSync(path.join(FORTUNES, 'config.json')));
      const info = inspect(path.join(work, d));
      assert.equal(info.parameters, 842_624);
      assert.ok(info.tensors.every((t) => t.dtype === 'BF16'));
    }
    // The old signature: (config, best, workDir, devEvaluator, log)
    const lines: string[] = [];
    const work2 = path.join(tempDir(), 'merges');
    const small = { ...config, final_table: { ...config.final_table!, merges: { ...config.final_table!.merges!, task_arithmetic: [], ties: undefined } } };
    await buildFinalTable(small, BF16_BASE, work2, devEvaluator, (l) => lines.push(l));
    assert.deepEqual(lines.map((l) => l.replace(/^table: /, '').replace(/ done$/, '')), [...DOMAINS, 'base', 'average', 'evolved']);
    assert.ok(!fs.existsSync(work2));
  });
});
