// AVX2 + FMA + F16C kernels (8 float lanes). Compiled with -mavx2 -mfma -mf16c; only
// called when the CPU has them (dispatch.cc).
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>

#include "simd_impl.h"

namespace evolver {
namespace {

// kSpread[b]: bit k of b moved to bit 4k (interleaves Philox words into element order).
struct SpreadTable {
  uint32_t v[256];
  SpreadTable() {
    for (int b = 0; b < 256; ++b) {
      uint32_t r = 0;
      for (int k = 0; k < 8; ++k)
        if (b & (1 << k)) r |= 1u << (4 * k);
      v[b] = r;
    }
  }
};
const SpreadTable kSpread;

struct Avx2 {
  static constexpr int W = 8;
  static constexpr uint32_t kAllLanes = 0xffu;
  using F = __m256;
  using I = __m256i;
  static constexpr int kPhiloxBatches = 2;
  using M = __m256i;  // all-ones / zero 32-bit lanes

  static F LoadF(const void* p, uint64_t i, DType t) {
    const uint8_t* q = static_cast<const uint8_t*>(p);
    switch (t) {
      case DType::F32: return _mm256_loadu_ps(reinterpret_cast<const float*>(q + 4 * i));
      case DType::BF16: {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
      }
      default: return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 2 * i)));
    }
  }
  static I LoadBits(const void* p, uint64_t i, DType t) {
    const uint8_t* q = static_cast<const uint8_t*>(p);
    if (t == DType::F32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 4 * i));
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 2 * i)));
  }
  // RNE to the dtype, NaN canonical; 16-bit results in the low half of each 32-bit lane.
  static I ToBits(F v, DType t) {
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256i u = _mm256_castps_si256(v);
    switch (t) {
      case DType::F32: return _mm256_blendv_epi8(u, _mm256_set1_epi32(0x7fc00000), nan);
      case DType::BF16: {
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
        const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
        return _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc0), nan);
      }
      default: {
        const __m256i h = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        return _mm256_blendv_epi8(h, _mm256_set1_epi32(0x7e00), nan);
      }
    }
  }
  static void StoreBits(void* p, uint64_t i, I bits, DType t) {
    uint8_t* q = static_cast<uint8_t*>(p);
    if (t == DType::F32) return _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 4 * i), bits);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(bits, bits), 0xD8);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 2 * i), _mm256_castsi256_si128(packed));
  }

  static F Fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F Sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F Add(F a, F b) { return _mm256_add_ps(a, b); }
  static F Mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F Div(F a, F b) { return _mm256_div_ps(a, b); }
  static F Set1(float f) { return _mm256_set1_ps(f); }
  static F Zero() { return _mm256_setzero_ps(); }
  static M Gt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
  static M Lt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static M Ge(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GE_OQ)); }
  static M Eq(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
  static M AndM(M a, M b) { return _mm256_and_si256(a, b); }
  static M OrM(M a, M b) { return _mm256_or_si256(a, b); }
  static M NotM(M a) { return _mm256_xor_si256(a, _mm256_set1_epi32(-1)); }
  static M SelectM(M c, M a, M b) { return _mm256_blendv_epi8(b, a, c); }
  static F SelectF(M c, F a, F b) { return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(c)); }
  static I SelectI(M c, I a, I b) { return _mm256_blendv_epi8(b, a, c); }
  static M MaskFromBits(uint32_t bits) {
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane), lane);
  }
  static void StoreKeys(uint32_t* p, I keys) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), keys); }
  static I KeyOf(F v) { return _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff)); }
  static M KeyGt(I key, uint32_t t) { return _mm256_cmpgt_epi32(key, _mm256_set1_epi32(static_cast<int>(t))); }
  static M KeyEq(I key, uint32_t t) { return _mm256_cmpeq_epi32(key, _mm256_set1_epi32(static_cast<int>(t))); }
  static M LanesBelow(uint64_t k) {
    const int lim = static_cast<int>(std::min<uint64_t>(k, W));
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lim), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }

  static void MulHiLo(__m256i a, uint32_t mul, __m256i* hi, __m256i* lo) {
    const __m256i m = _mm256_set1_epi32(static_cast<int>(mul));
    const __m256i pe = _mm256_mul_epu32(a, m);
    const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  }

  // Philox blocks block0..block0+7 of the stream; bit (4*b + w) of the result says whether
  // word w of block b is below the threshold, i.e. bit k is draw 4*block0 + k.
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
    __m256i c0[kPhiloxBatches], c1[kPhiloxBatches], c2[kPhiloxBatches], c3[kPhiloxBatches];
    for (int j = 0; j < kPhiloxBatches; ++j) {
      c0[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo + W * j));
      c1[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi + W * j));
      c2[j] = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
      c3[j] = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
    }
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 += kPhiloxW0;
        k1 += kPhiloxW1;
      }
      const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0)), key1 = _mm256_set1_epi32(static_cast<int>(k1));
      for (int j = 0; j < kPhiloxBatches; ++j) {
        __m256i hi0, lo0, hi1, lo1;
        MulHiLo(c0[j], kPhiloxM0, &hi0, &lo0);
        MulHiLo(c2[j], kPhiloxM1, &hi1, &lo1);
        c0[j] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[j]), key0);
        c1[j] = lo1;
        c2[j] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[j]), key1);
        c3[j] = lo0;
      }
    }
    const __m256i t = _mm256_set1_epi32(static_cast<int>(threshold));
    auto below = [&](__m256i w) {
      return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(t, _mm256_srli_epi32(w, 8)))));
    };
    for (int j = 0; j < kPhiloxBatches; ++j)
      out[j] = static_cast<uint64_t>(kSpread.v[below(c0[j])] | kSpread.v[below(c1[j])] << 1 | kSpread.v[below(c2[j])] << 2 | kSpread.v[below(c3[j])] << 3);
  }

  static ReducePartial ReduceBlock(const ReduceArgs& r, uint64_t begin, uint64_t end) {
    ReducePartial p;
    __m256d a[4], b[4];
    for (int k = 0; k < 4; ++k) a[k] = b[k] = _mm256_setzero_pd();
    __m256i min_key = _mm256_set1_epi32(INT32_MAX), max_key = _mm256_set1_epi32(INT32_MIN);
    uint64_t e = begin;
    for (; e + 16 <= end; e += 16) {
      for (int h = 0; h < 2; ++h) {
        const F v = LoadF(r.x, e + 8 * h, r.dtype);
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        if (r.dot) {
          const F y = LoadF(r.y, e + 8 * h, r.dtype);
          a[2 * h] = _mm256_fmadd_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(y)), a[2 * h]);
          a[2 * h + 1] = _mm256_fmadd_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)), a[2 * h + 1]);
          continue;
        }
        const __m256i bits = _mm256_castps_si256(v);
        const __m256i mag = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
        const __m256i finite = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x7f800000), mag);
        const __m256i nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7f800000));
        const __m256i inf = _mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7f800000));
        const int inf_bits = _mm256_movemask_ps(_mm256_castsi256_ps(inf)), neg_bits = _mm256_movemask_ps(v);
        p.nan += static_cast<uint64_t>(__builtin_popcount(_mm256_movemask_ps(_mm256_castsi256_ps(nan))));
        p.pos_inf += static_cast<uint64_t>(__builtin_popcount(inf_bits & ~neg_bits));
        p.neg_inf += static_cast<uint64_t>(__builtin_popcount(inf_bits & neg_bits));
        const F fv = _mm256_and_ps(v, _mm256_castsi256_ps(finite));
        const __m256d flo = _mm256_cvtps_pd(_mm256_castps256_ps128(fv)), fhi = _mm256_cvtps_pd(_mm256_extractf128_ps(fv, 1));
        a[2 * h] = _mm256_add_pd(a[2 * h], flo);
        a[2 * h + 1] = _mm256_add_pd(a[2 * h + 1], fhi);
        b[2 * h] = _mm256_fmadd_pd(flo, flo, b[2 * h]);
        b[2 * h + 1] = _mm256_fmadd_pd(fhi, fhi, b[2 * h + 1]);
        const __m256i key = _mm256_xor_si256(bits, _mm256_and_si256(_mm256_srai_epi32(bits, 31), _mm256_set1_epi32(0x7fffffff)));
        min_key = _mm256_min_epi32(min_key, _mm256_blendv_epi8(_mm256_set1_epi32(INT32_MAX), key, finite));
        max_key = _mm256_max_epi32(max_key, _mm256_blendv_epi8(_mm256_set1_epi32(INT32_MIN), key, finite));
      }
    }
    alignas(32) double la[16], lb[16];
    alignas(32) int32_t kmin[8], kmax[8];
    for (int k = 0; k < 4; ++k) {
      _mm256_store_pd(la + 4 * k, a[k]);
      _mm256_store_pd(lb + 4 * k, b[k]);
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(kmin), min_key);
    _mm256_store_si256(reinterpret_cast<__m256i*>(kmax), max_key);
    for (int l = 0; l < 8; ++l) {
      p.min_key = std::min(p.min_key, kmin[l]);
      p.max_key = std::max(p.max_key, kmax[l]);
    }
    FinishReduceBlock(r, begin, e, end, la, lb, &p);
    return p;
  }
};

}  // namespace

const KernelTable* Avx2Table() { return &simd::MakeTable<Avx2>("avx2"); }

}  // namespace evolver

#else  // not x86-64: no such kernels in this binary
#include "table.h"
namespace evolver {
const KernelTable* Avx2Table() { return nullptr; }
}  // namespace evolver
#endif
