import assert from 'node:assert/strict';

import { type CpuIsa, de, deBatch, STRATEGY_NAMES, type Strategy } from '../../lib/kernels/index.js';
import { native } from '../../lib/native.js';
import { backends } from '../../lib/backends.js';
import { RUN_SEED, bitsOf, firstDifference, randomBits, rng, toBuffer } from './inputs.js';
import { type DType, deRef } from './reference.js';

export const ISAS: CpuIsa[] = ['scalar', ...(['avx2', 'avx512'] as const).filter((n) => backends().find((b) => b.name === n)!.available)];
const DTYPES: DType[] = ['F32', 'F16', 'BF16'];
const GRANULARITIES = ['element', 'row', 'tensor'] as const;

describe(`de kernel: every strategy x dtype x granularity, bit for bit (isas: ${ISAS.join(', ')}; seed ${RUN_SEED})`, () => {
  const random = rng(RUN_SEED);
  for (const dtype of DTYPES) {
    for (const strategy of STRATEGY_NAMES) {
      for (const granularity of GRANULARITIES) {
        it(`${strategy} ${granularity} ${dtype}`, async () => {
          const rowLength = 7 + Math.floor(random() * 60);
          const rows = 20 + Math.floor(random() * 20);
          const n = granularity === 'row' ? rows * rowLength : 1000 + Math.floor(random() * 200);
          const [x, a, b, c] = [0, 1, 2, 3].map(() => randomBits(n, dtype, random));
          const F = Math.fround(0.1 + random());
          const CR = Math.fround(granularity === 'element' ? random() : 0.5);
          const seed = BigInt(Math.floor(random() * 2 ** 53));
          const stream = BigInt(Math.floor(random() * 50)) * 2n ** 20n + BigInt(Math.floor(random() * 50));
          // Tensor granularity draws once: try streams until both outcomes have been seen.
          const want = deRef({ strategy, granularity, dtype, x: x!, a: a!, b: b!, c: c!, F, CR, seed, stream, rowLength });
          for (const isa of ISAS) {
            const shift = Math.floor(random() * 4);
            const bufs = { target: toBuffer(x!, dtype, shift), a: toBuffer(a!, dtype, shift + 1), b: toBuffer(b!, dtype), c: toBuffer(c!, dtype, 3) };
            const out = toBuffer(new Uint32Array(n), dtype, (shift + 2) % 4);
            const threads = [1, 2, 3, 7][Math.floor(random() * 4)]!;
            const chunk = [1, 13, 64, 333, 100000][Math.floor(random() * 5)]!;
            await de({
              strategy, granularity, dtype, F, CR, seed, stream, rowLength, isa, threads, chunk,
              target: bufs.target, a: bufs.a, b: bufs.b, r0: bufs.c, best: bufs.c, ref: bufs.c, out,
            });
            const diff = firstDifference(bitsOf(out), want);
            assert.equal(diff, undefined, `${isa}, ${threads} threads, chunk ${chunk}: ${diff}`);
          }
        });
      }
    }
  }

  it('runs in place (child = target) with the same bits', async () => {
    const n = 5003;
    const [x, a, b] = [0, 1, 2].map(() => randomBits(n, 'BF16', random));
    const want = deRef({ strategy: 'current/1', granularity: 'element', dtype: 'BF16', x: x!, a: a!, b: b!, c: x!, F: 0.5, CR: 0.3, seed: 7n, stream: 11n, rowLength: 1 });
    for (const isa of ISAS) {
      const target = toBuffer(x!, 'BF16');
      await de({ strategy: 'current/1', dtype: 'BF16', target, out: target, a: toBuffer(a!, 'BF16'), b: toBuffer(b!, 'BF16'), F: 0.5, CR: 0.3, seed: 7, stream: 11, isa });
      assert.equal(firstDifference(bitsOf(target), want), undefined, isa);
    }
  });

  it('pieces of a tensor (offset) give the same bits as the whole (tensors over 4 GiB are run in pieces)', async () => {
    const n = 10_007, rowLength = 31 * 7;
    const [x, a, b] = [0, 1, 2].map(() => toBuffer(randomBits(n * 3, 'BF16', random), 'BF16').subarray(0, n * 3 - (n * 3) % rowLength) as Uint16Array);
    const total = x!.length;
    for (const granularity of ['element', 'row'] as const) {
      const whole = new Uint16Array(total);
      const common = { strategy: 'current/1' as const, granularity, dtype: 'BF16' as const, F: 0.5, CR: 0.5, seed: 3, stream: 9, rowLength };
      await de({ ...common, target: x!, a: a!, b: b!, out: whole });
      const pieces = new Uint16Array(total);
      for (const [from, to] of [[0, 4093], [4093, 17001], [17001, total]] as const) {
        await de({ ...common, target: x!.subarray(from, to), a: a!.subarray(from, to), b: b!.subarray(from, to), out: pieces.subarray(from, to), offset: from });
      }
      assert.equal(firstDifference(bitsOf(pieces), bitsOf(whole)), undefined, granularity);
    }
  });

  it('deBatch: every strategy x dtype x granularity and the pieces of a tensor in one call, each with the bits of the reference', async () => {
    type Case = { want: ArrayLike<number>; out: Float32Array | Uint16Array; call: Parameters<typeof de>[0] };
    for (const isa of ISAS) {
      const threads = [1, 2, 3][Math.floor(random() * 3)]!;
      const chunk = [13, 333, 100000][Math.floor(random() * 3)]!;
      const cases: Case[] = [];
      for (const dtype of DTYPES) {
        for (const strategy of STRATEGY_NAMES) {
          for (const granularity of GRANULARITIES) {
            const rowLength = 7 + Math.floor(random() * 30);
            const n = granularity === 'row' ? (5 + Math.floor(random() * 20)) * rowLength : 1 + Math.floor(random() * 1500);
            const [x, a, b, c] = [0, 1, 2, 3].map(() => randomBits(n, dtype, random));
            const common = { strategy, granularity, dtype, F: Math.fround(0.1 + random()), CR: Math.fround(random()), seed: BigInt(Math.floor(random() * 2 ** 53)), stream: BigInt(Math.floor(random() * 2 ** 30)), rowLength };
            const out = toBuffer(new Uint32Array(n), dtype);
            const target = toBuffer(x!, dtype), third = toBuffer(c!, dtype);
            cases.push({ want: deRef({ ...common, x: x!, a: a!, b: b!, c: c! }), out, call: { ...common, isa, threads, chunk, target, a: toBuffer(a!, dtype), b: toBuffer(b!, dtype), r0: third, best: third, ref: third, out } });
          }
        }
      }
      // A tensor in three pieces (offset), as the engine runs tensors over 4 GiB.
      const n = 5000, rowLength = 40;
      const [x, a, b] = [0, 1, 2].map(() => randomBits(n, 'BF16', random));
      const common = { strategy: 'current/1' as const, granularity: 'row' as const, dtype: 'BF16' as const, F: 0.5, CR: 0.5, seed: 3n, stream: 9n, rowLength };
      const want = deRef({ ...common, x: x!, a: a!, b: b!, c: x! });
      const [bx, ba, bb] = [x!, a!, b!].map((v) => toBuffer(v, 'BF16') as Uint16Array);
      const whole = new Uint16Array(n);
      for (const [from, to] of [[0, 1203], [1203, 4000], [4000, n]] as const) {
        cases.push({ want: want.slice(from, to), out: whole.subarray(from, to), call: { ...common, isa, threads, chunk, target: bx!.subarray(from, to), a: ba!.subarray(from, to), b: bb!.subarray(from, to), out: whole.subarray(from, to), offset: from } });
      }
      await deBatch(cases.map((c) => c.call));
      cases.forEach((c, i) => assert.equal(firstDifference(bitsOf(c.out), c.want), undefined, `${isa}, ${threads} threads, chunk ${chunk}, call ${i} (${c.call.strategy} ${c.call.granularity} ${c.call.dtype})`));
    }
  });

  it('deBatch refuses an output that overlaps another call, calls that differ in threads, and names the bad call', async () => {
    const x = new Uint16Array(native.allocate(4000)), out = new Uint16Array(native.allocate(4000));
    const call = { strategy: 'interp' as const, dtype: 'BF16' as const, F: 0.5, CR: 0.5, seed: 1, stream: 2, target: x, ref: x };
    await assert.rejects(async () => deBatch([{ ...call, out }, { ...call, target: out, ref: x, out: new Uint16Array(2000) }]), /EOVERLAP|overlaps a buffer of calls\[1\]/);
    await assert.rejects(async () => deBatch([{ ...call, out, threads: 1 }, { ...call, out: new Uint16Array(native.allocate(4000)), threads: 2 }]), /same backend, threads and chunk/);
    await assert.rejects(async () => deBatch([{ ...call, out }, { ...call, out: new Uint16Array(10) }]), /calls\[1\]/);
    await deBatch([]);  // nothing to do
    // An empty call overlaps nothing, wherever its (empty) views point, as with de().
    const empty = { ...call, target: x.subarray(0, 0), ref: x.subarray(0, 0), out: x.subarray(100, 100) };
    await deBatch([empty, { ...call, out }]);
  });

  it('CR = 0 copies the target bits exactly (NaN payloads included); CR = 1 takes every mutant', async () => {
    const n = 777;
    const [x, a, b] = [0, 1, 2].map(() => randomBits(n, 'F32', random));
    for (const isa of ISAS) {
      const out = new Float32Array(n);
      await de({ strategy: 'current/1', dtype: 'F32', target: toBuffer(x!, 'F32'), a: toBuffer(a!, 'F32'), b: toBuffer(b!, 'F32'), out, F: 0.5, CR: 0, seed: 1, stream: 0, isa });
      assert.equal(firstDifference(bitsOf(out), x!), undefined);
      await de({ strategy: 'current/1', dtype: 'F32', target: toBuffer(x!, 'F32'), a: toBuffer(a!, 'F32'), b: toBuffer(b!, 'F32'), out, F: 0.5, CR: 1, seed: 1, stream: 0, isa });
      const want = deRef({ strategy: 'current/1', granularity: 'element', dtype: 'F32', x: x!, a: a!, b: b!, c: x!, F: 0.5, CR: 1, seed: 1n, stream: 0n, rowLength: 1 });
      assert.equal(firstDifference(bitsOf(out), want), undefined);
    }
  });

  it('gives the same bits for 1, 2, 3 and 7 threads and odd chunk sizes on a larger tensor', async () => {
    const n = 300_007;
    const [x, a, b, c] = [0, 1, 2, 3].map(() => toBuffer(randomBits(n, 'BF16', random), 'BF16'));
    let reference: number[] | undefined;
    for (const strategy of ['current/1', 'current-to-best/1'] as Strategy[]) {
      reference = undefined;
      for (const isa of ISAS) {
        for (const [threads, chunk] of [[1, 65536], [2, 4097], [3, 1], [7, 99991], [7, 12345]] as const) {
          if (chunk === 1 && isa !== 'avx512') continue;  // one element per chunk is slow; one ISA is enough
          const out = new Uint16Array(n);
          await de({ strategy, dtype: 'BF16', target: x!, a: a!, b: b!, best: c!, out, F: 0.7, CR: 0.6, seed: 99, trial: 3, tensorIndex: 5, isa, threads, chunk });
          const bits = bitsOf(out);
          if (reference === undefined) reference = bits;
          else assert.equal(firstDifference(bits, reference), undefined, `${strategy} ${isa} ${threads} threads chunk ${chunk}`);
        }
      }
    }
  });
});
