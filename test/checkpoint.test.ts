import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { openWeights } from '../lib/store/checkpoint.js';
import { planShards, writeCheckpoint } from '../lib/store/write-checkpoint.js';
import { BF16_BASE, F32_BASE, FORTUNES, assertWeightError, tempDir } from './helpers.js';

function sameTensors(a: ReturnType<typeof openWeights>, b: ReturnType<typeof openWeights>): void {
  assert.deepEqual(a.names(), b.names());
  for (const name of a.names()) {
    assert.deepEqual(b.meta(name).shape, a.meta(name).shape);
    assert.equal(b.meta(name).dtype, a.meta(name).dtype);
    assert.ok(Buffer.from(a.bytes(name)).equals(Buffer.from(b.bytes(name))), `${name} bytes equal`);
  }
}

describe('checkpoints (single file and sharded folders)', () => {
  it('writes a sharded folder with an index and reads it back as one WeightSet, bit for bit', () => {
    const dir = tempDir();
    using src = openWeights(BF16_BASE);
    const written = writeCheckpoint(src, dir, { maxShardBytes: 400_000, copyFilesFrom: FORTUNES });
    assert.ok(written.shards.length > 1);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(index.metadata.total_size, src.dataBytes);
    assert.deepEqual(Object.keys(index.weight_map).sort(), src.names());
    assert.deepEqual(new Set(Object.values(index.weight_map)), new Set(written.shards));
    for (const shard of written.shards) assert.ok(fs.statSync(path.join(dir, shard)).size <= 400_000 + 8192);
    assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), fs.readFileSync(path.join(FORTUNES, 'config.json'), 'utf8'));

    using back = openWeights(dir);
    assert.equal(back.format, 'sharded');
    assert.equal(back.files.length, written.shards.length);
    sameTensors(src, back);
    // Opening the index file itself works too.
    using viaIndex = openWeights(path.join(dir, 'model.safetensors.index.json'));
    assert.equal(viaIndex.parameters, src.parameters);
  });

  it('writes a single model.safetensors when everything fits one shard', () => {
    const dir = tempDir();
    using src = openWeights(F32_BASE);
    const written = writeCheckpoint(src, dir);
    assert.deepEqual(written.shards, ['model.safetensors']);
    assert.ok(!fs.existsSync(path.join(dir, 'model.safetensors.index.json')));
    using back = openWeights(dir);
    assert.equal(back.format, 'safetensors');
    sameTensors(src, back);
  });

  it('re-shards a sharded folder, refuses to overwrite unless asked, and removes stale shards', () => {
    const dir = tempDir();
    using src = openWeights(F32_BASE);
    writeCheckpoint(src, dir, { maxShardBytes: 500_000 });
    assertWeightError(() => writeCheckpoint(src, dir), 'OUTPUT_EXISTS', dir);
    writeCheckpoint(src, dir, { maxShardBytes: 2_000_000, overwrite: true });
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
    assert.deepEqual(files, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    using back = openWeights(dir);
    sameTensors(src, back);
  });

  it('plans shards in name order, a tensor larger than the limit alone in its shard', () => {
    using src = openWeights(F32_BASE);
    const shards = planShards(src, 100_000);
    assert.deepEqual(shards.flat(), src.names());
    const wte = shards.find((s) => s.includes('transformer.wte.weight'))!;
    assert.deepEqual(wte, ['transformer.wte.weight']);
  });
});
