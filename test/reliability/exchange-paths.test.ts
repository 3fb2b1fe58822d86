import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { exchangePaths } from '../../lib/native.js';
import { tempDir } from '../helpers.js';

describe('exchangePaths (renameat2 RENAME_EXCHANGE)', () => {
  it('swaps two files atomically: each name now holds the other content', () => {
    const dir = tempDir();
    const a = path.join(dir, 'a.bin');
    const b = path.join(dir, 'b.bin');
    fs.writeFileSync(a, 'first');
    fs.writeFileSync(b, 'second');
    const inoA = fs.statSync(a).ino;
    exchangePaths(a, b);
    assert.equal(fs.readFileSync(a, 'utf8'), 'second');
    assert.equal(fs.readFileSync(b, 'utf8'), 'first');
    assert.equal(fs.statSync(b).ino, inoA);
    fs.rmSync(dir, { recursive: true });
  });

  it('swaps a file and a directory', () => {
    const dir = tempDir();
    const f = path.join(dir, 'f');
    const d = path.join(dir, 'd');
    fs.writeFileSync(f, 'x');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'inside'), 'y');
    exchangePaths(f, d);
    assert.ok(fs.statSync(f).isDirectory());
    assert.equal(fs.readFileSync(path.join(f, 'inside'), 'utf8'), 'y');
    assert.equal(fs.readFileSync(d, 'utf8'), 'x');
    fs.rmSync(dir, { recursive: true });
  });

  it('throws ENOENT naming both paths when one does not exist, and changes nothing', () => {
    const dir = tempDir();
    const a = path.join(dir, 'a');
    const missing = path.join(dir, 'missing');
    fs.writeFileSync(a, 'keep');
    assert.throws(
      () => exchangePaths(a, missing),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.includes(a) && e.message.includes(missing),
    );
    assert.throws(() => exchangePaths(missing, a), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.equal(fs.readFileSync(a, 'utf8'), 'keep');
    assert.equal(fs.existsSync(missing), false);
    fs.rmSync(dir, { recursive: true });
  });

  it('throws EXDEV across file systems (e.g. /tmp and /dev/shm)', function () {
    const shm = '/dev/shm';
    const dir = tempDir();
    if (!fs.existsSync(shm) || fs.statSync(shm).dev === fs.statSync(dir).dev) this.skip();
    const other = fs.mkdtempSync(path.join(shm, 'evolver-test-'));
    try {
      const a = path.join(dir, 'a');
      const b = path.join(other, 'b');
      fs.writeFileSync(a, '1');
      fs.writeFileSync(b, '2');
      assert.throws(() => exchangePaths(a, b), (e: NodeJS.ErrnoException) => e.code === 'EXDEV' && e.message.includes(a) && e.message.includes(b));
    } finally {
      fs.rmSync(other, { recursive: true });
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('throws a coded error for bad arguments instead of crashing', () => {
    assert.throws(() => (exchangePaths as (a: unknown, b: unknown) => void)(1, 'x'), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
    assert.throws(() => exchangePaths('a\0b', 'c'), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
  });
});
