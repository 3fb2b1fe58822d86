import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { native } from '../lib/native.js';
import { F32_BASE, tempDir } from './helpers.js';

describe('native mapped files', () => {
  it('maps a file read-only and hands out zero-copy views of any range', () => {
    const m = native.MappedFile.openReadOnly(F32_BASE);
    try {
      assert.equal(m.size, fs.statSync(F32_BASE).size);
      assert.equal(m.writable, false);
      const onDisk = fs.readFileSync(F32_BASE);
      const view = new Uint8Array(m.region(100, 64));
      assert.deepEqual(Buffer.from(view), onDisk.subarray(100, 164));
      assert.equal(m.region(m.size, 0).byteLength, 0);
    } finally {
      m.close();
    }
  });

  it('never lets a write from JS reach a read-only file (copy-on-write), and never crashes', () => {
    const dir = tempDir();
    const file = path.join(dir, 'ro.bin');
    fs.writeFileSync(file, Buffer.alloc(4096, 7));
    const m = native.MappedFile.openReadOnly(file);
    new Uint8Array(m.region(0, 16)).fill(9);
    m.close();
    assert.equal(fs.readFileSync(file)[0], 7);
    assert.throws(() => m.flush(), (e: NodeJS.ErrnoException) => e.code === 'ECLOSED');
  });

  it('detaches every view on close: stale views read as empty and native code refuses them', async () => {
    const m = native.MappedFile.openReadOnly(F32_BASE);
    const a = m.region(0, 1024);
    const b = new Float32Array(m.region(1024, 4096));
    m.close();
    assert.equal(m.closed, true);
    assert.equal(a.byteLength, 0);
    assert.equal(b.length, 0);
    assert.equal(b[0], undefined);
    assert.throws(() => native.kernels.reduce({ dtype: 'F32', n: 0, x: b }), (e: NodeJS.ErrnoException) => e.code === 'EDETACHED');
    assert.throws(() => m.region(0, 8), (e: NodeJS.ErrnoException) => e.code === 'ECLOSED');
    m.close();  // idempotent
  });

  it('keeps the memory mapped until native work on it is done, even if closed meanwhile', async () => {
    const m = native.MappedFile.openReadOnly(F32_BASE);
    const view = m.region(8, 1 << 20);
    const pending = native.kernels.reduce({ dtype: 'F32', n: (1 << 20) / 4, x: view });
    m.close();
    const stats = await pending;
    assert.equal(stats.finite + stats.nan + stats.posInf + stats.negInf, (1 << 20) / 4);
  });

  it('refuses ranges outside the file and views over 4 GiB with a typed error', () => {
    const m = native.MappedFile.openReadOnly(F32_BASE);
    try {
      assert.throws(() => m.region(m.size - 4, 8), (e: NodeJS.ErrnoException) => e.code === 'ERANGE' && e.message.includes(F32_BASE));
      assert.throws(() => m.region(-1, 8), (e: NodeJS.ErrnoException) => e.code === 'ERANGE');
      assert.throws(() => m.region(0.5, 8), (e: NodeJS.ErrnoException) => e.code === 'ERANGE');
      assert.throws(() => m.advise('sideways' as never), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
      m.advise('sequential');
      m.advise('willneed', 0, 100);
    } finally {
      m.close();
    }
  });

  it('creates, fills in place and flushes a writable mapping', () => {
    const dir = tempDir();
    const file = path.join(dir, 'rw.bin');
    const m = native.MappedFile.create(file, 8192, 'reserve');
    assert.equal(m.writable, true);
    new Uint32Array(m.region(4096, 16)).set([1, 2, 3, 4]);
    assert.equal(typeof m.address(0), 'bigint');
    m.flush();
    m.close();
    const back = new Uint32Array(fs.readFileSync(file).buffer.slice(4096, 4112));
    assert.deepEqual([...back], [1, 2, 3, 4]);
    assert.throws(() => native.MappedFile.create(file, 16, 'check'), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
  });

  it('reports open failures with the errno code and the path', () => {
    assert.throws(() => native.MappedFile.openReadOnly('/no/such/file'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.includes('/no/such/file'));
    assert.throws(() => native.MappedFile.openReadOnly(tempDir()), (e: NodeJS.ErrnoException) => e.code === 'EISDIR');
  });
});
