#include "scan.h"

#include <cmath>

namespace evolver {

template <typename Load>
static ScanStats Scan(uint64_t count, Load load) {
  ScanStats s;
  s.count = count;
  for (uint64_t i = 0; i < count; ++i) {
    const double v = load(i);
    if (std::isnan(v)) {
      ++s.nan;
    } else if (std::isinf(v)) {
      ++(v > 0 ? s.pos_inf : s.neg_inf);
    } else {
      if (!s.any_finite) {
        s.min = s.max = v;
        s.any_finite = true;
      }
      if (v < s.min) s.min = v;
      if (v > s.max) s.max = v;
      s.sum += v;
      s.sum_squares += v * v;
    }
  }
  return s;
}

ScanStats ScanScalar(const uint8_t* data, uint64_t count, DType dtype) {
  switch (dtype) {
    case DType::F32:
      return Scan(count, [data](uint64_t i) { float f; std::memcpy(&f, data + 4 * i, 4); return static_cast<double>(f); });
    case DType::F64:
      return Scan(count, [data](uint64_t i) { double d; std::memcpy(&d, data + 8 * i, 8); return d; });
    case DType::BF16:
      return Scan(count, [data](uint64_t i) { uint16_t h; std::memcpy(&h, data + 2 * i, 2); return static_cast<double>(Bf16ToFloat(h)); });
    case DType::F16:
      return Scan(count, [data](uint64_t i) { uint16_t h; std::memcpy(&h, data + 2 * i, 2); return static_cast<double>(F16ToFloat(h)); });
  }
  return ScanStats{};
}

}  // namespace evolver
