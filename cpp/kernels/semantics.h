// The exact per-element arithmetic of docs/design.md ("Kernels: exact semantics"), written
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

EVOLVER_HD float Fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

EVOLVER_HD bool IsNan(float v) { return (FloatBits(v) & 0x7fffffffu) > 0x7f800000u; }

EVOLVER_HD float LoadAs(const void* p, uint64_t i, DType t) {
  // Host data may be unaligned (a safetensors header need not be padded): copy bytes there.
#if defined(__CUDA_ARCH__)
  if (t == DType::F32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
#else
  if (t == DType::F32) {
    float f;
    std::memcpy(&f, static_cast<const uint8_t*>(p) + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, static_cast<const uint8_t*>(p) + 2 * i, 2);
#endif
  return t == DType::BF16 ? Bf16ToFloat(h) : F16ToFloat(h);
}

/** The bits a computed float32 is stored as, in dtype t (RNE, NaN canonical). */
EVOLVER_HD uint32_t StoredBits(float v, DType t) {
  if (t == DType::F32) return IsNan(v) ? 0x7fc00000u : FloatBits(v);
  return t == DType::BF16 ? FloatToBf16(v) : FloatToF16(v);
}

EVOLVER_HD void StoreBits(void* p, uint64_t i, uint32_t bits, DType t) {
#if defined(__CUDA_ARCH__)
  if (t == DType::F32) static_cast<uint32_t*>(p)[i] = bits;
  else static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(bits);
#else
  uint8_t* q = static_cast<uint8_t*>(p);
  if (t == DType::F32) {
    std::memcpy(q + 4 * i, &bits, 4);
  } else {
    const uint16_t h = static_cast<uint16_t>(bits);
    std::memcpy(q + 2 * i, &h, 2);
  }
#endif
}

EVOLVER_HD void StoreAs(void* p, uint64_t i, float v, DType t) { StoreBits(p, i, StoredBits(v, t), t); }

/** Element i's raw bits (for copying an element unchanged, NaN payload and all). */
EVOLVER_HD uint32_t RawBits(const void* p, uint64_t i, DType t) {
#if defined(__CUDA_ARCH__)
  if (t == DType::F32) return static_cast<const uint32_t*>(p)[i];
  return static_cast<const uint16_t*>(p)[i];
#else
  if (t == DType::F32) {
    uint32_t u;
    std::memcpy(&u, static_cast<const uint8_t*>(p) + 4 * i, 4);
    return u;
  }
  uint16_t h;
  std::memcpy(&h, static_cast<const uint8_t*>(p) + 2 * i, 2);
  return h;
#endif
}

/** Copies element i of src to dst without touching its bits. */
EVOLVER_HD void CopyElement(void* dst, const void* src, uint64_t i, DType t) {
  StoreBits(dst, i, RawBits(src, i, t), t);
}

/**
 * The mutant of docs/design.md's table. x = target; a, b = two other members; c = r0 (rand/1),
 * best (best/1, current-to-best/1) or ref (interp, which reads only x and c).
 */
EVOLVER_HD float Mutant(Strategy s, float F, float x, float a, float b, float c) {
  switch (s) {
    case Strategy::Current1: return Fma(F, a - b, x);
    case Strategy::Rand1: return Fma(F, a - b, c);
    case Strategy::Best1: return Fma(F, a - b, c);
    case Strategy::CurrentToBest1: return Fma(F, a - b, Fma(F, c - x, x));
    case Strategy::Interp: return Fma(F, c - x, x);
  }
  return x;
}

/**
 * NearSwap (mergekit's nearswap) of base a and model b: w = clamp(t / max(|a - b|, 1e-6), 0, 1),
 * result w·b + (1 − w)·a as Fma(w, b, (1 − w)·a), so w = 1 gives b and w = 0 gives a exactly.
 * Written with comparisons, not fmin/fmax, so a NaN difference stays NaN (as torch's clamp).
 */
EVOLVER_HD float NearSwap(float t, float a, float b) {
  float d = a - b;
  if (d < 0.0f) d = -d;
  if (d < 1e-6f) d = 1e-6f;
  float w = t / d;
  if (w < 0.0f) w = 0.0f;
  if (w > 1.0f) w = 1.0f;
  return Fma(w, b, (1.0f - w) * a);
}

/** RAM's test of a task-vector entry: |tau| > eps (NaN: no), written without fabs as the SIMD code. */
EVOLVER_HD bool RamNonzero(float tau, float eps) { return tau > eps || tau < -eps; }

/** SCE's variance across models of one element: mean by adds then one division, Σ fma(d, d) / N. */
EVOLVER_HD float SceVariance(const float* tau, int models) {
  float sum = 0.0f;
  for (int i = 0; i < models; ++i) sum = sum + tau[i];
  const float mean = sum / static_cast<float>(models);
  float acc = 0.0f;
  for (int i = 0; i < models; ++i) acc = Fma(tau[i] - mean, tau[i] - mean, acc);
  return acc / static_cast<float>(models);
}

/** The selection key of a variance: its bits, sign cleared; every NaN 0x7fc00000 (payloads differ between CPU and GPU arithmetic). */
EVOLVER_HD uint32_t SceKey(float var) { return IsNan(var) ? 0x7fc00000u : FloatBits(var) & 0x7fffffffu; }

/** Which inputs a strategy reads besides the target. */
EVOLVER_HD bool UsesAB(Strategy s) { return s != Strategy::Interp; }
EVOLVER_HD bool UsesC(Strategy s) { return s != Strategy::Current1; }

}  // namespace evolver
