// Output folders (writeCheckpoint with overwrite, evolve's best/, `evolver merge`) appear complete
// or not at all: the new checkpoint is written into a sibling temp folder and swapped in with one
// atomic exchange; a failure (full disk, error mid-write) leaves the previous folder untouched.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { loadMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import type { WeightSource } from '../../lib/store/source.js';
import { outputFolderHooks, planShards, writeCheckpoint } from '../../lib/store/write-checkpoint.js';
import { F32_BASE, FORTUNES, fillDisk, mountTmpfs, tempDir } from '../helpers.js';

const SCIENCE = path.join(FORTUNES, 'models', 'science.safetensors');
const SHARD = 800_000;  // the 3.4 MB fortunes models in 5 shards

/** sha256 of every file in a folder (the "checksums" of a checkpoint). */
function checksums(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).sort()) out[f] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
  return out;
}

/** Siblings of `dir` left by a write (temp or old folders). */
const leftovers = (dir: string) => fs.readdirSync(path.dirname(dir)).filter((f) => f !== path.basename(dir) && f.startsWith(path.basename(dir)));

const tmpfs = mountTmpfs;

/** A source that fails while the `failAt`-th tensor is being copied. */
function failingSource(src: WeightSource, failAt: number): WeightSource {
  let n = 0;
  return {
    names: () => src.names(),
    meta: (name) => src.meta(name),
    metadata: src.metadata,
    chunks: (name) => {
      if (n++ === failAt) throw new Error('injected failure');
      return src.chunks(name);
    },
  };
}


/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

describe('atomic output folders', function () {
  this.timeout(120_000);

  it('a write that fails after 2 of 5 shards leaves the previous checkpoint exactly as it was', () => {
    const out = path.join(tempDir(), 'best');
    using base = openWeights(F32_BASE);
    using science = openWeights(SCIENCE);
    assert.equal(writeCheckpoint(base, out, { maxShardBytes: SHARD, copyFilesFrom: FORTUNES }).shards.length, 5);
    fs.writeFileSync(path.join(out, 'NOTES.md'), 'kept across writes\n');
    const before = checksums(out);
    const groups = planShards(science, SHARD);
    const third = groups[0]!.length + groups[1]!.length;  // the first tensor of shard 3
    assert.throws(() => writeCheckpoint(failingSource(science, third), out, { maxShardBytes: SHARD, overwrite: true }), /injected failure/);
    assert.deepEqual(checksums(out), before, 'the previous best/ is byte for byte unchanged');
    assert.deepEqual(leftovers(out), [], 'no temp folder is left behind');
    using back = openWeights(out);
    assert.ok(Buffer.from(back.bytes('transformer.wte.weight')).equals(Buffer.from(base.bytes('transformer.wte.weight'))));

    // The next write replaces it in one step, keeping the folder's other files.
    writeCheckpoint(science, out, { maxShardBytes: 2_000_000, overwrite: true });
    const carried = fs.readdirSync(FORTUNES).filter((f) => f === 'config.json' || f === 'generation_config.json' || f.startsWith('tokenizer'));
    assert.deepEqual(fs.readdirSync(out).sort(), ['NOTES.md', ...carried, 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'].sort());
    using now = openWeights(out);
    assert.ok(Buffer.from(now.bytes('transformer.wte.weight')).equals(Buffer.from(science.bytes('transformer.wte.weight'))));
    assert.deepEqual(leftovers(out), []);
  });

  it('refuses to replace weights without overwrite, before writing anything', () => {
    const out = path.join(tempDir(), 'best');
    using base = openWeights(F32_BASE);
    writeCheckpoint(base, out);
    const before = checksums(out);
    assert.throws(() => writeCheckpoint(base, out), (e: unknown) => e instanceof WeightFileError && e.code === 'OUTPUT_EXISTS' && e.file === out);
    assert.deepEqual(checksums(out), before);
    assert.deepEqual(leftovers(out), []);
  });

  it('cleans temp and old folders left by a crashed write when the next write starts', () => {
    const parent = tempDir();
    const out = path.join(parent, 'best');
    using base = openWeights(F32_BASE);
    writeCheckpoint(base, out, { maxShardBytes: SHARD });
    const dead = deadPid();
    for (const junk of [`best.tmp-${dead}-0`, `best.old-${dead}-1`]) {
      fs.mkdirSync(path.join(parent, junk));
      fs.writeFileSync(path.join(parent, junk, 'model.safetensors'), 'half written');
    }
    fs.mkdirSync(path.join(parent, 'best.tmp-notours'));  // not a name we make: left alone
    fs.mkdirSync(path.join(parent, 'other.tmp-1-0'));  // another output's: left alone
    writeCheckpoint(base, out, { overwrite: true });
    assert.deepEqual(fs.readdirSync(parent).sort(), ['best', 'best.tmp-notours', 'other.tmp-1-0']);
  });

  it('falls back to two renames where the file system cannot exchange (EINVAL)', () => {
    const out = path.join(tempDir(), 'best');
    using base = openWeights(F32_BASE);
    using science = openWeights(SCIENCE);
    writeCheckpoint(base, out, { maxShardBytes: SHARD });
    const exchange = outputFolderHooks.exchange;
    let tried = 0;
    outputFolderHooks.exchange = () => {
      tried++;
      throw Object.assign(new Error('cannot exchange: Invalid argument'), { code: 'EINVAL' });
    };
    try {
      writeCheckpoint(science, out, { overwrite: true });
    } finally {
      outputFolderHooks.exchange = exchange;
    }
    assert.equal(tried, 1);
    assert.deepEqual(fs.readdirSync(out), ['model.safetensors']);
    using now = openWeights(out);
    assert.ok(Buffer.from(now.bytes('transformer.wte.weight')).equals(Buffer.from(science.bytes('transformer.wte.weight'))));
    assert.deepEqual(leftovers(out), []);
  });

  it('writes through an output path that is a symlink to a folder', () => {
    const parent = tempDir();
    const real = path.join(parent, 'real-best');
    const link = path.join(parent, 'best');
    fs.mkdirSync(real);
    fs.symlinkSync('real-best', link);
    using base = openWeights(F32_BASE);
    writeCheckpoint(base, link);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.deepEqual(fs.readdirSync(real), ['model.safetensors']);
    assert.deepEqual(fs.readdirSync(parent).sort(), ['best', 'real-best']);
  });

  it('full disk (tmpfs) after 2 of 5 shards: the previous best/ intact with its checksums, no leftovers after the next write', function () {
    const mount = tmpfs(16);
    if (mount === undefined) this.skip();
    try {
      const out = path.join(mount!, 'best');
      using base = openWeights(F32_BASE);
      using science = openWeights(SCIENCE);
      writeCheckpoint(base, out, { maxShardBytes: SHARD, copyFilesFrom: FORTUNES });
      const before = checksums(out);
      // Another process fills the disk once shards 1 and 2 of the new checkpoint are written.
      const groups = planShards(science, SHARD);
      const lastOfSecond = groups[1]!.at(-1)!, firstOfThird = groups[2]![0]!;
      let copiedSecond = false;
      const filler = path.join(mount!, 'filler');
      const source: WeightSource = {
        names: () => science.names(),
        metadata: science.metadata,
        chunks: (name) => {
          if (name === lastOfSecond) copiedSecond = true;
          return science.chunks(name);
        },
        meta: (name) => {
          if (name === firstOfThird && copiedSecond && !fs.existsSync(filler)) fillDisk(filler);
          return science.meta(name);
        },
      };
      assert.throws(() => writeCheckpoint(source, out, { maxShardBytes: SHARD, overwrite: true }), (e: unknown) => {
        assert.ok(e instanceof WeightFileError && e.code === 'NO_SPACE', String(e));
        assert.ok(e.file.startsWith(out + path.sep), e.file);  // names the output, not the temp folder
        assert.match(e.message, /unchanged/);
        return true;
      });
      assert.ok(copiedSecond);
      assert.deepEqual(checksums(out), before, 'the previous best/ is byte for byte unchanged');
      assert.deepEqual(fs.readdirSync(mount!).sort(), ['best', 'filler']);
      using old = openWeights(out);
      for (const name of base.names()) assert.ok(Buffer.from(old.bytes(name)).equals(Buffer.from(base.bytes(name))), name);

      fs.rmSync(filler);  // space freed: the next write works and leaves nothing behind
      writeCheckpoint(science, out, { maxShardBytes: SHARD, overwrite: true });
      assert.deepEqual(fs.readdirSync(mount!), ['best']);
      using now = openWeights(out);
      for (const name of science.names()) assert.ok(Buffer.from(now.bytes(name)).equals(Buffer.from(science.bytes(name))), name);
    } finally {
      execFileSync('umount', [mount!]);
    }
  });

  it('`evolver merge` on a full disk leaves no output and no partial shards; a rerun after freeing space works', async function () {
    const mount = tmpfs(3);
    if (mount === undefined) this.skip();
    try {
      const dir = tempDir();
      const configFile = path.join(dir, 'merge.yml');
      const models = ['computers', 'politics'].map((m) => `  - model: ${path.join(FORTUNES, 'models', `${m}.safetensors`)}\n    parameters: {weight: 0.5}`);
      fs.writeFileSync(configFile, `models:\n${models.join('\n')}\nmerge_method: linear\n`);
      const out = path.join(mount!, 'merged');
      await assert.rejects(runMerge(loadMergeConfig(configFile), out, { maxShardBytes: SHARD }), (e: unknown) => e instanceof WeightFileError && e.code === 'NO_SPACE' && e.file.startsWith(out + path.sep));
      assert.deepEqual(fs.readdirSync(mount!), [], 'neither the output nor a temp folder is left');
      execFileSync('mount', ['-o', 'remount,size=16m', mount!]);
      const result = await runMerge(loadMergeConfig(configFile), out, { maxShardBytes: SHARD });
      assert.equal(result.shards.length, 5);
      assert.deepEqual(fs.readdirSync(mount!), ['merged']);
      using merged = openWeights(out);
      assert.equal(merged.format, 'sharded');
      // A second merge into the same folder: refused without overwrite, swapped in with it.
      await assert.rejects(runMerge(loadMergeConfig(configFile), out), (e: unknown) => e instanceof WeightFileError && e.code === 'OUTPUT_EXISTS');
      await runMerge(loadMergeConfig(configFile), out, { overwrite: true });
      assert.deepEqual(fs.readdirSync(out).filter((f) => f.endsWith('.safetensors') || f === 'model.safetensors.index.json'), ['model.safetensors']);
      assert.deepEqual(fs.readdirSync(mount!), ['merged']);
    } finally {
      execFileSync('umount', [mount!]);
    }
  });
});
