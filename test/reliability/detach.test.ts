// Detaching or transferring a typed array's buffer while an async kernel runs on it must never
// be a use-after-free: JS-heap buffers are worked on as native copies (an output is copied back
// only if its buffer is still attached, else the promise rejects with EDETACHED naming it);
// mapped views are zero-copy and pinned. Runs in a child (--expose-gc) so a crash fails the test.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import * as k from '../../lib/kernels/index.js';
import { native } from '../../lib/native.js';
import { SafetensorsFile } from '../../lib/store/safetensors.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { tempDir } from '../helpers.js';
import { describeExit, runChild } from './fixtures/child.js';

type Settled = { ok: boolean; code?: string; message?: string; [k: string]: unknown };

describe('buffers detached while a kernel runs (child process, --expose-gc)', function () {
  this.timeout(300_000);

  it('never crashes; an output that was transferred rejects with EDETACHED naming it; inputs are snapshots', () => {
    const r = runChild('detach-child.ts', [String(16 * 1024 * 1024), '2'], ['--expose-gc']);
    assert.equal(r.status, 0, describeExit(r));
    assert.equal(r.signal, null, describeExit(r));
    const res = r.result as Record<string, Settled[]>;
    for (const s of res.outTransferred!) {
      assert.equal(s.ok, false, JSON.stringify(s));
      assert.equal(s.code, 'EDETACHED');
      assert.match(s.message!, /\bout\b/);
      assert.equal(s.outLength, 0);
    }
    for (const s of res.inputTransferred!) {
      assert.equal(s.ok, true, JSON.stringify(s));
      // current/1, CR = 1: out = x + F (a - b) = 1 + 0.5 (2 - 3)
      assert.equal(s.first, 0.5);
      assert.equal(s.last, 0.5);
    }
    for (const s of res.mappedTransferred!.filter((e) => !('transferThrew' in e))) {
      assert.equal(s.ok, true, JSON.stringify(s));
      assert.equal(s.first, 2);  // 1 + 0.5 (3 - 1)
      assert.equal(s.last, 2);
    }
    for (const s of res.mappedClosed!) {
      assert.equal(s.ok, true, JSON.stringify(s));
      assert.equal(s.first, 4);  // 3 + 0.5 (3 - 1)
      assert.equal(s.last, 4);
    }
    for (const s of res.streamTransferred!) {
      assert.equal(s.ok, false, JSON.stringify(s));
      assert.equal(s.code, 'EDETACHED');
      assert.match(s.message!, /\ba\b/);
    }
    for (const s of res.nllTransferred!) {
      assert.equal(s.ok, true, JSON.stringify(s));
      assert.ok(Math.abs((s.mean as number) - Math.log(1024)) < 1e-9, JSON.stringify(s));
    }
    for (const s of res.convertTransferred!) {
      assert.equal(s.ok, false, JSON.stringify(s));
      assert.equal(s.code, 'EDETACHED');
    }
  });

  it('mapped views (the hot path: mapped parents into a mapped output) are never copied; JS-heap ones are, once each way', async () => {
    const dir = tempDir();
    try {
      const n = 1 << 16;
      const file = path.join(dir, 'p.safetensors');
      const w = SafetensorsWriter.create(file, { tensors: ['x', 'a', 'b'].map((name) => ({ name, dtype: 'F32' as const, shape: [n] })) });
      ['x', 'a', 'b'].forEach((name, i) => (w.view(name) as Float32Array).fill(i + 1));
      w.commit();
      const p = SafetensorsFile.open(file);
      const out = SafetensorsWriter.create(path.join(dir, 'child.safetensors'), { tensors: [{ name: 'x', dtype: 'F32', shape: [n] }] });
      const common = { strategy: 'current/1' as const, dtype: 'F32' as const, F: 0.5, CR: 1, seed: 3, stream: 0n };
      const before = native.nativeStats();
      await k.de({ ...common, target: p.view('x'), a: p.view('a'), b: p.view('b'), out: out.view('x') });
      const mapped = native.nativeStats();
      assert.equal(mapped.bufferCopies - before.bufferCopies, 0);
      assert.equal(mapped.bufferCopyBytes - before.bufferCopyBytes, 0);
      // native memory from allocate() is used in place too
      const scratch = new Float32Array(native.allocate(4 * n));
      await k.convert({ src: p.view('x'), inDtype: 'F32', out: scratch, outDtype: 'F32' });
      assert.equal(native.nativeStats().bufferCopies - mapped.bufferCopies, 0);
      assert.equal(scratch[n - 1], 1);
      const heap = new Float32Array(n);
      const atHeap = native.nativeStats();
      await k.de({ ...common, target: p.view('x'), a: p.view('a'), b: p.view('b'), out: heap });
      const after = native.nativeStats();
      assert.equal(after.bufferCopies - atHeap.bufferCopies, 1, 'only the JS-heap output is copied');
      assert.equal(after.bufferCopyBytes - atHeap.bufferCopyBytes, 4 * n);
      assert.equal(heap[0], 0.5);  // x + F (a - b) = 1 + 0.5 (2 - 3)
      assert.equal((out.view('x') as Float32Array)[n - 1], 0.5);
      out.abort();
      p.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
