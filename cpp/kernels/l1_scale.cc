// mergekit's `rescale` (RescaleNorm.l1): after sparsifying, multiply model i's kept task-vector
// entries by L1(tau_i) / L1(kept tau_i) so each task vector keeps its L1 norm. A whole-tensor
// factor, computed here once per model before the elementwise pass; the pass itself (any ISA,
// CUDA) only multiplies by it. The sums use one fixed order for every thread count and backend.
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "dispatch.h"
#include "elements.h"

namespace evolver {

void L1Scales(MergeArgs* m, int threads) {
  if (threads <= 0) threads = ThreadPool::Global().default_threads();
  const uint64_t blocks = (m->n + kReduceBlock - 1) / kReduceBlock;
  std::vector<double> before(blocks), after(blocks);
  for (int i = 0; i < m->models; ++i) {
    if (m->sparsify == Sparsify::None) {  // nothing dropped: the norm is unchanged
      m->scale[i] = 1.0f;
      continue;
    }
    ThreadPool::Global().ParallelFor(blocks, threads, [&](uint64_t b, int) {
      const uint64_t begin = b * kReduceBlock, end = std::min(m->n, begin + kReduceBlock);
      double all = 0, kept = 0;
      for (uint64_t e = begin; e < end; ++e) {
        const float tau = LoadAs(m->x[i], e, m->in) - LoadAs(m->base, e, m->in);
        const double a = std::fabs(static_cast<double>(tau));
        all += a;
        if (Kept(*m, i, e, tau)) kept += a;
      }
      before[b] = all;
      after[b] = kept;
    });
    double all = 0, kept = 0;
    for (uint64_t b = 0; b < blocks; ++b) {
      all += before[b];
      kept += after[b];
    }
    const double ratio = all / kept;
    // mergekit leaves the entries unscaled when either norm is below its eps (1e-7); a NaN or
    // infinite entry would make mergekit's factor NaN, here it leaves the tensor unscaled too.
    m->scale[i] = (all < 1e-7 || kept < 1e-7 || !std::isfinite(ratio)) ? 1.0f : static_cast<float>(ratio);
  }
}

}  // namespace evolver
