// Hugging Face hub-cache snapshots: snapshots/<rev>/ holds symlinks into ../../blobs/. Names in
// an index are checked lexically; a symlink that exists on disk is followed wherever it points.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { type WeightSet, openWeights } from '../../lib/store/checkpoint.js';
import { inspect } from '../../lib/store/inspect.js';
import { resolveInside } from '../../lib/store/paths.js';
import { writeCheckpoint } from '../../lib/store/write-checkpoint.js';
import { F32_BASE, FORTUNES, assertWeightError, tempDir } from '../helpers.js';

const REV = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

/** Moves every file of `staging` into a hub-cache repo folder as blobs + snapshot symlinks. */
function hubCache(staging: string): { repo: string; snapshot: string } {
  const repo = path.join(tempDir('evolver-hub-'), 'models--org--name');
  const blobs = path.join(repo, 'blobs');
  const snapshot = path.join(repo, 'snapshots', REV);
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(snapshot, { recursive: true });
  fs.mkdirSync(path.join(repo, 'refs'));
  fs.writeFileSync(path.join(repo, 'refs', 'main'), REV);
  for (const name of fs.readdirSync(staging)) {
    const bytes = fs.readFileSync(path.join(staging, name));
    const sha = crypto.createHash('sha256').update(bytes).digest('hex');
    fs.renameSync(path.join(staging, name), path.join(blobs, sha));
    fs.symlinkSync(path.join('..', '..', 'blobs', sha), path.join(snapshot, name));  // relative, as huggingface_hub makes them
  }
  return { repo, snapshot };
}

function sameTensors(a: WeightSet, b: WeightSet): void {
  assert.deepEqual(b.names(), a.names());
  for (const name of a.names()) {
    assert.equal(b.meta(name).dtype, a.meta(name).dtype);
    assert.deepEqual(b.meta(name).shape, a.meta(name).shape);
    assert.ok(Buffer.from(a.bytes(name)).equals(Buffer.from(b.bytes(name))), `${name}: identical bytes`);
  }
}

describe('hub-cache snapshots (symlinks into ../../blobs)', () => {
  it('a sharded snapshot opens and reads identical tensors', () => {
    const staging = tempDir('evolver-staging-');
    using src = openWeights(F32_BASE);
    const written = writeCheckpoint(src, staging, { maxShardBytes: 2_000_000, copyFilesFrom: FORTUNES });
    assert.equal(written.shards.length, 2);
    const { snapshot } = hubCache(staging);
    for (const shard of written.shards) assert.ok(fs.lstatSync(path.join(snapshot, shard)).isSymbolicLink());
    assert.ok(fs.lstatSync(path.join(snapshot, 'model.safetensors.index.json')).isSymbolicLink());

    using back = openWeights(snapshot);
    assert.equal(back.format, 'sharded');
    assert.equal(back.files.length, 2);
    sameTensors(src, back);
    using viaIndex = openWeights(path.join(snapshot, 'model.safetensors.index.json'));
    sameTensors(src, viaIndex);
    const described = inspect(snapshot);
    assert.deepEqual(described.shards.map((s) => s.file), written.shards);

    // An output written from the snapshot carries config.json over as a file, not as a link.
    const out = path.join(tempDir(), 'out');
    writeCheckpoint(back, out, { copyFilesFrom: snapshot });
    assert.ok(fs.lstatSync(path.join(out, 'config.json')).isFile());
    assert.equal(fs.readFileSync(path.join(out, 'config.json'), 'utf8'), fs.readFileSync(path.join(FORTUNES, 'config.json'), 'utf8'));
  });

  it('a single-file snapshot (model.safetensors symlink) opens', () => {
    const staging = tempDir('evolver-staging-');
    fs.copyFileSync(F32_BASE, path.join(staging, 'model.safetensors'));
    fs.copyFileSync(path.join(FORTUNES, 'config.json'), path.join(staging, 'config.json'));
    const { snapshot } = hubCache(staging);
    using src = openWeights(F32_BASE);
    using back = openWeights(snapshot);
    assert.equal(back.format, 'safetensors');
    sameTensors(src, back);
    using direct = openWeights(path.join(snapshot, 'model.safetensors'));
    sameTensors(src, direct);
  });

  it('a symlink in the folder pointing anywhere is followed; the index itself cannot leave the folder', () => {
    const staging = tempDir('evolver-staging-');
    using src = openWeights(F32_BASE);
    const written = writeCheckpoint(src, staging, { maxShardBytes: 2_000_000 });
    const elsewhere = tempDir('evolver-elsewhere-');
    const first = path.join(staging, written.shards[0]!);
    fs.renameSync(first, path.join(elsewhere, 'shard.safetensors'));
    fs.symlinkSync(path.join(elsewhere, 'shard.safetensors'), first);  // absolute link, made by the user
    using back = openWeights(staging);
    sameTensors(src, back);

    const indexPath = path.join(staging, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    const tensor = Object.keys(index.weight_map)[0]!;
    const bad = ['../x.safetensors', 'sub/../../x.safetensors', 'sub\\..\\..\\x.safetensors', '/etc/passwd', path.join(elsewhere, 'shard.safetensors'), 'C:\\x.safetensors', '', '.', 'sub/', 'a\0b'];
    for (const shard of bad) {
      fs.writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, [tensor]: shard } }));
      const err = assertWeightError(() => openWeights(staging), 'PATH_ESCAPE', indexPath);
      assert.ok(err.message.includes(shard.includes('\0') ? JSON.stringify(shard) : shard), err.message);
    }
    assert.throws(() => resolveInside(staging, 'x/../../y', indexPath), (e: unknown) => e instanceof WeightFileError && e.code === 'PATH_ESCAPE');
    assert.equal(resolveInside(staging, './sub/./x.safetensors', indexPath), path.join(staging, 'sub', 'x.safetensors'));
  });

  it('a dangling symlink and a symlink loop get their own messages naming the path', () => {
    const staging = tempDir('evolver-staging-');
    using src = openWeights(F32_BASE);
    const written = writeCheckpoint(src, staging, { maxShardBytes: 2_000_000 });
    const shard = path.join(staging, written.shards[1]!);
    fs.rmSync(shard);
    fs.symlinkSync('../../blobs/0123deadbeef', shard);
    let err = assertWeightError(() => openWeights(staging), 'MISSING_SHARD', shard);
    assert.match(err.message, /dangling symlink/);
    assert.ok(err.message.includes('../../blobs/0123deadbeef'), err.message);

    fs.rmSync(shard);
    const other = path.join(staging, 'loop-b');
    fs.symlinkSync(path.basename(other), shard);
    fs.symlinkSync(path.basename(shard), other);
    err = assertWeightError(() => openWeights(staging), 'MISSING_SHARD', shard);
    assert.match(err.message, /symlink loop/);

    // The same for a file or folder opened directly.
    const single = tempDir('evolver-single-');
    const link = path.join(single, 'model.safetensors');
    fs.symlinkSync('../../blobs/feedface', link);
    err = assertWeightError(() => openWeights(link), 'NOT_FOUND', link);
    assert.match(err.message, /dangling symlink/);
    err = assertWeightError(() => openWeights(single), 'NOT_FOUND', link);
    assert.match(err.message, /dangling symlink/);
    fs.rmSync(link);
    fs.symlinkSync('model.safetensors', link);
    err = assertWeightError(() => openWeights(link), 'NOT_FOUND', link);
    assert.match(err.message, /symlink loop/);
  });
});
