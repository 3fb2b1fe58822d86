// The exact per-element arithmetic of DESIGN.md ("Kernels: exact semantics"), written
// plainly. The scalar reference kernels are loops over these; the SIMD and CUDA kernels must
// produce the same bits. float32 throughout, explicit fma, no other contraction
// (-ffp-contract=off), loads widen exactly, stores round to nearest even, NaN canonical.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../dtype.h"

namespace evolver {

enum class Strategy : int { Current1 = 0, Rand1 = 1, Best1 = 2, CurrentToBest1 = 3, Interp = 4 };
enum class Granularity : int { Element = 0, Row = 1, Tensor = 2 };

inline float LoadAs(const void* p, uint64_t i, DType t) {
  switch (t) {
    case DType::F32: {
      float f;
      std::memcpy(&f, static_cast<const uint8_t*>(p) + 4 * i, 4);
      return f;
    }
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, static_cast<const uint8_t*>(p) + 2 * i, 2);
      return Bf16ToFloat(h);
    }
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, static_cast<const uint8_t*>(p) + 2 * i, 2);
      return F16ToFloat(h);
    }
    default:
      return 0.0f;
  }
}

/** The bits a computed float32 is stored as, in dtype t (RNE, NaN canonical). */
inline uint32_t StoredBits(float v, DType t) {
  switch (t) {
    case DType::F32: return std::isnan(v) ? 0x7fc00000u : FloatBits(v);
    case DType::BF16: return FloatToBf16(v);
    case DType::F16: return FloatToF16(v);
    default: return 0;
  }
}

inline void StoreBits(void* p, uint64_t i, uint32_t bits, DType t) {
  uint8_t* q = static_cast<uint8_t*>(p);
  if (t == DType::F32) {
    std::memcpy(q + 4 * i, &bits, 4);
  } else {
    const uint16_t h = static_cast<uint16_t>(bits);
    std::memcpy(q + 2 * i, &h, 2);
  }
}

inline void StoreAs(void* p, uint64_t i, float v, DType t) { StoreBits(p, i, StoredBits(v, t), t); }

/** Copies element i of src to dst without touching its bits. */
inline void CopyElement(void* dst, const void* src, uint64_t i, DType t) {
  const size_t s = DTypeSize(t);
  std::memmove(static_cast<uint8_t*>(dst) + s * i, static_cast<const uint8_t*>(src) + s * i, s);
}

/**
 * The mutant of DESIGN.md's table. x = target; a, b = two other members; c = r0 (rand/1),
 * best (best/1, current-to-best/1) or ref (interp, which reads only x and c).
 */
inline float Mutant(Strategy s, float F, float x, float a, float b, float c) {
  switch (s) {
    case Strategy::Current1: return std::fma(F, a - b, x);
    case Strategy::Rand1: return std::fma(F, a - b, c);
    case Strategy::Best1: return std::fma(F, a - b, c);
    case Strategy::CurrentToBest1: return std::fma(F, a - b, std::fma(F, c - x, x));
    case Strategy::Interp: return std::fma(F, c - x, x);
  }
  return x;
}

/** Which inputs a strategy reads besides the target. */
inline bool UsesAB(Strategy s) { return s != Strategy::Interp; }
inline bool UsesC(Strategy s) { return s != Strategy::Current1; }

}  // namespace evolver
