import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { fromArrowIPC, toArrowIPC, weightsToArrowTable } from '../lib/store/arrow.js';
import { openWeights } from '../lib/store/checkpoint.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { writeCheckpoint } from '../lib/store/write-checkpoint.js';
import { BF16_BASE, F32_BASE, tempDir } from './helpers.js';

describe('Arrow interchange', () => {
  it('a whole file is a table (name, dtype, shape, data) whose data buffer is the mapped data region', () => {
    using file = SafetensorsFile.open(F32_BASE);
    const table = weightsToArrowTable(file);
    assert.equal(table.numRows, 52);
    assert.deepEqual(table.schema.fields.map((f) => f.name), ['name', 'dtype', 'shape', 'data']);
    const data = table.getChild('data')!.data[0]!;
    // The values buffer spans exactly the file's data region, in the mapping.
    assert.equal(data.values.byteLength, file.size - file.header.dataStart);
    const raw = fs.readFileSync(F32_BASE);
    assert.ok(Buffer.from(data.values).equals(raw.subarray(file.header.dataStart)));
    const row = table.get(3)!.toJSON() as { name: string; dtype: string; shape: { toArray(): BigInt64Array }; data: Uint8Array };
    assert.ok(Buffer.from(row.data).equals(Buffer.from(file.bytes(row.name))));
    assert.deepEqual([...row.shape.toArray()].map(Number), file.info(row.name).shape);
    // Zero copy: closing the file empties the table's data buffer.
    file.close();
    assert.equal(data.values.byteLength, 0);
  });

  it('toArrowIPC / fromArrowIPC round-trip a sharded bf16 checkpoint bit for bit', async () => {
    const dir = tempDir();
    using src = openWeights(BF16_BASE);
    writeCheckpoint(src, path.join(dir, 'sharded'), { maxShardBytes: 300_000 });
    using sharded = openWeights(path.join(dir, 'sharded'));
    const ipc = path.join(dir, 'weights.arrow');
    await toArrowIPC(sharded, ipc);
    using back = fromArrowIPC(ipc);
    assert.deepEqual(back.names(), src.names());
    for (const name of src.names()) {
      assert.equal(back.meta(name).dtype, 'BF16');
      assert.deepEqual(back.meta(name).shape, src.meta(name).shape);
      assert.ok(Buffer.concat(back.chunks(name)).equals(Buffer.from(src.bytes(name))), name);
    }
    // And the Arrow weights can be written as a checkpoint again.
    writeCheckpoint(back, path.join(dir, 'again'));
    using again = openWeights(path.join(dir, 'again'));
    assert.equal(again.parameters, src.parameters);
  });

  it('a file that is not Arrow IPC is a typed error', () => {
    assert.throws(() => fromArrowIPC(F32_BASE), (e: Error & { code?: string }) => e.name === 'WeightFileError' && e.message.includes(F32_BASE));
  });
});
