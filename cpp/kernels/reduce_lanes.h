// The deterministic reduction order (docs/design.md: fixed summation order): blocks of
// kReduceBlock elements, element e of a block feeds double lane (e % 16), lanes summed in
// order. Scalar code uses this for whole blocks; SIMD code for the part after its vectors.
#pragma once
#include <cmath>
#include <cstdint>

#include "args.h"
#include "semantics.h"

namespace evolver {

// Continues the 16 lanes of a reduction block over [e, end) in scalar code, then sums the
// lanes in order (the same order as scalar.cc).
inline void FinishReduceBlock(const ReduceArgs& r, uint64_t begin, uint64_t e, uint64_t end, double* la, double* lb, ReducePartial* p) {
  for (; e < end; ++e) {
    const int lane = static_cast<int>((e - begin) % kReduceLanes);
    const double x = LoadAs(r.x, e, r.dtype);
    if (r.dot) {
      la[lane] = std::fma(x, static_cast<double>(LoadAs(r.y, e, r.dtype)), la[lane]);
      continue;
    }
    if (std::isnan(x)) {
      ++p->nan;
    } else if (std::isinf(x)) {
      ++(x > 0 ? p->pos_inf : p->neg_inf);
    } else {
      la[lane] += x;
      lb[lane] = std::fma(x, x, lb[lane]);
      const int32_t key = OrderedKey(static_cast<float>(x));
      if (key < p->min_key) p->min_key = key;
      if (key > p->max_key) p->max_key = key;
    }
  }
  double a = 0, b = 0;
  for (int l = 0; l < kReduceLanes; ++l) {
    a += la[l];
    b += lb[l];
  }
  if (r.dot) p->dot = a;
  else {
    p->sum = a;
    p->sum_squares = b;
  }
}

}  // namespace evolver
