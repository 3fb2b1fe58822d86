// Element types the kernels compute on, and their exact conversions (docs/design.md):
// loads widen exactly, stores round to nearest even, NaN is stored canonical.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

// Conversions are shared with the CUDA kernels: host-device when compiled by nvcc.
#if defined(__CUDACC__)
#define EVOLVER_HD __host__ __device__ __forceinline__
#else
#define EVOLVER_HD inline
#endif

namespace evolver {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2, F64 = 3 };

inline bool ParseDType(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::F32;
  else if (s == "F16") *out = DType::F16;
  else if (s == "BF16") *out = DType::BF16;
  else if (s == "F64") *out = DType::F64;
  else return false;
  return true;
}

inline size_t DTypeSize(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F64: return 8;
  }
  return 0;
}

EVOLVER_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
EVOLVER_HD float BitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

EVOLVER_HD float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }

EVOLVER_HD uint16_t FloatToBf16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // canonical quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                     // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

EVOLVER_HD float F16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal half: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return BitsFloat(bits);
}

EVOLVER_HD uint16_t FloatToF16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7e00;               // canonical quiet NaN
  if (a >= 0x477ff000u) return sign | 0x7c00;       // rounds to >= 65520: overflow to inf
  if (a >= 0x38800000u) {                           // normal half range (>= 2^-14)
    uint32_t r = a - 0x38000000u;                   // rebias exponent 127 -> 15
    r += 0xfffu + ((r >> 13) & 1u);                 // RNE on the 13 dropped bits
    return sign | static_cast<uint16_t>(r >> 13);
  }
  if (a < 0x33000000u) return sign;                 // below half the smallest subnormal: +-0
  // Subnormal half: shift the full significand right, round to nearest even.
  const uint32_t exp = a >> 23;
  const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;                 // 14..24 places beyond the 10-bit field
  const uint32_t q = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
  return sign | static_cast<uint16_t>(r);
}

}  // namespace evolver
