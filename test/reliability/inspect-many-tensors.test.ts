// A checkpoint with 150k tensors: nothing may spread a data-sized array into a call
// (Math.max(...x) overflows the stack at about 120k arguments).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { formatInspect } from '../../lib/cli/inspect-command.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { inspect } from '../../lib/store/inspect.js';
import { writeCheckpoint } from '../../lib/store/write-checkpoint.js';
import { tempDir } from '../helpers.js';

const COUNT = 150_000;

/** A safetensors file of COUNT one-element F32 tensors (the value of tensor i is i). */
function manyTensors(dir: string): string {
  const header: Record<string, unknown> = {};
  const data = new Float32Array(COUNT);
  for (let i = 0; i < COUNT; i++) {
    header[`model.layers.${i}.w`] = { dtype: 'F32', shape: [1], data_offsets: [i * 4, i * 4 + 4] };
    data[i] = i;
  }
  const json = JSON.stringify(header);
  const text = json + ' '.repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + text.length + data.byteLength);
  out.writeBigUInt64LE(BigInt(text.length), 0);
  out.write(text, 8, 'latin1');
  Buffer.from(data.buffer).copy(out, 8 + text.length);
  const file = path.join(dir, 'many.safetensors');
  fs.writeFileSync(file, out);
  return file;
}

describe('a checkpoint of 150k tensors', function () {
  this.timeout(120_000);
  let dir: string;
  let file: string;
  before(() => {
    dir = tempDir('evolver-many-');
    file = manyTensors(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('inspect() describes it', () => {
    const r = inspect(file);
    assert.equal(r.tensors.length, COUNT);
    assert.equal(r.parameters, COUNT);
    assert.equal(r.bytes, COUNT * 4);
  });

  it('is written back as shards and reopened', () => {
    using src = openWeights(file);
    const out = path.join(dir, 'sharded');
    const written = writeCheckpoint(src, out, { maxShardBytes: 200_000 });
    assert.equal(written.shards.length, 3);
    using back = openWeights(out);
    assert.equal(back.names().length, COUNT);
    assert.equal((back.view('model.layers.149999.w') as Float32Array)[0], 149_999);
    assert.equal(inspect(out).shards.length, 3);
  });

  it('`evolver inspect` formats it as a table (lib/cli/inspect-command.ts)', () => {
    const text = formatInspect(inspect(file));
    assert.match(text, /tensors {5}150000/);
  });
});
