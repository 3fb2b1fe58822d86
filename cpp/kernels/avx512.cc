// AVX-512 (F, BW, VL, DQ) kernels, 16 float lanes. Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq -mfma -mf16c; only called when the CPU has them (dispatch.cc).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>
#include <type_traits>

#include "simd_impl.h"

namespace evolver {
namespace {

struct Spread16 {
  uint64_t v[256];  // bit k of b -> bit 4k
  Spread16() {
    for (int b = 0; b < 256; ++b) {
      uint64_t r = 0;
      for (int k = 0; k < 8; ++k)
        if (b & (1 << k)) r |= uint64_t{1} << (4 * k);
      v[b] = r;
    }
  }
  uint64_t operator()(uint32_t m16) const { return v[m16 & 0xff] | v[(m16 >> 8) & 0xff] << 32; }
};
const Spread16 kSpread16;

struct Avx512 {
  static constexpr int W = 16;
  static constexpr uint32_t kAllLanes = 0xffffu;
  using F = __m512;
  using I = __m512i;
  static constexpr int kPhiloxBatches = 4;
  using M = __mmask16;

  static F LoadF(const void* p, uint64_t i, DType t) {
    const uint8_t* q = static_cast<const uint8_t*>(p);
    switch (t) {
      case DType::F32: return _mm512_loadu_ps(q + 4 * i);
      case DType::BF16: {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 2 * i)));
        return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
      }
      default: return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 2 * i)));
    }
  }
  static I LoadBits(const void* p, uint64_t i, DType t) {
    const uint8_t* q = static_cast<const uint8_t*>(p);
    if (t == DType::F32) return _mm512_loadu_si512(q + 4 * i);
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 2 * i)));
  }
  static I ToBits(F v, DType t) {
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    const __m512i u = _mm512_castps_si512(v);
    switch (t) {
      case DType::F32: return _mm512_mask_blend_epi32(nan, u, _mm512_set1_epi32(0x7fc00000));
      case DType::BF16: {
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
        return _mm512_mask_blend_epi32(nan, r, _mm512_set1_epi32(0x7fc0));
      }
      default: {
        const __m512i h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        return _mm512_mask_blend_epi32(nan, h, _mm512_set1_epi32(0x7e00));
      }
    }
  }
  static void StoreBits(void* p, uint64_t i, I bits, DType t) {
    uint8_t* q = static_cast<uint8_t*>(p);
    if (t == DType::F32) return _mm512_storeu_si512(q + 4 * i, bits);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 2 * i), _mm512_cvtepi32_epi16(bits));
  }

  static F Fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F Sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F Add(F a, F b) { return _mm512_add_ps(a, b); }
  static F Mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F Div(F a, F b) { return _mm512_div_ps(a, b); }
  static F Set1(float f) { return _mm512_set1_ps(f); }
  static F Zero() { return _mm512_setzero_ps(); }
  static M Gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M Lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M Ge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M Eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M AndM(M a, M b) { return static_cast<M>(a & b); }
  static M OrM(M a, M b) { return static_cast<M>(a | b); }
  static M NotM(M a) { return static_cast<M>(~a); }
  static M SelectM(M c, M a, M b) { return static_cast<M>((c & a) | (~c & b)); }
  static F SelectF(M c, F a, F b) { return _mm512_mask_blend_ps(c, b, a); }
  static I SelectI(M c, I a, I b) { return _mm512_mask_blend_epi32(c, b, a); }
  static M MaskFromBits(uint32_t bits) { return static_cast<M>(bits); }
  static void StoreKeys(uint32_t* p, I keys) { _mm512_storeu_si512(p, keys); }
  static I KeyOf(F v) { return _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)); }
  static M KeyGt(I key, uint32_t t) { return _mm512_cmpgt_epi32_mask(key, _mm512_set1_epi32(static_cast<int>(t))); }
  static M KeyEq(I key, uint32_t t) { return _mm512_cmpeq_epi32_mask(key, _mm512_set1_epi32(static_cast<int>(t))); }
  static M LanesBelow(uint64_t k) { return k >= 16 ? static_cast<M>(0xffff) : static_cast<M>((1u << k) - 1); }

  static void MulHiLo(__m512i a, uint32_t mul, __m512i* hi, __m512i* lo) {
    const __m512i m = _mm512_set1_epi32(static_cast<int>(mul));
    const __m512i pe = _mm512_mul_epu32(a, m);
    const __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
  }

  // Philox blocks block0 .. block0 + kPhiloxBatches*W - 1 of the stream. Bit (4*b + w) of
  // out[j] says whether word w of block block0 + j*W + b is below the threshold, i.e. bit k
  // of out[j] is draw 4*(block0 + j*W) + k. Independent batches are interleaved so the
  // multiply latency of one hides behind the other.
  static void PhiloxMasks(uint64_t seed, uint64_t stream, uint64_t block0, uint32_t threshold, uint64_t* out) {
    alignas(64) uint32_t lo[kPhiloxBatches * W], hi[kPhiloxBatches * W];
    for (int l = 0; l < kPhiloxBatches * W; ++l) {
      lo[l] = static_cast<uint32_t>(block0 + l);
      hi[l] = static_cast<uint32_t>((block0 + l) >> 32);
    }
    __m512i c0[kPhiloxBatches], c1[kPhiloxBatches], c2[kPhiloxBatches], c3[kPhiloxBatches];
    for (int j = 0; j < kPhiloxBatches; ++j) {
      c0[j] = _mm512_load_si512(lo + W * j);
      c1[j] = _mm512_load_si512(hi + W * j);
      c2[j] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
      c3[j] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
    }
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 += kPhiloxW0;
        k1 += kPhiloxW1;
      }
      const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0)), key1 = _mm512_set1_epi32(static_cast<int>(k1));
      for (int j = 0; j < kPhiloxBatches; ++j) {
        __m512i hi0, lo0, hi1, lo1;
        MulHiLo(c0[j], kPhiloxM0, &hi0, &lo0);
        MulHiLo(c2[j], kPhiloxM1, &hi1, &lo1);
        c0[j] = _mm512_xor_si512(_mm512_xor_si512(hi1, c1[j]), key0);
        c1[j] = lo1;
        c2[j] = _mm512_xor_si512(_mm512_xor_si512(hi0, c3[j]), key1);
        c3[j] = lo0;
      }
    }
    const __m512i t = _mm512_set1_epi32(static_cast<int>(threshold));
    auto below = [&](__m512i w) { return static_cast<uint32_t>(_mm512_cmplt_epu32_mask(_mm512_srli_epi32(w, 8), t)); };
    for (int j = 0; j < kPhiloxBatches; ++j)
      out[j] = kSpread16(below(c0[j])) | kSpread16(below(c1[j])) << 1 | kSpread16(below(c2[j])) << 2 | kSpread16(below(c3[j])) << 3;
  }

  // ---- DE at element granularity: Philox and crossover fused, one pass over memory ----
  //
  // Philox state of 8 blocks per register, one block per 64-bit lane, each 32-bit counter word in
  // the lane's low half (the high half is scratch): vpmuludq multiplies the low halves into the
  // full 64-bit hi:lo product in place, so a round costs 2 multiplies, 2 shifts and 2 three-way
  // xors per 8 blocks, with no shuffles. A "group" is 8 blocks = 32 draws = 32 elements; a batch
  // is kDeGroups groups whose Philox rounds are interleaved to hide the multiply latency. Draws
  // are compared as words: (w >> 8) < T <=> w < T << 8 (0 < T < 2^24 on this path).
  static constexpr int kDeGroups = 4;
  static constexpr uint64_t kDeBatch = 32 * kDeGroups;
  // Children of at least this many bytes are written with non-temporal stores (no read for
  // ownership of the output lines; they would be evicted before anyone reads them anyway).
  static constexpr uint64_t kDeStreamBytes = uint64_t{4} << 20;
  // Software prefetch distance: the batches are compute-heavy enough that the hardware
  // prefetchers alone leave memory idle between them.
  static constexpr uint64_t kDePrefetchBytes = 1024;

  // blocks[g]: the 64-bit block number of each lane. w[g][k]: word k of that block (low halves).
  template <int G>
  static inline void PhiloxLanes(uint64_t seed, uint64_t stream, const __m512i* blocks, __m512i (*w)[4]) {
    const __m512i m0 = _mm512_set1_epi64(kPhiloxM0), m1 = _mm512_set1_epi64(kPhiloxM1);
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    // Round 1: c2, c3 (the stream) are the same in every lane, so M1 * c2 is one scalar product.
    const uint64_t q = static_cast<uint64_t>(kPhiloxM1) * static_cast<uint32_t>(stream);
    const __m512i r1_hi1_k0 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(q >> 32) ^ k0));
    const __m512i r1_lo1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(q)));
    const __m512i r1_c3_k1 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32) ^ k1));
    for (int g = 0; g < G; ++g) {
      const __m512i p0 = _mm512_mul_epu32(blocks[g], m0);
      w[g][0] = _mm512_xor_si512(_mm512_srli_epi64(blocks[g], 32), r1_hi1_k0);  // hi1 ^ c1 ^ k0
      w[g][1] = r1_lo1;
      w[g][2] = _mm512_xor_si512(_mm512_srli_epi64(p0, 32), r1_c3_k1);  // hi0 ^ c3 ^ k1
      w[g][3] = p0;
    }
    for (int round = 1; round < 10; ++round) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
      const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0)), key1 = _mm512_set1_epi32(static_cast<int>(k1));
      for (int g = 0; g < G; ++g) {
        const __m512i p0 = _mm512_mul_epu32(w[g][0], m0), p1 = _mm512_mul_epu32(w[g][2], m1);
        w[g][0] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), w[g][1], key0, 0x96);  // a ^ b ^ c
        w[g][1] = p1;
        w[g][2] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), w[g][3], key1, 0x96);
        w[g][3] = p0;
      }
    }
  }

  // The operands of one call, and how its children are stored.
  struct DeCtx {
    const uint8_t *x, *a, *b, *c;
    uint8_t* out;
    __m512 F;
    __m512i t8;    // threshold << 8
    __m512i order;  // lane l of a group computes block order[l] of the group's 8
  };

  static inline void Prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p + kDePrefetchBytes), _MM_HINT_T0); }

  // Store modes: kPlain (unaligned), kStream (non-temporal, 64-byte aligned), kMasked (the live
  // elements only: the partial groups at the ends of a range).
  enum Store { kPlain, kStream, kMasked };

  // A float's bits rounded to nearest even at bit 16 (the bf16 is the high half), for a non-NaN
  // float or the canonical NaN: u + (lsb ? 0x8000 : 0x7fff).
  static inline __m512i Bf16Rounded(__m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __mmask16 lsb = _mm512_test_epi32_mask(u, _mm512_set1_epi32(0x10000));
    return _mm512_mask_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb, u, _mm512_set1_epi32(0x8000));
  }
  // NaN made the canonical float NaN, whose bf16 / f16 is the canonical 0x7fc0 / 0x7e00, in one
  // vfixupimmps: lanes classed QNaN or SNaN take the first operand (0x7fc00000), every other
  // class (zero, one, infinities, negative, positive) passes v through unchanged (exactly, with
  // MXCSR.DAZ clear, as it is on the pool threads; denormals included).
  static inline __m512 Canonical(__m512 v) {
    return _mm512_fixupimm_ps(_mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)), v, _mm512_set1_epi32(0x11111100), 0);
  }

  // BF16: the 32 elements of a group are one 64-byte vector (lane order: consecutive blocks),
  // handled as the even elements (low halves of the 32-bit lanes: bits << 16) and the odd ones
  // (high halves: bits & 0xffff0000), so widening and narrowing are shifts and masks. Element
  // 2i is word 2(i%2) of block i/2 and element 2i+1 word 2(i%2)+1: the even draws are the low
  // halves of c0 and c2 interleaved, one masked in-lane shuffle.
  template <Strategy S, Store kStore>
  static inline void Bf16Group(const DeCtx& c, uint64_t e, const __m512i* w, __mmask32 live) {
    const uint64_t at = 2 * e;
    const __mmask16 take_even = _mm512_cmplt_epu32_mask(_mm512_mask_shuffle_epi32(w[0], 0xAAAA, w[2], _MM_PERM_CDAB), c.t8);
    const __mmask16 take_odd = _mm512_cmplt_epu32_mask(_mm512_mask_shuffle_epi32(w[1], 0xAAAA, w[3], _MM_PERM_CDAB), c.t8);
    auto load = [&](const uint8_t* p) {
      if constexpr (kStore == kMasked) return _mm512_maskz_loadu_epi16(live, p + at);
      else {
        Prefetch(p + at);
        return _mm512_loadu_si512(p + at);
      }
    };
    const __m512i rx = load(c.x);
    __m512i ra = rx, rb = rx, rc = rx;
    if constexpr (S != Strategy::Interp) {
      ra = load(c.a);
      rb = load(c.b);
    }
    if constexpr (S != Strategy::Current1) rc = load(c.c);
    const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    auto even = [](__m512i raw) { return _mm512_castsi512_ps(_mm512_slli_epi32(raw, 16)); };
    auto odd = [&](__m512i raw) { return _mm512_castsi512_ps(_mm512_and_si512(raw, high)); };
    const __m512 ve = simd::MutantV<Avx512, S>(c.F, even(rx), even(ra), even(rb), even(rc));
    const __m512 vo = simd::MutantV<Avx512, S>(c.F, odd(rx), odd(ra), odd(rb), odd(rc));
    // (No branch on "any NaN": a branch on loaded data stalls the window while loads miss.)
    const __m512i lo = _mm512_mask_srli_epi32(rx, take_even, Bf16Rounded(Canonical(ve)), 16);  // low halves: even children
    const __m512i hi = _mm512_mask_mov_epi32(rx, take_odd, Bf16Rounded(Canonical(vo)));       // high halves: odd children
    const __m512i child = _mm512_mask_blend_epi16(0xAAAAAAAAu, lo, hi);
    if constexpr (kStore == kMasked) _mm512_mask_storeu_epi16(c.out + at, live, child);
    else if constexpr (kStore == kStream) _mm512_stream_si512(reinterpret_cast<__m512i*>(c.out + at), child);
    else _mm512_storeu_si512(c.out + at, child);
  }

  // F32 / F16: 16 elements per vector in element order, two per group. Lane l of a group
  // computes block {0,4,1,5,2,6,3,7}[l], so that pairing words (c0,c1) and (c2,c3) into 64-bit
  // lanes and interleaving the pairs with unpacklo/hi gives the draws of elements 0..15 and
  // 16..31 in order.
  template <Strategy S, DType T, Store kStore>
  static inline void WideGroup(const DeCtx& c, uint64_t e, const __m512i* w, __mmask32 live) {
    constexpr uint64_t kSize = T == DType::F32 ? 4 : 2;
    const __m512i w01 = _mm512_mask_shuffle_epi32(w[0], 0xAAAA, w[1], _MM_PERM_CDAB);
    const __m512i w23 = _mm512_mask_shuffle_epi32(w[2], 0xAAAA, w[3], _MM_PERM_CDAB);
    const __mmask16 take[2] = {_mm512_cmplt_epu32_mask(_mm512_unpacklo_epi64(w01, w23), c.t8), _mm512_cmplt_epu32_mask(_mm512_unpackhi_epi64(w01, w23), c.t8)};
    const __mmask16 half_live[2] = {static_cast<__mmask16>(live), static_cast<__mmask16>(live >> 16)};
    __m512 x[2], v[2];
    for (int h = 0; h < 2; ++h) {
      const uint64_t at = kSize * (e + 16 * static_cast<uint64_t>(h));
      auto load = [&](const uint8_t* p) {
        if constexpr (kStore != kMasked) {
          if (kSize == 4 || h == 0) Prefetch(p + at);
        }
        if constexpr (T == DType::F32) {
          if constexpr (kStore == kMasked) return _mm512_maskz_loadu_ps(half_live[h], p + at);
          else return _mm512_loadu_ps(p + at);
        } else {
          if constexpr (kStore == kMasked) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(half_live[h], p + at));
          else return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + at)));
        }
      };
      x[h] = load(c.x);
      __m512 va = x[h], vb = x[h], vc = x[h];
      if constexpr (S != Strategy::Interp) {
        va = load(c.a);
        vb = load(c.b);
      }
      if constexpr (S != Strategy::Current1) vc = load(c.c);
      v[h] = Canonical(simd::MutantV<Avx512, S>(c.F, x[h], va, vb, vc));
    }
    for (int h = 0; h < 2; ++h) {
      uint8_t* q = c.out + kSize * (e + 16 * static_cast<uint64_t>(h));
      if constexpr (T == DType::F32) {
        const __m512 child = _mm512_mask_mov_ps(x[h], take[h], v[h]);
        if constexpr (kStore == kMasked) _mm512_mask_storeu_ps(q, half_live[h], child);
        else if constexpr (kStore == kStream) _mm512_stream_ps(reinterpret_cast<float*>(q), child);
        else _mm512_storeu_ps(q, child);
      } else {
        // Not-taken elements keep x's bits (NaN payloads included), so blend the raw halves.
        const uint8_t* xq = c.x + 2 * (e + 16 * static_cast<uint64_t>(h));
        const __m256i xh = kStore == kMasked ? _mm256_maskz_loadu_epi16(half_live[h], xq) : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
        const __m256i child = _mm256_mask_blend_epi16(take[h], xh, _mm512_cvtps_ph(v[h], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if constexpr (kStore == kMasked) _mm256_mask_storeu_epi16(q, half_live[h], child);
        else if constexpr (kStore == kStream) _mm256_stream_si256(reinterpret_cast<__m256i*>(q), child);
        else _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), child);
      }
    }
  }

  template <Strategy S, DType T, Store kStore>
  static inline void Group(const DeCtx& c, uint64_t e, const __m512i* w, __mmask32 live) {
    if constexpr (T == DType::BF16) Bf16Group<S, kStore>(c, e, w, live);
    else WideGroup<S, T, kStore>(c, e, w, live);
  }

  static inline __m512i GroupBlocks(const DeCtx& c, uint64_t e) {
    return _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(e / 4)), c.order);
  }

  template <Strategy S, DType T>
  static void DeRange(const DeArgs& a, uint64_t begin, uint64_t end) {
    constexpr uint64_t kSize = T == DType::F32 ? 4 : 2;
    DeCtx c;
    c.x = static_cast<const uint8_t*>(a.x);
    c.a = static_cast<const uint8_t*>(a.a);
    c.b = static_cast<const uint8_t*>(a.b);
    c.c = static_cast<const uint8_t*>(a.c);
    c.out = static_cast<uint8_t*>(a.out);
    c.F = _mm512_set1_ps(a.F);
    c.t8 = _mm512_set1_epi32(static_cast<int>(a.cr_threshold << 8));
    c.order = T == DType::BF16 ? _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7) : _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7);
    // Partial groups, one at a time: the live elements [lo, hi) of the group at g0.
    auto partial = [&](uint64_t lo, uint64_t hi) {
      for (uint64_t g0 = lo / 4 * 4; g0 < hi; g0 += 32) {
        const uint64_t from = std::max(lo, g0) - g0, to = std::min(hi, g0 + 32) - g0;
        const __mmask32 live = static_cast<__mmask32>(((uint64_t{1} << to) - 1) & ~((uint64_t{1} << from) - 1));
        const __m512i blocks = GroupBlocks(c, g0);
        __m512i w[1][4];
        PhiloxLanes<1>(a.seed, a.stream, &blocks, w);
        Group<S, T, kMasked>(c, g0, w[0], live);
      }
    };
    // The body starts at a block boundary where the child's address is 64-byte aligned, when
    // there is one nearby (tensors in a file are usually only 8-byte aligned).
    uint64_t body = (begin + 3) / 4 * 4;
    bool aligned = false;
    for (uint64_t k = 0; k < 64 / (4 * kSize) && !aligned; ++k) {
      if (((reinterpret_cast<uintptr_t>(c.out) + kSize * (body + 4 * k)) & 63) == 0) {
        body += 4 * k;
        aligned = true;
      }
    }
    if (body >= end) return partial(begin, end);
    if (begin < body) partial(begin, body);
    uint64_t e = body;
    auto batches = [&](auto store) {
      constexpr Store kMode = decltype(store)::value;
      for (; e + kDeBatch <= end; e += kDeBatch) {
        __m512i blocks[kDeGroups], w[kDeGroups][4];
        for (int g = 0; g < kDeGroups; ++g) blocks[g] = GroupBlocks(c, e + 32 * static_cast<uint64_t>(g));
        PhiloxLanes<kDeGroups>(a.seed, a.stream, blocks, w);
        for (int g = 0; g < kDeGroups; ++g) Group<S, T, kMode>(c, e + 32 * static_cast<uint64_t>(g), w[g], ~__mmask32{0});
      }
    };
    if (aligned && a.n * kSize >= kDeStreamBytes) {
      batches(std::integral_constant<Store, kStream>());
      _mm_sfence();  // the non-temporal stores are visible before the pool reports the chunk done
    } else {
      batches(std::integral_constant<Store, kPlain>());
    }
    if (e < end) partial(e, end);
  }

  template <Strategy S>
  static void DeElementRange(const DeArgs& a, uint64_t begin, uint64_t end) {
    switch (a.dtype) {
      case DType::BF16: return DeRange<S, DType::BF16>(a, begin, end);
      case DType::F32: return DeRange<S, DType::F32>(a, begin, end);
      default: return DeRange<S, DType::F16>(a, begin, end);
    }
  }

  static ReducePartial ReduceBlock(const ReduceArgs& r, uint64_t begin, uint64_t end) {
    ReducePartial p;
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
    __m512i min_key = _mm512_set1_epi32(INT32_MAX), max_key = _mm512_set1_epi32(INT32_MIN);
    uint64_t e = begin;
    for (; e + 16 <= end; e += 16) {
      const F v = LoadF(r.x, e, r.dtype);
      const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
      const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
      if (r.dot) {
        const F y = LoadF(r.y, e, r.dtype);
        a0 = _mm512_fmadd_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(y)), a0);
        a1 = _mm512_fmadd_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(y), 1))), a1);
        continue;
      }
      const __m512i bits = _mm512_castps_si512(v);
      const __m512i mag = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
      const __mmask16 finite = _mm512_cmplt_epi32_mask(mag, _mm512_set1_epi32(0x7f800000));
      const __mmask16 nan = _mm512_cmpgt_epi32_mask(mag, _mm512_set1_epi32(0x7f800000));
      const __mmask16 inf = _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7f800000));
      const __mmask16 neg = _mm512_movepi32_mask(bits);
      p.nan += static_cast<uint64_t>(__builtin_popcount(nan));
      p.pos_inf += static_cast<uint64_t>(__builtin_popcount(inf & ~neg & 0xffff));
      p.neg_inf += static_cast<uint64_t>(__builtin_popcount(inf & neg));
      const F fv = _mm512_maskz_mov_ps(finite, v);
      const __m512d flo = _mm512_cvtps_pd(_mm512_castps512_ps256(fv));
      const __m512d fhi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(fv), 1)));
      a0 = _mm512_add_pd(a0, flo);
      a1 = _mm512_add_pd(a1, fhi);
      b0 = _mm512_fmadd_pd(flo, flo, b0);
      b1 = _mm512_fmadd_pd(fhi, fhi, b1);
      const __m512i key = _mm512_xor_si512(bits, _mm512_and_si512(_mm512_srai_epi32(bits, 31), _mm512_set1_epi32(0x7fffffff)));
      min_key = _mm512_mask_min_epi32(min_key, finite, min_key, key);
      max_key = _mm512_mask_max_epi32(max_key, finite, max_key, key);
    }
    alignas(64) double la[16], lb[16];
    _mm512_store_pd(la, a0);
    _mm512_store_pd(la + 8, a1);
    _mm512_store_pd(lb, b0);
    _mm512_store_pd(lb + 8, b1);
    p.min_key = std::min(p.min_key, _mm512_reduce_min_epi32(min_key));
    p.max_key = std::max(p.max_key, _mm512_reduce_max_epi32(max_key));
    FinishReduceBlock(r, begin, e, end, la, lb, &p);
    return p;
  }
};

}  // namespace

const KernelTable* Avx512Table() { return &simd::MakeTable<Avx512>("avx512"); }

}  // namespace evolver

#else  // not x86-64: no such kernels in this binary
#include "table.h"
namespace evolver {
const KernelTable* Avx512Table() { return nullptr; }
}  // namespace evolver
#endif
