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

  // ---- DE at element granularity: Philox and crossover fused, one pass over memory ----
  //
  // As avx512.cc: Philox state of 4 blocks per register, one block per 64-bit lane, each 32-bit
  // counter word in the lane's low half (the high half is scratch), so vpmuludq gives the
  // 64-bit hi:lo product in place: 2 multiplies, 2 shifts and 4 xors per round and 4 blocks.
  // A group is 4 blocks = 16 draws = 16 elements; kDeGroups groups are in flight (more than
  // the 16 registers hold, but the spills ride on the load ports). A draw is taken when
  // (w >> 8) < T (a signed compare: both sides are below 2^31).
  static constexpr int kDeGroups = 8;
  static constexpr uint64_t kDeBatch = 16 * kDeGroups;
  static constexpr uint64_t kDeStreamBytes = uint64_t{4} << 20;  // see avx512.cc
  static constexpr uint64_t kDePrefetchBytes = 1024;

  static inline void PhiloxLanes(uint64_t seed, uint64_t stream, const __m256i* blocks, __m256i (*w)[4]) {
    const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0), m1 = _mm256_set1_epi64x(kPhiloxM1);
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    // Round 1: c2, c3 (the stream) are the same in every lane, so M1 * c2 is one scalar product.
    const uint64_t q = static_cast<uint64_t>(kPhiloxM1) * static_cast<uint32_t>(stream);
    const __m256i r1_hi1_k0 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(q >> 32) ^ k0));
    const __m256i r1_lo1 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(q)));
    const __m256i r1_c3_k1 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32) ^ k1));
    for (int g = 0; g < kDeGroups; ++g) {
      const __m256i p0 = _mm256_mul_epu32(blocks[g], m0);
      w[g][0] = _mm256_xor_si256(_mm256_srli_epi64(blocks[g], 32), r1_hi1_k0);  // hi1 ^ c1 ^ k0
      w[g][1] = r1_lo1;
      w[g][2] = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), r1_c3_k1);  // hi0 ^ c3 ^ k1
      w[g][3] = p0;
    }
    for (int round = 1; round < 10; ++round) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
      const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0)), key1 = _mm256_set1_epi32(static_cast<int>(k1));
      for (int g = 0; g < kDeGroups; ++g) {
        const __m256i p0 = _mm256_mul_epu32(w[g][0], m0), p1 = _mm256_mul_epu32(w[g][2], m1);
        w[g][0] = _mm256_xor_si256(_mm256_srli_epi64(p1, 32), _mm256_xor_si256(w[g][1], key0));
        w[g][1] = p1;
        w[g][2] = _mm256_xor_si256(_mm256_srli_epi64(p0, 32), _mm256_xor_si256(w[g][3], key1));
        w[g][3] = p0;
      }
    }
  }

  static inline void BatchBlocks(uint64_t e, __m256i order, __m256i* blocks) {
    const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(e / 4)), order);
    for (int g = 0; g < kDeGroups; ++g) blocks[g] = _mm256_add_epi64(base, _mm256_set1_epi64x(4 * g));
  }

  // Word pairs: (low half of lo, low half of hi) in each 64-bit lane.
  static inline __m256i PairWords(__m256i lo, __m256i hi) { return _mm256_blend_epi32(lo, _mm256_slli_epi64(hi, 32), 0xAA); }
  static inline __m256i Below(__m256i words, __m256i t) { return _mm256_cmpgt_epi32(t, _mm256_srli_epi32(words, 8)); }
  static inline void Prefetch(const uint8_t* p) { _mm_prefetch(reinterpret_cast<const char*>(p + kDePrefetchBytes), _MM_HINT_T0); }

  // NaN made the canonical float NaN, whose bf16 / f16 is the canonical 0x7fc0 / 0x7e00.
  static inline __m256 Canonical(__m256 v) {
    return _mm256_blendv_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  // A non-NaN float's bits plus 0x7fff + ((u >> 16) & 1): the bf16 rounded to nearest even is
  // the high half.
  static inline __m256i Bf16Rounded(__m256 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    return _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  }

  // BF16: 16 elements (one 32-byte vector) per group of 4 consecutive blocks, as even elements
  // (low halves of the 32-bit lanes) and odd ones (high halves); see avx512.cc.
  template <Strategy S, bool kStream>
  static uint64_t DeBf16(const DeArgs& a, uint64_t e, uint64_t end) {
    const uint8_t* px = static_cast<const uint8_t*>(a.x);
    const uint8_t* pa = static_cast<const uint8_t*>(a.a);
    const uint8_t* pb = static_cast<const uint8_t*>(a.b);
    const uint8_t* pc = static_cast<const uint8_t*>(a.c);
    uint8_t* po = static_cast<uint8_t*>(a.out);
    const __m256 F = _mm256_set1_ps(a.F);
    const __m256i t = _mm256_set1_epi32(static_cast<int>(a.cr_threshold));
    const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    const __m256i order = _mm256_setr_epi64x(0, 1, 2, 3);
    auto even = [](__m256i raw) { return _mm256_castsi256_ps(_mm256_slli_epi32(raw, 16)); };
    auto odd = [&](__m256i raw) { return _mm256_castsi256_ps(_mm256_and_si256(raw, high)); };
    for (; e + kDeBatch <= end; e += kDeBatch) {
      __m256i blocks[kDeGroups], w[kDeGroups][4];
      BatchBlocks(e, order, blocks);
      PhiloxLanes(a.seed, a.stream, blocks, w);
      for (int g = 0; g < kDeGroups; ++g) {
        const uint64_t at = 2 * (e + 16 * static_cast<uint64_t>(g));
        auto load = [&](const uint8_t* p) {
          if (g % 2 == 0) Prefetch(p + at);
          return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + at));
        };
        const __m256i take_even = Below(PairWords(w[g][0], w[g][2]), t);
        const __m256i take_odd = Below(PairWords(w[g][1], w[g][3]), t);
        const __m256i rx = load(px);
        __m256i ra = rx, rb = rx, rc = rx;
        if constexpr (S != Strategy::Interp) {
          ra = load(pa);
          rb = load(pb);
        }
        if constexpr (S != Strategy::Current1) rc = load(pc);
        const __m256i te = Bf16Rounded(Canonical(simd::MutantV<Avx2, S>(F, even(rx), even(ra), even(rb), even(rc))));
        const __m256i to = Bf16Rounded(Canonical(simd::MutantV<Avx2, S>(F, odd(rx), odd(ra), odd(rb), odd(rc))));
        const __m256i child = _mm256_blend_epi16(_mm256_srli_epi32(te, 16), to, 0xAA);
        const __m256i take = _mm256_blend_epi16(take_even, take_odd, 0xAA);  // per 16-bit element
        const __m256i r = _mm256_blendv_epi8(rx, child, take);
        if constexpr (kStream) _mm256_stream_si256(reinterpret_cast<__m256i*>(po + at), r);
        else _mm256_storeu_si256(reinterpret_cast<__m256i*>(po + at), r);
      }
    }
    return e;
  }

  // F32 / F16: 8 elements per vector in element order. Lane l of a group computes block
  // {0,2,1,3}[l], so that pairing words (c0,c1) and (c2,c3) and interleaving the pairs with
  // unpacklo/hi gives the draws of elements 0..7 and 8..15 in order.
  template <Strategy S, DType T, bool kStream>
  static uint64_t DeWide(const DeArgs& a, uint64_t e, uint64_t end) {
    constexpr uint64_t kSize = T == DType::F32 ? 4 : 2;
    const uint8_t* px = static_cast<const uint8_t*>(a.x);
    const uint8_t* pa = static_cast<const uint8_t*>(a.a);
    const uint8_t* pb = static_cast<const uint8_t*>(a.b);
    const uint8_t* pc = static_cast<const uint8_t*>(a.c);
    uint8_t* po = static_cast<uint8_t*>(a.out);
    const __m256 F = _mm256_set1_ps(a.F);
    const __m256i t = _mm256_set1_epi32(static_cast<int>(a.cr_threshold));
    const __m256i order = _mm256_setr_epi64x(0, 2, 1, 3);
    for (; e + kDeBatch <= end; e += kDeBatch) {
      __m256i blocks[kDeGroups], w[kDeGroups][4];
      BatchBlocks(e, order, blocks);
      PhiloxLanes(a.seed, a.stream, blocks, w);
      for (int g = 0; g < kDeGroups; ++g) {
        const __m256i w01 = PairWords(w[g][0], w[g][1]), w23 = PairWords(w[g][2], w[g][3]);
        const __m256i take[2] = {Below(_mm256_unpacklo_epi64(w01, w23), t), Below(_mm256_unpackhi_epi64(w01, w23), t)};
        for (int h = 0; h < 2; ++h) {
          const uint64_t at = kSize * (e + 16 * static_cast<uint64_t>(g) + 8 * static_cast<uint64_t>(h));
          auto load = [&](const uint8_t* p) {
            if (kSize == 4 || (g % 2 == 0 && h == 0)) Prefetch(p + at);
            if constexpr (T == DType::F32) return _mm256_loadu_ps(reinterpret_cast<const float*>(p + at));
            else return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at)));
          };
          const __m256 x = load(px);
          __m256 va = x, vb = x, vc = x;
          if constexpr (S != Strategy::Interp) {
            va = load(pa);
            vb = load(pb);
          }
          if constexpr (S != Strategy::Current1) vc = load(pc);
          const __m256 v = Canonical(simd::MutantV<Avx2, S>(F, x, va, vb, vc));
          if constexpr (T == DType::F32) {
            const __m256 r = _mm256_blendv_ps(x, v, _mm256_castsi256_ps(take[h]));
            if constexpr (kStream) _mm256_stream_ps(reinterpret_cast<float*>(po + at), r);
            else _mm256_storeu_ps(reinterpret_cast<float*>(po + at), r);
          } else {
            // Not-taken elements keep x's bits (NaN payloads included), so blend the raw halves.
            const __m128i xh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(px + at));
            const __m128i rh = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m128i take16 = _mm_packs_epi32(_mm256_castsi256_si128(take[h]), _mm256_extracti128_si256(take[h], 1));
            const __m128i r = _mm_blendv_epi8(xh, rh, take16);
            if constexpr (kStream) _mm_stream_si128(reinterpret_cast<__m128i*>(po + at), r);
            else _mm_storeu_si128(reinterpret_cast<__m128i*>(po + at), r);
          }
        }
      }
    }
    return e;
  }

  template <Strategy S, bool kStream>
  static uint64_t DeBatches(const DeArgs& a, uint64_t e, uint64_t end) {
    switch (a.dtype) {
      case DType::BF16: return DeBf16<S, kStream>(a, e, end);
      case DType::F32: return DeWide<S, DType::F32, kStream>(a, e, end);
      default: return DeWide<S, DType::F16, kStream>(a, e, end);
    }
  }

  // Whole batches from a multiple of kDeBatch (aligned tensors give aligned vectors); the ends
  // of the range are scalar. Large children whose batches are 64-byte aligned are written with
  // non-temporal stores.
  template <Strategy S>
  static void DeElementRange(const DeArgs& a, uint64_t begin, uint64_t end) {
    const uint64_t body = std::min(end, (begin + kDeBatch - 1) / kDeBatch * kDeBatch);
    if (begin < body) ScalarTable().de(a, begin, body);
    uint64_t e = body;
    const uint64_t size = DTypeSize(a.dtype);
    if (((reinterpret_cast<uintptr_t>(a.out) + size * e) & 63) == 0 && a.n * size >= kDeStreamBytes) {
      e = DeBatches<S, true>(a, e, end);
      _mm_sfence();  // the non-temporal stores are visible before the pool reports the chunk done
    } else {
      e = DeBatches<S, false>(a, e, end);
    }
    if (e < end) ScalarTable().de(a, e, end);
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
