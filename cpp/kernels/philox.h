// Philox4x32-10 (Salmon et al. 2011; the bijection of Random123's philox4x32_10), as
// docs/design.md fixes it: key = seed, counter = (block, stream), draw e = word e%4 of block e/4,
// u(e) = (word >> 8) * 2^-24. Host and device share this header.
#pragma once
#include <cstdint>

#include "../dtype.h"  // EVOLVER_HD

namespace evolver {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

struct Philox4 {
  uint32_t v[4];
};

EVOLVER_HD Philox4 PhiloxBlock(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  return Philox4{{c0, c1, c2, c3}};
}

/** Word `draw % 4` of block `draw / 4` of the stream. */
EVOLVER_HD uint32_t PhiloxDraw(uint64_t seed, uint64_t stream, uint64_t draw) {
  const uint64_t block = draw >> 2;
  const Philox4 r = PhiloxBlock(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), static_cast<uint32_t>(stream),
                                static_cast<uint32_t>(stream >> 32), static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return r.v[draw & 3];
}

/** u = (word >> 8) * 2^-24: exact in float32, in [0, 1). */
EVOLVER_HD float UniformFromWord(uint32_t word) { return static_cast<float>(word >> 8) * 5.9604644775390625e-08f; }

/**
 * The integer threshold T with (word >> 8) < T  <=>  u(word) < p, for a float32 p.
 * u = m * 2^-24 exactly, so u < p <=> m < p * 2^-24 (exact scaling) <=> m < ceil(p * 2^24).
 * NaN gives 0 (never), p > 1 gives 2^24 (always).
 */
EVOLVER_HD uint32_t ThresholdFor(float p) {
  if (!(p > 0.0f)) return 0;  // also NaN
  const double t = static_cast<double>(p) * 16777216.0;
  if (t >= 16777216.0) return 16777216u;
  uint32_t c = static_cast<uint32_t>(t);
  if (static_cast<double>(c) < t) ++c;  // ceil
  return c;
}

}  // namespace evolver
