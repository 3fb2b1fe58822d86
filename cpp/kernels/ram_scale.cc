// RAM+ tensor-local (mergekit's ramplus_tl; RAM: arXiv 2601.13572): each model's unique entries
// are scaled by lambda_i = 1 + r * clamp(shared_i / max(unique_i, eps), 0, alpha), where shared_i /
// unique_i count the tensor's entries model i has (|tau| > eps) together with other models / alone.
// Whole-tensor integer counts, so computed here once before the elementwise pass (host memory;
// the same counts for any thread count and backend).
#include <algorithm>
#include <vector>

#include "../thread_pool.h"
#include "dispatch.h"
#include "elements.h"

namespace evolver {

void RamScales(MergeArgs* m, int threads) {
  for (int i = 0; i < m->models; ++i) m->scale[i] = 1.0f;
  if (!m->ram_plus) return;
  if (threads <= 0) threads = ThreadPool::Global().default_threads();
  const int models = m->models;
  const uint64_t blocks = (m->n + kReduceBlock - 1) / kReduceBlock;
  std::vector<uint64_t> shared(blocks * models, 0), unique(blocks * models, 0);
  ThreadPool::Global().ParallelFor(blocks, threads, [&](uint64_t b, int) {
    const uint64_t begin = b * kReduceBlock, end = std::min(m->n, begin + kReduceBlock);
    bool nonzero[kMaxModels];
    for (uint64_t e = begin; e < end; ++e) {
      const float base = LoadAs(m->base, e, m->in);
      int count = 0;
      for (int i = 0; i < models; ++i) count += (nonzero[i] = RamNonzero(LoadAs(m->x[i], e, m->in) - base, m->ram_epsilon)) ? 1 : 0;
      for (int i = 0; i < models; ++i) {
        if (nonzero[i]) ++(count > 1 ? shared : unique)[b * models + i];
      }
    }
  });
  for (int i = 0; i < models; ++i) {
    double s = 0, u = 0;
    for (uint64_t b = 0; b < blocks; ++b) {
      s += static_cast<double>(shared[b * models + i]);
      u += static_cast<double>(unique[b * models + i]);
    }
    const double rho = s / std::max(u, static_cast<double>(m->ram_epsilon));
    m->scale[i] = static_cast<float>(1.0 + static_cast<double>(m->ram_r) * std::min(std::max(rho, 0.0), static_cast<double>(m->ram_alpha)));
  }
}

}  // namespace evolver
