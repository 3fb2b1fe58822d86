// AVX-512 (F, BW, VL, DQ) kernels, 16 float lanes. Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq -mfma -mf16c; only called when the CPU has them (dispatch.cc).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>

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
