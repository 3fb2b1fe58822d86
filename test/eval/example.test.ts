// The README's main command on the bundled example, shortened to one generation: it runs from
// the repository as shipped and ends with the held-out table.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { parse, stringify } from 'yaml';

import { FORTUNES, ROOT, tempDir } from '../helpers.js';

describe('the bundled example (examples/fortunes/evolve.yaml)', function () {
  this.timeout(300_000);
  it('evolves with ONNX dev NLL and prints the test-set table with merges and the evolved model', () => {
    const config = parse(fs.readFileSync(path.join(FORTUNES, 'evolve.yaml'), 'utf8'));
    const dir = tempDir();
    // Same config, one generation, output in a temporary folder; paths stay relative to the example.
    const file = path.join(FORTUNES, `.evolve-test-${process.pid}.yaml`);
    // The depth search shortened too (one block group, one sweep: at most 24 merges scored instead of 120).
    const initial_merges = { ...config.initial_merges, depth_search: { ...config.initial_merges.depth_search, groups: 1, sweeps: 1 } };
    fs.writeFileSync(file, stringify({ ...config, initial_merges, generations: 1, output: path.join(dir, 'run'), final_table: { ...config.final_table, merges: { ...config.final_table.merges, task_arithmetic: [0.3, 0.5], ties: { density: 0.5, lambdas: [1.0] } } } }));
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'evolve', file], { encoding: 'utf8', cwd: ROOT });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /Held-out sets \(nll\)/);
      for (const row of ['computers', 'base', 'average', 'task_arithmetic', 'ties', 'task_arithmetic by depth', 'evolved']) assert.match(r.stdout, new RegExp(`^\\| ${row}`, 'm'), row);
      const report = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'report.json'), 'utf8'));
      assert.equal(report.finalTable.rows.length, 10);
      // The merged member (task arithmetic, λ on dev, refined by depth on dev) starts best; one
      // generation already improves the population, and the best never gets worse.
      assert.equal(report.initial.length, 5, 'four fine-tunes and the task-arithmetic member');
      const ta = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'run.json'), 'utf8')).initialMerges[0];
      assert.ok(ta.depthSearch.to > ta.depthSearch.from, `the depth search improved the member on dev (${ta.depthSearch.from} -> ${ta.depthSearch.to})`);
      assert.equal(report.initial[4].fitness, ta.depthSearch.to);
      assert.equal(Math.max(...report.initial.map((s: { fitness: number }) => s.fitness)), ta.depthSearch.to, 'the refined merge is the best initial member');
      const byDepth = report.finalTable.rows.find((r: { name: string }) => r.name === 'task_arithmetic by depth');
      const plain = report.finalTable.rows.find((r: { name: string }) => r.name === 'task_arithmetic');
      assert.ok(byDepth.inDomainMean < plain.inDomainMean, 'on the test sets too, it beats one λ in domain');
      const mean = (xs: { fitness: number }[]) => xs.reduce((a, x) => a + x.fitness, 0) / xs.length;
      assert.ok(mean(report.final) > mean(report.initial), 'one generation already improves the dev fitness of the population');
      assert.ok(report.finalBest >= report.initialBest);
      assert.ok(report.throughput.evaluationsPerMinute > 0);
      assert.match(fs.readFileSync(path.join(dir, 'run', 'report.html'), 'utf8'), /Held-out sets/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
