/** Fresh random kernel inputs every run, with the values that break sloppy kernels. */
import { type DType, floatBits } from './reference.js';

/** Seeded per run (printed on failure) so a failing case can be replayed with EVOLVER_TEST_SEED. */
export const RUN_SEED = Number(process.env.EVOLVER_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const SPECIAL_F32 = [
  0x00000000, 0x80000000, // +-0
  0x7f800000, 0xff800000, // +-inf
  0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff, // NaNs (quiet, negative, signalling payloads)
  0x00000001, 0x807fffff, 0x00400000, // f32 subnormals
  0x33800000, 0x387fc000, 0x38800000, // f16 subnormal / boundary range
  0x477fe000, 0x477ff000, 0x477ff001, 0x47800000, 0x7f7fffff, 0xff7fffff, // f16 overflow region, f32 max
  0x3f808000, 0x3f818000, 0x3f800001, 0x3f7fffff, // bf16 rounding ties and neighbours
];

/** n raw elements (bits) of dtype: mostly N(0, scale) values, some specials and extremes. */
export function randomBits(n: number, dtype: DType, random: () => number, scale = 1): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const r = random();
    let f32bits: number;
    if (r < 0.04) f32bits = SPECIAL_F32[Math.floor(random() * SPECIAL_F32.length)]!;
    else if (r < 0.06) f32bits = Math.floor(random() * 2 ** 32);  // any bit pattern at all
    else if (r < 0.08) f32bits = floatBits((random() - 0.5) * 2 ** (Math.floor(random() * 60) - 30));
    else {
      const g = Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
      f32bits = floatBits(g * scale);
    }
    out[i] = dtype === 'F32' ? f32bits : dtype === 'BF16' ? f32bits >>> 16 : f16Of(f32bits, random);
  }
  return out;
}

// f16 patterns: the high bits of a float are meaningless as f16, so draw f16 patterns directly.
function f16Of(f32bits: number, random: () => number): number {
  const r = random();
  if (r < 0.05) return [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7c01, 0x0001, 0x83ff, 0x7bff, 0xfbff, 0x0400][Math.floor(random() * 12)]!;
  if (r < 0.1) return Math.floor(random() * 65536);
  const sign = f32bits & 0x80000000 ? 0x8000 : 0;
  return sign | (Math.floor(random() * 8) + 11) << 10 | Math.floor(random() * 1024);  // |x| around 2^-4 .. 2^3
}

/** Writes raw bits into a buffer of dtype at a byte offset of `shift` elements (to test unaligned views). */
export function toBuffer(bits: ArrayLike<number>, dtype: DType, shift = 0): Float32Array | Uint16Array {
  if (dtype === 'F32') {
    const arr = new Uint32Array(bits.length + shift);
    arr.set(Array.from(bits), shift);
    return new Float32Array(arr.buffer, shift * 4, bits.length);
  }
  const arr = new Uint16Array(bits.length + shift);
  arr.set(Array.from(bits), shift);
  return new Uint16Array(arr.buffer, shift * 2, bits.length);
}

export function bitsOf(buf: Float32Array | Uint16Array): number[] {
  if (buf instanceof Uint16Array) return Array.from(buf);
  return Array.from(new Uint32Array(buf.buffer, buf.byteOffset, buf.length));
}

/** The first index where two bit arrays differ, formatted, or undefined. */
export function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) return `element ${i}: got 0x${got[i]!.toString(16)}, want 0x${want[i]!.toString(16)} (run seed ${RUN_SEED})`;
  }
  return undefined;
}
