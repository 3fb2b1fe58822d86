/**
 * A deliberately plain TypeScript implementation of docs/design.md's kernel semantics, written
 * independently of the C++ code: Philox from 16-bit partial products, dtype conversions from
 * the IEEE definitions, float32 fma by round-to-odd, TIES selection by sorting. The native
 * kernels must match it bit for bit.
 */

export type DType = 'F32' | 'F16' | 'BF16';

// ---------- float32 arithmetic ----------

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** Float32 +, -, *, / computed in double then rounded: correctly rounded (53 >= 2*24 + 2). */
export const fadd = (a: number, b: number) => Math.fround(a + b);
export const fsub = (a: number, b: number) => Math.fround(a - b);
export const fmul = (a: number, b: number) => Math.fround(a * b);
export const fdiv = (a: number, b: number) => Math.fround(a / b);

/** Float32 fma: a*b is exact in double; the sum is rounded to odd, then to float32 (Boldo-Melquiond). */
export function ffma(a: number, b: number, c: number): number {
  const p = a * b;
  if (!Number.isFinite(p) || !Number.isFinite(c)) return Math.fround(p + c);
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  // TwoSum: s + e == p + c exactly.
  const bp = s - c;
  const e = (p - bp) + (c - (s - bp));
  if (e === 0 || s === 0) return Math.fround(s);
  f64[0] = s;
  if ((u64[0]! & 1n) === 0n) {
    // Round to odd: step s one ulp towards the exact value.
    const towardsLarger = (e > 0) === (s > 0);
    u64[0] = towardsLarger ? u64[0]! + 1n : u64[0]! - 1n;
  }
  return Math.fround(f64[0]);
}

// ---------- dtypes ----------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function floatBits(f: number): number {
  f32[0] = f;
  return u32[0]!;
}
export function bitsFloat(b: number): number {
  u32[0] = b >>> 0;
  return f32[0]!;
}

export function bf16ToFloat(h: number): number {
  return bitsFloat(h * 65536);
}

export function floatToBf16(f: number): number {
  if (Number.isNaN(f)) return 0x7fc0;
  const u = floatBits(f);
  const upper = u >>> 16;
  const lower = u & 0xffff;
  if (lower > 0x8000 || (lower === 0x8000 && (upper & 1) === 1)) return (upper + 1) & 0xffff;
  return upper;
}

export function f16ToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** f16 bits of a float32 value, round to nearest even, overflow to infinity, NaN canonical. */
export function floatToF16(f: number): number {
  if (Number.isNaN(f)) return 0x7e00;
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a >= 65520) return sign | 0x7c00;
  const roundEven = (x: number) => {
    const fl = Math.floor(x);
    const diff = x - fl;
    if (diff > 0.5) return fl + 1;
    if (diff < 0.5) return fl;
    return fl % 2 === 0 ? fl : fl + 1;
  };
  if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24);  // subnormal (or rounds up to the smallest normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  let m = roundEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

export function loadAs(bits: number, t: DType): number {
  if (t === 'F32') return bitsFloat(bits);
  return t === 'BF16' ? bf16ToFloat(bits) : f16ToFloat(bits);
}

export function storedBits(v: number, t: DType): number {
  if (t === 'F32') return Number.isNaN(v) ? 0x7fc00000 : floatBits(v);
  return t === 'BF16' ? floatToBf16(v) : floatToF16(v);
}

// ---------- Philox4x32-10 ----------

function mulhilo(a: number, b: number): [number, number] {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const low = al * bl;
  const mid = ah * bl + al * bh;
  const x = low + (mid % 65536) * 65536;
  const lo = x % 2 ** 32;
  const hi = (ah * bh + Math.floor(mid / 65536) + Math.floor(x / 2 ** 32)) % 2 ** 32;
  return [hi, lo];
}

export function philoxBlock(c: [number, number, number, number], k: [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = c;
  let [k0, k1] = k;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9) % 2 ** 32;
      k1 = (k1 + 0xbb67ae85) % 2 ** 32;
    }
    const [hi0, lo0] = mulhilo(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

export function philoxDraw(seed: bigint, stream: bigint, draw: number): number {
  const block = BigInt(Math.floor(draw / 4));
  const word = philoxBlock(
    [Number(block & 0xffffffffn), Number(block >> 32n), Number(stream & 0xffffffffn), Number(stream >> 32n)],
    [Number(seed & 0xffffffffn), Number(seed >> 32n)],
  );
  return word[draw % 4]!;
}

export const uniform = (word: number) => Math.fround((word >>> 8) * 2 ** -24);

// ---------- kernels ----------

export type Strategy = 'current/1' | 'rand/1' | 'best/1' | 'current-to-best/1' | 'interp';

export function mutant(s: Strategy, F: number, x: number, a: number, b: number, c: number): number {
  switch (s) {
    case 'current/1': return ffma(F, fsub(a, b), x);
    case 'rand/1':
    case 'best/1': return ffma(F, fsub(a, b), c);
    case 'current-to-best/1': return ffma(F, fsub(a, b), ffma(F, fsub(c, x), x));
    case 'interp': return ffma(F, fsub(c, x), x);
  }
}

export interface DeRef {
  strategy: Strategy;
  granularity: 'element' | 'row' | 'tensor';
  dtype: DType;
  x: ArrayLike<number>; // raw bits
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  c: ArrayLike<number>;
  F: number;
  CR: number;
  seed: bigint;
  stream: bigint;
  rowLength: number;
}

/** The child's raw bits. */
export function deRef(o: DeRef): number[] {
  const F = Math.fround(o.F), CR = Math.fround(o.CR);
  const out: number[] = [];
  let tensorDraw: number | undefined;
  for (let e = 0; e < o.x.length; e++) {
    let u: number;
    if (o.granularity === 'element') u = uniform(philoxDraw(o.seed, o.stream, e));
    else if (o.granularity === 'row') u = uniform(philoxDraw(o.seed, o.stream, Math.floor(e / o.rowLength)));
    else u = tensorDraw ??= uniform(philoxDraw(o.seed, o.stream, 0));
    if (!(u < CR)) {
      out.push(o.x[e]!);
      continue;
    }
    const v = mutant(o.strategy, F, loadAs(o.x[e]!, o.dtype), loadAs(o.a[e]!, o.dtype), loadAs(o.b[e]!, o.dtype), loadAs(o.c[e]!, o.dtype));
    out.push(storedBits(v, o.dtype));
  }
  return out;
}

export interface MergeRef {
  kind: 'linear' | 'task_arithmetic' | 'ties';
  sparsify: 'none' | 'magnitude' | 'random' | 'magnitude_band' | 'della';
  /** della: per-model epsilon, and the row length magnitudes are ranked in. */
  epsilon?: number | number[];
  rowLength?: number;
  gamma?: number | number[];
  normalize?: boolean;
  inDtype: DType;
  outDtype: DType;
  inputs: ArrayLike<number>[]; // raw bits
  weights: number[];
  base?: ArrayLike<number>;
  lambda: number;
  /** One for every model or one per model (gamma too). */
  density: number | number[];
  /** true = 'density' (divide by it), false = 'none', 'l1' = times L1(tau) / L1(kept tau). */
  rescale: boolean | 'none' | 'density' | 'l1';
  seed: bigint;
  tensorIndex: number;
}

/** mergekit's L1 rescale factor: sums of |tau| in double, blocks of 4096 in order (as cpp/kernels/l1_scale.cc). */
function l1Scale(tau: number[], kept: boolean[]): number {
  let all = 0, keptSum = 0;
  for (let b = 0; b < tau.length; b += 4096) {
    let sa = 0, sk = 0;
    for (let e = b; e < Math.min(tau.length, b + 4096); e++) {
      sa += Math.abs(tau[e]!);
      if (kept[e]) sk += Math.abs(tau[e]!);
    }
    all += sa;
    keptSum += sk;
  }
  const ratio = all / keptSum;
  return all < 1e-7 || keptSum < 1e-7 || !Number.isFinite(ratio) ? 1 : Math.fround(ratio);
}

/** The exact top-k (k = floor(density * n)) by |tau| magnitude bits, ties to the lower index. */
const countOf = (fraction: number, n: number) => (fraction >= 1 ? n : fraction <= 0 ? 0 : Math.min(n, Math.floor(fraction * n)));

/** Ranks [skip, skip + k) by |tau| magnitude bits, descending, ties to the lower index. */
function magnitudeKept(tau: number[], density: number, gamma = 0): boolean[] {
  const n = tau.length;
  const k = countOf(density, n);
  let skip = countOf(gamma, n);
  if (k + skip > n) skip = n - k;
  const order = tau.map((t, i) => ({ key: floatBits(t) & 0x7fffffff, i }));
  order.sort((p, q) => q.key - p.key || p.i - q.i);
  const kept = new Array<boolean>(n).fill(false);
  for (let r = skip; r < skip + k; r++) kept[order[r]!.i] = true;
  return kept;
}

/** DELLA MagPrune: per row, ascending |tau| rank r of C (ties: lower index first), keep when u(e) < (d − ε) + 2ε·r/(C − 1). */
function dellaKept(tau: number[], density: number, eps: number, rowLength: number, u: (e: number) => number): boolean[] {
  if (density >= 1) return tau.map(() => true);
  if (!(density > 0)) return tau.map(() => false);
  const kept = new Array<boolean>(tau.length).fill(false);
  for (let begin = 0; begin < tau.length; begin += rowLength) {
    const idx = Array.from({ length: Math.min(rowLength, tau.length - begin) }, (_, k) => begin + k);
    const key = (e: number) => (Number.isNaN(tau[e]!) ? 0x7f800001 : floatBits(tau[e]!) & 0x7fffffff);  // NaN just above +Inf, as della_mask.cc
    idx.sort((a, b) => key(a) - key(b) || a - b);
    idx.forEach((e, rank) => {
      const p = density - eps + (idx.length > 1 ? rank / (idx.length - 1) : 0) * 2 * eps;
      kept[e] = u(e) < p;
    });
  }
  return kept;
}

export function mergeRef(o: MergeRef): number[] {
  const n = o.inputs[0]!.length;
  const w = o.weights.map(Math.fround);
  const lambda = Math.fround(o.lambda);
  const densityOf = (i: number) => Math.fround(Array.isArray(o.density) ? o.density[i]! : o.density);
  const gammaOf = (i: number) => Math.fround(Array.isArray(o.gamma) ? o.gamma[i]! : o.gamma ?? 0);
  const rescale = o.rescale === true ? 'density' : o.rescale === false ? 'none' : o.rescale;
  const base = (e: number) => (o.kind === 'linear' ? 0 : loadAs(o.base![e]!, o.inDtype));
  // t[i][e]: the (sparsified) task vector, or the input itself for linear.
  const t = o.inputs.map((x, i) => {
    const tau = Array.from({ length: n }, (_, e) => (o.kind === 'linear' ? loadAs(x[e]!, o.inDtype) : fsub(loadAs(x[e]!, o.inDtype), base(e))));
    if (o.kind === 'linear' || o.sparsify === 'none') return tau;
    const density = densityOf(i);
    const stream = BigInt(i) * 2n ** 20n + BigInt(o.tensorIndex);
    const kept = o.sparsify === 'magnitude' || o.sparsify === 'magnitude_band'
      ? magnitudeKept(tau, density, o.sparsify === 'magnitude_band' ? gammaOf(i) : 0)
      : o.sparsify === 'della'
        ? dellaKept(tau, density, Math.fround(Array.isArray(o.epsilon) ? o.epsilon[i]! : o.epsilon!), o.rowLength!, (e) => uniform(philoxDraw(o.seed, stream, e)))
        : tau.map((_, e) => uniform(philoxDraw(o.seed, stream, e)) < density);
    const scale = rescale === 'l1' ? l1Scale(tau, kept) : 1;
    return tau.map((v, e) => (kept[e] ? (rescale === 'density' ? fdiv(v, density) : rescale === 'l1' ? fmul(v, scale) : v) : 0));
  });
  const out: number[] = [];
  for (let e = 0; e < n; e++) {
    let result: number;
    if (o.kind === 'ties') {
      let elected = 0;
      for (let i = 0; i < t.length; i++) elected = ffma(w[i]!, t[i]![e]!, elected);
      const positive = elected >= 0;
      let num = 0, den = 0;
      for (let i = 0; i < t.length; i++) {
        const v = t[i]![e]!;
        // mergekit's get_mask tests the sign of the weighted entry, w_i * tau_i.
        const weighted = fmul(w[i]!, v);
        if (positive ? weighted > 0 : weighted < 0) {
          num = ffma(w[i]!, v, num);
          den = fadd(den, w[i]!);
        }
      }
      result = ffma(lambda, o.normalize === false ? num : den !== 0 ? fdiv(num, den) : num, base(e));
    } else {
      let acc = 0;
      for (let i = 0; i < t.length; i++) acc = ffma(w[i]!, t[i]![e]!, acc);
      result = o.kind === 'linear' ? acc : ffma(lambda, acc, base(e));
    }
    out.push(storedBits(result, o.outDtype));
  }
  return out;
}

/** mergekit's nearswap, float32: w = clamp(t / max(|a − b|, 1e-6), 0, 1), fma(w, b, (1 − w)·a); a = base. */
export function nearswapRef(x: ArrayLike<number>, base: ArrayLike<number>, t: number, inDtype: DType, outDtype: DType): number[] {
  const tf = Math.fround(t), eps = Math.fround(1e-6);
  return Array.from({ length: x.length }, (_, e) => {
    const a = loadAs(base[e]!, inDtype), b = loadAs(x[e]!, inDtype);
    let d = fsub(a, b);
    if (d < 0) d = -d;
    if (d < eps) d = eps;
    let w = fdiv(tf, d);
    if (w < 0) w = 0;
    if (w > 1) w = 1;
    return storedBits(ffma(w, b, fmul(fsub(1, w), a)), outDtype);
  });
}

/** RAM / RAM+ tensor-local (mergekit's ram, ramplus_tl), float32 as cpp/kernels: see lib/kernels ram(). */
export function ramRef(inputs: ArrayLike<number>[], base: ArrayLike<number>, inDtype: DType, outDtype: DType, eps: number, plus: boolean, r = 0.1, alpha = 0.2): number[] {
  const n = base.length, e32 = Math.fround(eps);
  const tau = inputs.map((x) => Array.from({ length: n }, (_, e) => fsub(loadAs(x[e]!, inDtype), loadAs(base[e]!, inDtype))));
  const nz = tau.map((t) => t.map((v) => Math.abs(v) > e32));
  const count = Array.from({ length: n }, (_, e) => nz.reduce((c, z) => c + (z[e] ? 1 : 0), 0));
  const scale = inputs.map((_, i) => {
    if (!plus) return 1;
    let shared = 0, unique = 0;
    for (let e = 0; e < n; e++) if (nz[i]![e]) (count[e]! > 1 ? shared++ : unique++);
    const rho = shared / Math.max(unique, e32);
    return Math.fround(1 + Math.fround(r) * Math.min(Math.max(rho, 0), Math.fround(alpha)));
  });
  return Array.from({ length: n }, (_, e) => {
    let acc = 0;
    const c = count[e]!;
    inputs.forEach((_, i) => {
      if (nz[i]![e]) acc = fadd(acc, c > 1 ? fdiv(tau[i]![e]!, c) : fmul(tau[i]![e]!, scale[i]!));
    });
    return storedBits(fadd(loadAs(base[e]!, inDtype), acc), outDtype);
  });
}

/** SCE (mergekit's sce), float32 as cpp/kernels (SceVariance, sce_setup.cc): see lib/kernels sce(). */
export function sceRef(inputs: ArrayLike<number>[], base: ArrayLike<number>, inDtype: DType, outDtype: DType, selectTopk: number): number[] {
  const n = base.length, N = inputs.length, topk = Math.fround(selectTopk);
  const tau = inputs.map((x) => Array.from({ length: n }, (_, e) => fsub(loadAs(x[e]!, inDtype), loadAs(base[e]!, inDtype))));
  let kept = new Array<boolean>(n).fill(true);
  if (topk < 1) {
    const keys = Array.from({ length: n }, (_, e) => {
      let sum = 0;
      for (let i = 0; i < N; i++) sum = fadd(sum, tau[i]![e]!);
      const mean = fdiv(sum, N);
      let acc = 0;
      for (let i = 0; i < N; i++) acc = ffma(fsub(tau[i]![e]!, mean), fsub(tau[i]![e]!, mean), acc);
      const v = fdiv(acc, N);
      return Number.isNaN(v) ? 0x7fc00000 : floatBits(v) & 0x7fffffff;
    });
    const nonzero = keys.filter((k) => k !== 0).length;
    const k = topk > 0 ? Math.floor(nonzero * topk) : 0;
    const order = keys.map((key, i) => ({ key, i })).sort((p, q) => q.key - p.key || p.i - q.i);
    kept = new Array<boolean>(n).fill(false);
    for (let r = 0; r < k; r++) kept[order[r]!.i] = true;
  }
  const t = tau.map((row) => row.map((v, e) => (kept[e] ? v : 0)));
  const raw = t.map((row) => {
    let s = 0;
    for (let b = 0; b < n; b += 4096) {
      let part = 0;
      for (let e = b; e < Math.min(n, b + 4096); e++) part += kept[e] ? row[e]! * row[e]! : 0;
      s += part;
    }
    return n > 0 ? s / n : 0;
  });
  const total = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((x) => Math.fround(Math.abs(total) < 1e-6 ? 1 / N : x / total));
  return Array.from({ length: n }, (_, e) => {
    let elected = 0;
    for (let i = 0; i < N; i++) elected = fadd(elected, t[i]![e]!);
    let num = 0, den = 0;
    for (let i = 0; i < N; i++) {
      const v = t[i]![e]!;
      if (elected >= 0 ? v > 0 : v < 0) {
        num = ffma(w[i]!, v, num);
        den = fadd(den, w[i]!);
      }
    }
    const floor = Math.fround(1e-6);
    return storedBits(fadd(loadAs(base[e]!, inDtype), fdiv(num, den < floor ? floor : den)), outDtype);
  });
}

/** Arcee Fusion (mergekit's arcee_fusion) as cpp/kernels/fusion_mask.cc: softmax and KL per row in double, float32 importances, exact quantiles. */
export function arceeFusionRef(x: ArrayLike<number>, base: ArrayLike<number>, rowLength: number, inDtype: DType, outDtype: DType): number[] {
  const n = base.length;
  const xs = Array.from({ length: n }, (_, e) => loadAs(x[e]!, inDtype)), bs = Array.from({ length: n }, (_, e) => loadAs(base[e]!, inDtype));
  const importance = new Array<number>(n);
  for (let begin = 0; begin < n; begin += rowLength) {
    const end = Math.min(n, begin + rowLength);
    let mx = -Infinity, mb = -Infinity;
    for (let e = begin; e < end; e++) {
      mx = Math.max(mx, xs[e]!);
      mb = Math.max(mb, bs[e]!);
    }
    let sx = 0, sb = 0;
    for (let e = begin; e < end; e++) {
      sx += Math.exp(xs[e]! - mx);
      sb += Math.exp(bs[e]! - mb);
    }
    let kl = 0;
    for (let e = begin; e < end; e++) {
      const p = Math.exp(xs[e]! - mx) / sx + 1e-8, q = Math.exp(bs[e]! - mb) / sb + 1e-8;
      kl += p * Math.log(p / q);
    }
    for (let e = begin; e < end; e++) importance[e] = fmul(Math.abs(fsub(xs[e]!, bs[e]!)), Math.fround(kl));
  }
  const sorted = importance.slice().sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
  const q = (p: number) => sorted[Math.floor(p * (n - 1))]!;
  const threshold = fadd(q(0.5), fmul(1.5, fsub(q(0.75), q(0.25))));
  return Array.from({ length: n }, (_, e) => storedBits(fadd(bs[e]!, importance[e]! >= threshold ? fadd(fsub(xs[e]!, bs[e]!), 0) : 0), outDtype));
}

export function convertRef(bits: ArrayLike<number>, inDtype: DType, outDtype: DType): number[] {
  return Array.from(bits, (b) => storedBits(loadAs(b, inDtype), outDtype));
}

/** Reductions in the fixed order of docs/design.md: blocks of 4096, 16 double lanes, lanes then blocks summed in order. */
export function statsRef(bits: ArrayLike<number>, dtype: DType) {
  let nan = 0, posInf = 0, negInf = 0, sum = 0, sumSquares = 0;
  let min: number | null = null, max: number | null = null;
  for (let blk = 0; blk * 4096 < bits.length; blk++) {
    const la = new Array(16).fill(0), lb = new Array(16).fill(0);
    for (let e = blk * 4096; e < Math.min(bits.length, (blk + 1) * 4096); e++) {
      const x = loadAs(bits[e]!, dtype);
      const lane = (e - blk * 4096) % 16;
      if (Number.isNaN(x)) nan++;
      else if (x === Infinity) posInf++;
      else if (x === -Infinity) negInf++;
      else {
        la[lane] += x;
        lb[lane] += x * x;  // exact product, one rounding: the same as fma
        if (min === null || x < min || (x === min && Object.is(x, -0))) min = x;
        if (max === null || x > max || (x === max && Object.is(max, -0))) max = x;
      }
    }
    let a = 0, b = 0;
    for (let l = 0; l < 16; l++) {
      a += la[l];
      b += lb[l];
    }
    sum += a;
    sumSquares += b;
  }
  return { nan, posInf, negInf, finite: bits.length - nan - posInf - negInf, min, max, sum, sumSquares };
}

export function dotRef(x: ArrayLike<number>, y: ArrayLike<number>, dtype: DType): number {
  let total = 0;
  for (let blk = 0; blk * 4096 < x.length; blk++) {
    const la = new Array(16).fill(0);
    for (let e = blk * 4096; e < Math.min(x.length, (blk + 1) * 4096); e++) la[(e - blk * 4096) % 16] += loadAs(x[e]!, dtype) * loadAs(y[e]!, dtype);
    let a = 0;
    for (let l = 0; l < 16; l++) a += la[l];
    total += a;
  }
  return total;
}

export function mix2Ref(x: ArrayLike<number>, y: ArrayLike<number>, inDtype: DType, outDtype: DType, lerp: boolean, t: number, c0: number, c1: number): number[] {
  return Array.from({ length: x.length }, (_, e) => {
    const a = loadAs(x[e]!, inDtype), b = loadAs(y[e]!, inDtype);
    const v = lerp ? ffma(Math.fround(t), fsub(b, a), a) : ffma(Math.fround(c1), b, fmul(Math.fround(c0), a));
    return storedBits(v, outDtype);
  });
}

export function fisherRef(inputs: ArrayLike<number>[], fisher: ArrayLike<number>[], weights: number[], inDtype: DType, fisherDtype: DType, outDtype: DType, epsilon: number): number[] {
  const eps = Math.fround(epsilon);
  return Array.from({ length: inputs[0]!.length }, (_, e) => {
    let num = 0, den = 0;
    inputs.forEach((x, i) => {
      const importance = fmul(Math.fround(weights[i]!), fadd(loadAs(fisher[i]![e]!, fisherDtype), eps));
      num = ffma(importance, loadAs(x[e]!, inDtype), num);
      den = fadd(den, importance);
    });
    return storedBits(fdiv(num, den), outDtype);
  });
}
