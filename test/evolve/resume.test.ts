// Kill a run with SIGKILL at random moments, resume it each time, and check the final weights
// are bit-identical to an uninterrupted run with the same seed, with no trial lost or repeated.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { RUN_SEED, rng } from '../kernels/inputs.js';
import { ROOT, tempDir } from '../helpers.js';
import { distanceEvaluator, testConfig } from './helpers.js';

function cli(args: string[]): { done: Promise<number | null>; kill: () => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { cwd: ROOT, stdio: 'ignore' });
  return { done: new Promise((resolve) => child.on('exit', (code) => resolve(code))), kill: () => child.kill('SIGKILL') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const schedule of ['sequential', 'generational', 'asynchronous'] as const) {
  describe(`resume after SIGKILL (${schedule}; seed ${RUN_SEED})`, function () {
    this.timeout(300_000);
    it('ends with bit-identical best weights and a journal with every trial exactly once', async () => {
      const random = rng(RUN_SEED ^ (schedule === 'sequential' ? 1 : schedule === 'generational' ? 2 : 3));
      const overrides = { strategy: 'current-to-best/1', F: [0.1, 0.4], CR: 0.9, generations: 8, schedule, concurrency: schedule === 'asynchronous' ? 3 : 2 } as const;
      const reference = testConfig(overrides);
      await new EvolutionRun({ config: reference, evaluator: await distanceEvaluator() }).run();

      const killed = testConfig(overrides);
      (killed.fitness as { options: Record<string, unknown> }).options = { delay_ms: schedule === 'sequential' ? 30 : 80 };
      const dir = tempDir();
      const configFile = path.join(dir, 'evolve.yaml');
      fs.writeFileSync(configFile, stringify({ ...killed }));
      // Kill at random moments, but only once the run has made progress since the last kill
      // (k journal lines further, 1..5 at random, then a random 0-60 ms more), so that every
      // run gets killed several times however fast this machine is.
      const journal = path.join(killed.output, 'journal.jsonl');
      const lines = () => (fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8').split('\n').length - 1 : 0);
      let run = cli(['evolve', configFile]);
      let kills = 0;
      for (let attempt = 0; attempt < 60; attempt++) {
        const target = lines() + 1 + Math.floor(random() * 5);
        let exited: number | null | undefined;
        void run.done.then((code) => (exited = code));
        while (exited === undefined && lines() < target) await sleep(5);
        if (exited === undefined) await sleep(random() * 60);
        if (exited === undefined) {
          run.kill();
          const code = await run.done;
          if (code === 0) break;  // it finished just before the signal
          kills++;
          run = cli(['evolve', '--resume', killed.output]);
          continue;
        }
        if (exited === 0) break;
        assert.fail(`the run exited with code ${exited}`);
      }
      assert.ok(kills >= 2, `the run was killed ${kills} times (expected several)`);
      const { entries } = readJournal(path.join(killed.output, 'journal.jsonl'));
      assert.deepEqual(entries.map((e) => e.k), [...Array(40).keys()], 'every trial exactly once');
      const ref = readJournal(path.join(reference.output, 'journal.jsonl')).entries;
      assert.deepEqual(entries.map((e) => [e.accepted, e.checksum, e.F]), ref.map((e) => [e.accepted, e.checksum, e.F]));
      const a = fs.readFileSync(path.join(killed.output, 'best', 'model.safetensors'));
      const b = fs.readFileSync(path.join(reference.output, 'best', 'model.safetensors'));
      assert.ok(a.equals(b), 'best/ is bit-identical to the uninterrupted run');
    });
  });
}
