// SIGBUS never kills the process: a mapped input truncated from outside while in use, or an
// output written through its shared mapping onto a full file system, becomes a typed error
// naming the file (FILE_CHANGED / NO_SPACE), and a faulted output is never renamed into place.
// Each scenario runs in a child process, so a wrong handler fails the test instead of mocha.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { tempDir } from '../helpers.js';
import { describeExit, runChild } from './fixtures/child.js';

interface Observed {
  threw: boolean;
  typed?: boolean;
  code?: string;
  file?: string;
  message?: string;
}

function assertTyped(o: Observed | undefined, code: string, file: string): void {
  assert.ok(o !== undefined);
  assert.equal(o.threw, true, `expected ${code}, got ${JSON.stringify(o)}`);
  assert.equal(o.typed, true, `a WeightFileError: ${JSON.stringify(o)}`);
  assert.equal(o.code, code, o.message);
  assert.equal(o.file, file);
  assert.ok(o.message!.includes(file), `the message names ${file}: ${o.message}`);
}

/** A 1 MiB tmpfs (root only; the same as test/writer.test.ts's full-disk test), or undefined. */
function tinyTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const mount = tempDir('evolver-tiny-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount], { stdio: 'ignore' });
    return mount;
  } catch {
    fs.rmSync(mount, { recursive: true, force: true });
    return undefined;
  }
}

describe('SIGBUS in a mapping never kills the process (child processes)', function () {
  this.timeout(180_000);

  it('a mapped file truncated from outside: kernels reject FILE_CHANGED naming it, JS reads zeros, checkIntact() throws', () => {
    const dir = tempDir();
    try {
      const r = runChild('sigbus-child.ts', ['truncate', dir]);
      assert.equal(r.status, 0, describeExit(r));
      const o = r.result as Record<string, any>;
      const file = (name: string) => `${dir}/${name}.safetensors`;
      // a kernel on worker threads touched the missing pages first
      assertTyped(o.kernel, 'FILE_CHANGED', file('kernel'));
      assert.match(o.kernel.message, /is now \d+/);
      assert.equal(o.kernelOutUntouched, true, 'a rejected call leaves a JS-heap output unchanged');
      assert.deepEqual(o.jsReadC, [0, 0]);
      assert.equal(o.jsReadA, 1, 'the part before the cut still reads right');
      assert.equal(o.faulted, true);
      assertTyped(o.checkIntact, 'FILE_CHANGED', file('kernel'));
      assertTyped(o.stats, 'FILE_CHANGED', file('kernel'));
      assertTyped(o.viewAfter, 'FILE_CHANGED', file('kernel'));  // no new views of a faulted file
      // V8 reading a typed view touched them first (main thread)
      assert.equal(o.jsFirst.sum, 0);
      assert.equal(o.jsFirst.faulted, true);
      assertTyped(o.jsFirst.check, 'FILE_CHANGED', file('js'));
      // OpenSSL hashing views touched them first
      assert.equal(o.hash.faulted, true);
      assertTyped(o.hash.check, 'FILE_CHANGED', file('hash'));
      // a multi-threaded merge over a file truncated to nothing
      assertTyped(o.merge, 'FILE_CHANGED', file('merge'));
      // several tensors in one kernel call, and the checksum's native hash
      assertTyped(o.batch, 'FILE_CHANGED', file('batch'));
      assertTyped(o.hashChunks, 'FILE_CHANGED', file('chunks'));
      assert.ok(o.repaired >= 4, `faults repaired: ${o.repaired}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a full disk under a shared write mapping: NO_SPACE naming the output, and nothing under the final name', function () {
    const mount = tinyTmpfs();
    if (mount === undefined) this.skip();  // needs root to mount a tmpfs: nothing to test against
    try {
      const r = runChild('sigbus-child.ts', ['full', mount]);
      assert.equal(r.status, 0, describeExit(r));
      const o = r.result as Record<string, any>;
      // a kernel wrote the output through its mapping: the kernel rejects, commit throws
      assertTyped(o.kernel, 'NO_SPACE', `${mount}/kernel-out.safetensors`);
      assertTyped(o.commit, 'NO_SPACE', `${mount}/kernel-out.safetensors`);
      assert.deepEqual(o.afterKernel, ['filler-1'], 'no final file, no temporary file');
      // JS wrote it (writer.write): write throws, commitAsync throws too
      assertTyped(o.write, 'NO_SPACE', `${mount}/js-out.safetensors`);
      assert.equal(o.commitAsync.threw, true);
      assert.deepEqual(o.afterWrite, ['filler-2']);
      // written through a plain view and never checked: commit refuses it
      assertTyped(o.viewCommit, 'NO_SPACE', `${mount}/view-out.safetensors`);
      assert.deepEqual(o.afterView, ['filler-3']);
      assert.ok(o.repaired >= 3, `faults repaired: ${o.repaired}`);
    } finally {
      execFileSync('umount', [mount]);
      fs.rmSync(mount, { recursive: true, force: true });
    }
  });

  it('a SIGBUS that is not ours still gets the default action (the process dies of it)', function () {
    // Under `npm run test:asan` the handler before ours is ASan's, which reports and exits.
    if ((process.env.LD_PRELOAD ?? '').includes('libasan')) this.skip();
    const r = runChild('sigbus-child.ts', ['foreign', '-']);
    assert.equal(r.signal, 'SIGBUS', describeExit(r));
  });
});
