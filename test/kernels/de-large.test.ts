import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';

import { backends } from '../../lib/backends.js';
import { type CpuIsa, de, STRATEGY_NAMES } from '../../lib/kernels/index.js';
import { native } from '../../lib/native.js';
import { RUN_SEED, bitsOf, firstDifference, randomBits, rng, toBuffer } from './inputs.js';
import type { DType } from './reference.js';

const SIMD: CpuIsa[] = (['avx2', 'avx512'] as const).filter((n) => backends().find((b) => b.name === n)!.available);
const BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

// Children of 4 MiB or more take the SIMD kernels' streaming path (non-temporal stores from a
// 64-byte aligned element on): check it, and the unaligned ends around it, against the scalar
// table on outputs in native memory (used in place, so their alignment is what the kernel sees).
describe(`de kernel on children over 4 MiB (streaming stores): SIMD = scalar, bit for bit (isas: ${SIMD.join(', ') || 'none'}; seed ${RUN_SEED})`, () => {
  const random = rng(RUN_SEED + 7);
  const n = 2_200_003;  // > 4 MiB in every dtype
  for (const dtype of ['BF16', 'F32', 'F16'] as const) {
    it(`${dtype}: every strategy, aligned and unaligned children, in place, odd chunks`, async function () {
      if (SIMD.length === 0) this.skip();
      const size = BYTES[dtype];
      const view = (buf: ArrayBuffer, shift: number) => (dtype === 'F32' ? new Float32Array(buf, shift * 4, n) : new Uint16Array(buf, shift * 2, n));
      // Inputs in native memory too: no per-call copies.
      const [x, a, b, c] = [0, 1, 2, 3].map(() => {
        const v = view(native.allocate(n * size), 0);
        v.set(toBuffer(randomBits(n, dtype, random), dtype) as never);
        return v;
      });
      const bytes = (v: Float32Array | Uint16Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      const same = (got: Float32Array | Uint16Array, want: Float32Array | Uint16Array, what: string) => {
        if (!bytes(got).equals(bytes(want))) assert.fail(`${what}: ${firstDifference(bitsOf(got), bitsOf(want))}`);
      };
      for (const strategy of STRATEGY_NAMES) {
        const common = { strategy, dtype, target: x!, a: a!, b: b!, r0: c!, best: c!, ref: c!, F: 0.7, CR: 0.6, seed: 1234, trial: 5, tensorIndex: 9 };
        const want = view(native.allocate(n * size), 0);
        await de({ ...common, out: want, isa: 'scalar', threads: 2 });
        for (const isa of SIMD) {
          for (const shift of [0, 1, 4, 13]) {  // element offsets of the child in its 64-byte aligned allocation
            const out = view(native.allocate(n * size + 64), shift);
            const [threads, chunk] = shift === 13 ? [3, 100_003] : [2, 65536];
            await de({ ...common, out, isa, threads, chunk });
            same(out, want, `${strategy} ${isa} shift ${shift}`);
          }
          // In place: the target itself, at an unaligned offset.
          const target = view(native.allocate(n * size + 64), 4);
          target.set(x! as never);
          await de({ ...common, target, out: target, isa, threads: 2 });
          same(target, want, `${strategy} ${isa} in place`);
        }
      }
    });
  }
});
