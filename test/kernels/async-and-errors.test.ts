import assert from 'node:assert/strict';

import { KernelArgumentError, de, linear, setThreads, getThreads, bestIsa } from '../../lib/kernels/index.js';
import { native } from '../../lib/native.js';
import { SafetensorsFile } from '../../lib/store/safetensors.js';
import { BF16_BASE } from '../helpers.js';

const isKernelError = (pattern: RegExp) => (e: unknown) => e instanceof KernelArgumentError && pattern.test(e.message);

describe('kernel calls are asynchronous and refuse bad arguments with typed errors', () => {
  it('keeps the event loop running while a kernel works on 1 GB', async function () {
    const n = 64 * 1024 * 1024;  // 4 operands of 256 MiB f32 = 1 GiB
    const [x, a, b, out] = [0, 1, 2, 3].map(() => new Float32Array(n));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const started = Date.now();
    const pending = de({ strategy: 'current/1', dtype: 'F32', target: x!, a: a!, b: b!, out: out!, F: 0.5, CR: 0.5, seed: 1, stream: 0, threads: 1, isa: 'scalar' });
    assert.ok(pending instanceof Promise);
    await pending;
    clearInterval(timer);
    const elapsed = Date.now() - started;
    assert.ok(ticks >= 3 && ticks >= elapsed / 2 / 4, `timer ticked ${ticks} times during ${elapsed} ms of kernel work`);
  });

  it('a view too short, a dtype mismatch or a bad parameter is a KernelArgumentError naming the field', async () => {
    const x = new Uint16Array(100), a = new Uint16Array(100), b = new Uint16Array(99), out = new Uint16Array(100);
    await assert.rejects(de({ strategy: 'current/1', dtype: 'BF16', target: x, a, b, out, F: 0.5, CR: 0.5, seed: 1, stream: 0 }), isKernelError(/b to hold 100 BF16/));
    await assert.rejects(de({ strategy: 'current/1', dtype: 'BF16', target: x, a: new Float32Array(50), b: a, out, F: 0.5, CR: 0.5, seed: 1, stream: 0 }), isKernelError(/Uint16Array/));
    await assert.rejects(de({ strategy: 'current/1', dtype: 'BF16', target: x, a, b: a, out, F: 0.5, CR: 1.5, seed: 1, stream: 0 }), isKernelError(/between 0 and 1 for CR but received 1.5/));
    await assert.rejects(de({ strategy: 'sideways/2' as never, dtype: 'BF16', target: x, a, b: a, out, F: 0.5, CR: 0.5, seed: 1, stream: 0 }), isKernelError(/strategy/));
    await assert.rejects(de({ strategy: 'best/1', dtype: 'BF16', target: x, a, b: a, out, F: 0.5, CR: 0.5, seed: 1, stream: 0 }), isKernelError(/for best/));
    await assert.rejects(de({ strategy: 'current/1', dtype: 'BF16', target: x, a, b: a, out, F: 0.5, CR: 0.5, seed: -1, stream: 0 }), isKernelError(/seed/));
    await assert.rejects(de({ strategy: 'current/1', dtype: 'BF16', target: x, a, b: a, out, F: 0.5, CR: 0.5, seed: 1, stream: 0, backend: 'cuda' }), isKernelError(/cuda' is not available/));
    await assert.rejects(linear({ inputs: [x, a], weights: [1], inDtype: 'BF16', out }), isKernelError(/one weight per input/));
  });

  it('the native layer itself refuses short, detached and partly overlapping buffers (never a crash)', async () => {
    const k = native.kernels;
    const base = { strategy: 'current/1', granularity: 'element', dtype: 'F32' as const, rowLength: 1, F: 0.5, CR: 0.5, seed: 0n, stream: 0n };
    assert.throws(() => k.de({ ...base, n: 100, x: new Float32Array(10), a: new Float32Array(100), b: new Float32Array(100), out: new Float32Array(100) }),
      (e: NodeJS.ErrnoException) => e.code === 'ERANGE' && /x: 40 bytes is too short/.test(e.message));
    const file = SafetensorsFile.open(BF16_BASE);
    const view = file.view('transformer.wte.weight');
    file.close();
    assert.throws(() => k.reduce({ dtype: 'BF16', n: 0, x: view }), (e: NodeJS.ErrnoException) => e.code === 'EDETACHED');
    const shared = new Float32Array(200);
    assert.throws(() => k.de({ ...base, n: 100, x: shared.subarray(0, 100), a: shared.subarray(0, 100), b: shared.subarray(0, 100), out: shared.subarray(50, 150) }),
      (e: NodeJS.ErrnoException) => e.code === 'EOVERLAP');
    assert.throws(() => k.de({ ...base, dtype: 'F64' as never, n: 1, x: shared, a: shared, b: shared, out: shared }), (e: NodeJS.ErrnoException) => e.code === 'EDTYPE');
    assert.throws(() => k.de({ ...base, backend: 'avx9000', n: 1, x: shared, a: shared, b: shared, out: shared }), (e: NodeJS.ErrnoException) => e.code === 'EBACKEND');
  });

  it('the default thread count is configurable globally', () => {
    const before = getThreads();
    setThreads(3);
    assert.equal(getThreads(), 3);
    setThreads(0);
    assert.ok(getThreads() >= 1);
    setThreads(before);
    assert.ok(['scalar', 'avx2', 'avx512'].includes(bestIsa()));
  });
});
