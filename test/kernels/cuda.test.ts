// CUDA against the CPU, bit for bit, on host buffers (staged through pinned memory) and on
// GPU-resident DeviceTensors. Skips cleanly where this build has no CUDA or there is no GPU.
import assert from 'node:assert/strict';

import * as k from '../../lib/kernels/index.js';
import { RUN_SEED, bitsOf, firstDifference, randomBits, rng, toBuffer } from './inputs.js';
import type { DType } from './reference.js';

const status = k.cudaStatus();
const DTYPES: DType[] = ['F32', 'F16', 'BF16'];

describe(`CUDA kernels match the CPU bit for bit (seed ${RUN_SEED})`, function () {
  before(function () {
    if (!status.available) {
      console.log(`      (skipped: ${status.reason})`);
      this.skip();
    }
  });

  const random = rng(RUN_SEED ^ 0x2545f491);

  function resident(buf: Float32Array | Uint16Array): k.DeviceTensor {
    const t = new k.DeviceTensor(buf.byteLength);
    t.upload(buf);
    return t;
  }
  function fetch(t: k.DeviceTensor, like: Float32Array | Uint16Array): Float32Array | Uint16Array {
    const out = like instanceof Float32Array ? new Float32Array(like.length) : new Uint16Array(like.length);
    t.download(out);
    return out;
  }

  for (const dtype of DTYPES) {
    for (const strategy of k.STRATEGY_NAMES) {
      for (const granularity of ['element', 'row', 'tensor'] as const) {
        it(`de ${strategy} ${granularity} ${dtype}: host-staged and resident`, async () => {
          const rowLength = 97;
          const n = rowLength * (300 + Math.floor(random() * 50));
          const [x, a, b, c] = [0, 1, 2, 3].map(() => toBuffer(randomBits(n, dtype, random), dtype));
          const common = { strategy, granularity, dtype, F: 0.7, CR: 0.55, seed: BigInt(Math.floor(random() * 2 ** 50)), trial: 17, tensorIndex: 3, rowLength };
          const cpu = toBuffer(new Uint32Array(n), dtype);
          await k.de({ ...common, target: x!, a: a!, b: b!, r0: c!, best: c!, ref: c!, out: cpu, backend: 'cpu' });
          const staged = toBuffer(new Uint32Array(n), dtype);
          await k.de({ ...common, target: x!, a: a!, b: b!, r0: c!, best: c!, ref: c!, out: staged, backend: 'cuda' });
          assert.equal(firstDifference(bitsOf(staged), bitsOf(cpu)), undefined, 'staged');
          const [dx, da, db, dc, dout] = [x!, a!, b!, c!, cpu].map(resident);
          await k.de({ ...common, target: dx!, a: da!, b: db!, r0: dc!, best: dc!, ref: dc!, out: dout!, backend: 'cuda' });
          assert.equal(firstDifference(bitsOf(fetch(dout!, cpu)), bitsOf(cpu)), undefined, 'resident');
          for (const t of [dx, da, db, dc, dout]) t!.free();
        });
      }
    }

    it(`merges, convert, stats and SLERP ${dtype}`, async () => {
      const n = 50_000 + Math.floor(random() * 1000);
      const inputs = [0, 1, 2].map(() => toBuffer(randomBits(n, dtype, random), dtype));
      const base = toBuffer(randomBits(n, dtype, random), dtype);
      const calls: [string, (o: { out: any; inputs: any[]; base: any; backend: 'cpu' | 'cuda' }) => Promise<unknown>][] = [
        ['linear', (o) => k.linear({ ...o, weights: [0.2, 0.3, 0.5], inDtype: dtype })],
        ['task_arithmetic', (o) => k.taskArithmetic({ ...o, weights: [1, 0.5, 0.25], lambda: 0.7, inDtype: dtype })],
        ['ties', (o) => k.ties({ ...o, weights: [1, 1, 1], density: 0.3, inDtype: dtype })],
        ['dare_ties', (o) => k.dare({ ...o, weights: [1, 1, 1], density: 0.4, combine: 'ties', seed: 5, tensorIndex: 9, inDtype: dtype })],
      ];
      for (const [name, call] of calls) {
        const cpu = toBuffer(new Uint32Array(n), dtype);
        await call({ out: cpu, inputs, base, backend: 'cpu' });
        const staged = toBuffer(new Uint32Array(n), dtype);
        await call({ out: staged, inputs, base, backend: 'cuda' });
        assert.equal(firstDifference(bitsOf(staged), bitsOf(cpu)), undefined, `${name} staged`);
        const dev = inputs.map(resident);
        const dbase = resident(base);
        const dout = resident(staged.fill(0));
        await call({ out: dout, inputs: dev, base: dbase, backend: 'cuda' });
        assert.equal(firstDifference(bitsOf(fetch(dout, cpu)), bitsOf(cpu)), undefined, `${name} resident`);
        for (const t of [...dev, dbase, dout]) t.free();
      }
      const dx = resident(inputs[0]!);
      const cpuStats = await k.stats(inputs[0]!, dtype, { backend: 'cpu' });
      assert.deepEqual(await k.stats(dx, dtype, { backend: 'cuda' }), cpuStats);
      for (const outDtype of DTYPES) {
        const cpu = toBuffer(new Uint32Array(n), outDtype);
        await k.convert({ src: inputs[0]!, inDtype: dtype, out: cpu, outDtype, backend: 'cpu' });
        const gpu = toBuffer(new Uint32Array(n), outDtype);
        await k.convert({ src: inputs[0]!, inDtype: dtype, out: gpu, outDtype, backend: 'cuda' });
        assert.equal(firstDifference(bitsOf(gpu), bitsOf(cpu)), undefined, `convert ${dtype}->${outDtype}`);
      }
      dx.free();
    });
  }
});
