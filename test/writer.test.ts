import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { EvolverArgumentError, WeightFileError } from '../lib/errors.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { SafetensorsWriter, layoutPlan } from '../lib/store/writer.js';
import { assertWeightError, tempDir } from './helpers.js';

describe('safetensors writer', () => {
  it('round-trips every dtype, empty tensors, scalars and __metadata__', () => {
    const dir = tempDir();
    const file = path.join(dir, 'all.safetensors');
    const plan = {
      metadata: { format: 'pt', note: 'héllo' },
      tensors: [
        { name: 'f32', dtype: 'F32', shape: [3, 5] },
        { name: 'f16', dtype: 'F16', shape: [7] },
        { name: 'bf16', dtype: 'BF16', shape: [2, 3] },
        { name: 'i8', dtype: 'I8', shape: [9] },
        { name: 'u8', dtype: 'U8', shape: [3] },
        { name: 'i32', dtype: 'I32', shape: [4] },
        { name: 'i64', dtype: 'I64', shape: [2] },
        { name: 'f64', dtype: 'F64', shape: [3] },
        { name: 'bool', dtype: 'BOOL', shape: [5] },
        { name: 'empty', dtype: 'F32', shape: [4, 0] },
        { name: 'scalar', dtype: 'F32', shape: [] },
      ] as const,
    };
    const w = SafetensorsWriter.create(file, { metadata: plan.metadata, tensors: plan.tensors.map((t) => ({ ...t, shape: [...t.shape] })) });
    const fill: Record<string, (v: any) => void> = {
      f32: (v: Float32Array) => v.forEach((_, i) => (v[i] = i * 0.5 - 3)),
      f16: (v: Uint16Array) => v.set([0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x8000, 0x7bff]),
      bf16: (v: Uint16Array) => v.set([0x3f80, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x8000]),
      i8: (v: Int8Array) => v.set([-128, -1, 0, 1, 127, 5, 6, 7, 8]),
      u8: (v: Uint8Array) => v.set([0, 128, 255]),
      i32: (v: Int32Array) => v.set([-(2 ** 31), -1, 0, 2 ** 31 - 1]),
      i64: (v: BigInt64Array) => v.set([-(2n ** 63n), 2n ** 63n - 1n]),
      f64: (v: Float64Array) => v.set([Math.PI, -0, Number.MIN_VALUE]),
      bool: (v: Uint8Array) => v.set([1, 0, 1, 1, 0]),
      empty: () => {},
      scalar: (v: Float32Array) => v.set([42]),
    };
    for (const name of w.names()) fill[name]!(w.view(name));
    assert.equal(typeof w.address('f32'), 'bigint');
    w.commit();
    assert.deepEqual(fs.readdirSync(dir), ['all.safetensors'], 'no temporary file is left');

    using r = SafetensorsFile.open(file);
    assert.deepEqual(r.metadata, plan.metadata);
    assert.equal(r.header.dataStart % 8, 0, 'header padded to 8 bytes');
    for (const t of plan.tensors) {
      const info = r.info(t.name);
      assert.equal(info.dtype, t.dtype);
      assert.deepEqual(info.shape, t.shape);
      assert.equal(info.fileOffset % Math.min(8, info.byteLength / Math.max(info.elements, 1) || 1), 0, `${t.name} aligned`);
    }
    assert.deepEqual([...(r.view('f16') as Uint16Array)], [0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x8000, 0x7bff]);
    assert.deepEqual([...(r.view('i64') as BigInt64Array)], [-(2n ** 63n), 2n ** 63n - 1n]);
    assert.ok(Object.is((r.view('f64') as Float64Array)[1], -0));
    assert.equal(r.view('empty').length, 0);
    assert.deepEqual([...(r.view('scalar') as Float32Array)], [42]);
    assert.equal((r.view('f32') as Float32Array)[14], 4);
  });

  it('commitAsync flushes on a worker thread and renames into place like commit()', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'async.safetensors');
    const w = SafetensorsWriter.create(file, { tensors: [{ name: 'a', dtype: 'F32', shape: [3] }] });
    (w.view('a') as Float32Array).set([1, 2, 3]);
    const pending = w.commitAsync();
    assert.ok(pending instanceof Promise);
    await pending;
    assert.deepEqual(fs.readdirSync(dir), ['async.safetensors']);
    using r = SafetensorsFile.open(file);
    assert.deepEqual([...(r.view('a') as Float32Array)], [1, 2, 3]);
    await assert.rejects(w.commitAsync(), (e: unknown) => e instanceof WeightFileError && e.code === 'CLOSED');
  });

  it('abort removes the temporary file and leaves no file under the final name', () => {
    const dir = tempDir();
    const file = path.join(dir, 'x.safetensors');
    const w = SafetensorsWriter.create(file, { tensors: [{ name: 'a', dtype: 'F32', shape: [10] }] });
    assert.ok(fs.existsSync(w.tempPath));
    assert.ok(!fs.existsSync(file), 'nothing under the final name before commit');
    w.abort();
    assert.deepEqual(fs.readdirSync(dir), []);
    assertWeightError(() => w.view('a'), 'CLOSED', file, 'a');
  });

  it('refuses a tensor named __metadata__, duplicates, unknown dtypes and bad shapes', () => {
    const file = '/tmp/never.safetensors';
    assertWeightError(() => layoutPlan({ tensors: [{ name: '__metadata__', dtype: 'F32', shape: [1] }] }, file), 'RESERVED_NAME', file, '__metadata__');
    assertWeightError(() => layoutPlan({ tensors: [{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }] }, file), 'DUPLICATE_TENSOR', file, 'a');
    assertWeightError(() => layoutPlan({ tensors: [{ name: 'a', dtype: 'Q4' as never, shape: [1] }] }, file), 'UNKNOWN_DTYPE', file, 'a');
    assertWeightError(() => layoutPlan({ tensors: [{ name: 'a', dtype: 'F32', shape: [-2] }] }, file), 'BAD_SHAPE', file, 'a');
    assert.throws(() => layoutPlan({ tensors: [{ name: '', dtype: 'F32', shape: [1] }] }, file), EvolverArgumentError);
  });

  it('write() copies pieces into place and checks the byte count', () => {
    const dir = tempDir();
    const file = path.join(dir, 'w.safetensors');
    const w = SafetensorsWriter.create(file, { tensors: [{ name: 'a', dtype: 'F32', shape: [4] }] });
    const src = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    assertWeightError(() => w.write('a', src.subarray(0, 12)), 'SIZE_MISMATCH', file, 'a');
    w.write('a', [src.subarray(0, 5), src.subarray(5, 9), src.subarray(9)]);
    w.commit();
    using r = SafetensorsFile.open(file);
    assert.deepEqual([...(r.view('a') as Float32Array)], [1, 2, 3, 4]);
  });

  it('writes and reads back a file over 4 GiB (sparse), in views of at most 4 GiB', function () {
    const dir = tempDir();
    const file = path.join(dir, 'big.safetensors');
    const elements = 2 ** 30 + 3;  // 4 GiB + 12 bytes of F32
    const w = SafetensorsWriter.create(file, {
      tensors: [{ name: 'big', dtype: 'F32', shape: [elements] }, { name: 'tail', dtype: 'F32', shape: [2] }],
    }, { space: 'sparse' });
    const chunks = w.chunks('big');
    assert.equal(chunks.length, 2);
    assert.ok(chunks.every((c) => c.byteLength <= 2 ** 32));
    new Float32Array(chunks[1]!.buffer, chunks[1]!.byteOffset, 3).set([7, 8, 9]);
    new Float32Array(chunks[0]!.buffer, chunks[0]!.byteOffset, 1).set([6]);
    (w.view('tail') as Float32Array).set([10, 11]);
    w.commit();
    assert.ok(fs.statSync(file).size > 2 ** 32);

    using r = SafetensorsFile.open(file);
    assertWeightError(() => r.view('big'), 'TENSOR_TOO_LARGE', file, 'big');
    const back = r.chunks('big');
    assert.equal(back.reduce((n, c) => n + c.byteLength, 0), elements * 4);
    const last = back[back.length - 1]!;
    assert.deepEqual([...new Float32Array(last.buffer, last.byteOffset + last.byteLength - 12, 3)], [7, 8, 9]);
    assert.equal(new Float32Array(back[0]!.buffer, back[0]!.byteOffset, 1)[0], 6);
    assert.deepEqual([...(r.view('tail') as Float32Array)], [10, 11]);
    assert.throws(() => r.mapping.region(0, 2 ** 32 + 8), (e: NodeJS.ErrnoException) => e.code === 'ERANGE');
    r.close();
    fs.rmSync(file);
  });

  it('a full disk is a NO_SPACE error before anything is written (checked, and reserved), and leaves no file behind', function () {
    if (process.getuid?.() !== 0) this.skip();
    const mount = tempDir('evolver-tiny-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount], { stdio: 'ignore' });
    } catch {
      this.skip();  // no permission to mount here: nothing to test against
    }
    try {
      const file = path.join(mount, 'model.safetensors');
      for (const space of ['check', 'reserve'] as const) {
        const err = assertWeightError(
          () => SafetensorsWriter.create(file, { tensors: [{ name: 'w', dtype: 'F32', shape: [1024, 1024] }] }, { space }),
          'NO_SPACE',
          file,
        );
        assert.ok(err instanceof WeightFileError);
        assert.deepEqual(fs.readdirSync(mount), []);
      }
    } finally {
      execFileSync('umount', [mount]);
    }
  });

  it('an unwritable output folder is a typed error naming the file', () => {
    const file = '/proc/evolver-cannot-write-here/model.safetensors';
    assert.throws(() => SafetensorsWriter.create(file, { tensors: [{ name: 'a', dtype: 'F32', shape: [1] }] }), WeightFileError);
  });
});
