// The scalar reference kernels: plain loops over elements.h. Every other backend must
// reproduce their bits exactly.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "args.h"
#include "elements.h"
#include "reduce_lanes.h"
#include "table.h"

namespace evolver {
namespace scalar {

void De(const DeArgs& a, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) DeElementAt(a, e);
}

void Merge(const MergeArgs& m, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) MergeElementAt(m, e);
}

void Convert(const ConvertArgs& c, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) ConvertElementAt(c, e);
}

void Mix2(const Mix2Args& m, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) Mix2ElementAt(m, e);
}

void Reduce(const ReduceArgs& r, uint64_t block_begin, uint64_t block_end, ReducePartial* out) {
  for (uint64_t blk = block_begin; blk < block_end; ++blk) {
    const uint64_t begin = blk * kReduceBlock, end = std::min(r.n, begin + kReduceBlock);
    double la[kReduceLanes] = {}, lb[kReduceLanes] = {};
    ReducePartial p;
    FinishReduceBlock(r, begin, begin, end, la, lb, &p);
    out[blk - block_begin] = p;
  }
}

void MagnitudeKeys(const void* x, const void* base, DType dtype, uint64_t begin, uint64_t end, uint32_t* keys) {
  for (uint64_t e = begin; e < end; ++e) keys[e - begin] = MagnitudeKey(x, base, dtype, e);
}

}  // namespace scalar

const KernelTable& ScalarTable() {
  static const KernelTable t{"scalar", scalar::De, scalar::Merge, scalar::Convert, scalar::Mix2, scalar::Reduce, scalar::MagnitudeKeys};
  return t;
}

}  // namespace evolver
