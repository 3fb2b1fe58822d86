// A run folder on a full or read-only file system: a clear error, the previous state intact,
// and (for the full disk) a resume that ends exactly where an uninterrupted run does.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { EvolutionRun } from '../../lib/evolve/engine.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { mountTmpfs, tempDir } from '../helpers.js';
import { distanceEvaluator, testConfig } from './helpers.js';

const tmpfs = mountTmpfs;
const umount = (dir: string) => execFileSync('umount', [dir]);

describe('a run folder on a full or read-only file system', function () {
  this.timeout(120_000);

  it('full disk: NO_SPACE naming the file, a consistent folder, and a resume that finishes identically', async function () {
    const mount = tmpfs(5);
    if (mount === undefined) this.skip();
    try {
      const overrides = { strategy: 'interp', F: 0.3, generations: 2 } as const;
      const config = { ...testConfig(overrides), output: path.join(mount!, 'run') };
      const evaluator = await distanceEvaluator();
      await assert.rejects(new EvolutionRun({ config, evaluator }).run(), (e: unknown) => e instanceof WeightFileError && e.code === 'NO_SPACE' && e.message.includes(mount!));
      const { entries } = readJournal(path.join(config.output, 'journal.jsonl'));
      assert.ok(entries.length >= 1, 'some trials were done before the disk filled');
      assert.deepEqual(entries.map((e) => e.k), [...entries.keys()]);
      assert.ok(!fs.existsSync(path.join(config.output, 'run.lock')), 'the lock is released after the error');
      execFileSync('mount', ['-o', 'remount,size=64m', mount!]);
      await new EvolutionRun({ config, evaluator, resume: true }).run();
      const reference = testConfig(overrides);
      await new EvolutionRun({ config: reference, evaluator }).run();
      const a = fs.readFileSync(path.join(config.output, 'best', 'model.safetensors'));
      const b = fs.readFileSync(path.join(reference.output, 'best', 'model.safetensors'));
      assert.ok(a.equals(b), 'the resumed run ends with the same best weights');
    } finally {
      umount(mount!);
    }
  });

  it('read-only: a clear error naming the folder, nothing changed', async function () {
    const mount = tmpfs(8);
    if (mount === undefined) this.skip();
    try {
      const config = { ...testConfig({ generations: 1 }), output: path.join(mount!, 'run') };
      fs.mkdirSync(config.output);
      execFileSync('mount', ['-o', 'remount,ro', mount!]);
      await assert.rejects(new EvolutionRun({ config, evaluator: await distanceEvaluator() }).run(), (e: unknown) => e instanceof Error && e.message.includes(config.output) && /read-only|EROFS/i.test(e.message));
      assert.deepEqual(fs.readdirSync(config.output), []);
    } finally {
      umount(mount!);
    }
  });
});
