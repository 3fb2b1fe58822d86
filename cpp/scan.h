// Per-tensor statistics for checks before and after merging: NaN/Inf counts, finite
// min/max, sum and sum of squares (in double, fixed order, so results are reproducible).
#pragma once
#include <cstdint>

#include "dtype.h"

namespace evolver {

struct ScanStats {
  uint64_t count = 0, nan = 0, pos_inf = 0, neg_inf = 0;
  double min = 0, max = 0, sum = 0, sum_squares = 0;  // over finite values only
  bool any_finite = false;
};

ScanStats ScanScalar(const uint8_t* data, uint64_t count, DType dtype);

}  // namespace evolver
