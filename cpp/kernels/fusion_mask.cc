// Arcee Fusion (mergekit's arcee_fusion): keep the base except where the other model's change
// is important, importance = |x − base| · KL(softmax(x_row) ‖ softmax(base_row)) per row of the
// last dimension, threshold = median + 1.5 · IQR of the importances. Softmax, KL and quantiles are
// whole-row / whole-tensor work, so the keep flags are computed here once (host, double for the
// softmax and KL, float32 importances, exact quantiles) and the elementwise pass only reads them.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "dispatch.h"
#include "elements.h"

namespace evolver {

void FusionMasks(MergeArgs* m, int threads, std::vector<std::vector<uint8_t>>* flags) {
  if (threads <= 0) threads = ThreadPool::Global().default_threads();
  const uint64_t n = m->n, row = m->row_length > 0 ? m->row_length : n;
  const uint64_t rows = row > 0 ? (n + row - 1) / row : 0;
  std::vector<float> importance(n);
  ThreadPool::Global().ParallelFor(rows, threads, [&](uint64_t r, int) {
    const uint64_t begin = r * row, end = std::min(n, begin + row);
    double mx = -INFINITY, mb = -INFINITY;
    for (uint64_t e = begin; e < end; ++e) {
      mx = std::max(mx, static_cast<double>(LoadAs(m->x[0], e, m->in)));
      mb = std::max(mb, static_cast<double>(LoadAs(m->base, e, m->in)));
    }
    double sx = 0, sb = 0;
    for (uint64_t e = begin; e < end; ++e) {
      sx += std::exp(static_cast<double>(LoadAs(m->x[0], e, m->in)) - mx);
      sb += std::exp(static_cast<double>(LoadAs(m->base, e, m->in)) - mb);
    }
    double kl = 0;
    for (uint64_t e = begin; e < end; ++e) {
      const double p = std::exp(static_cast<double>(LoadAs(m->x[0], e, m->in)) - mx) / sx + 1e-8;
      const double q = std::exp(static_cast<double>(LoadAs(m->base, e, m->in)) - mb) / sb + 1e-8;
      kl += p * std::log(p / q);
    }
    const float klf = static_cast<float>(kl);
    for (uint64_t e = begin; e < end; ++e) {
      const float d = LoadAs(m->x[0], e, m->in) - LoadAs(m->base, e, m->in);
      importance[e] = (d < 0.0f ? -d : d) * klf;
    }
  });
  // Exact quantiles at index floor(q (n − 1)) of the ascending order, NaN last (as torch.sort);
  // mergekit samples 10^6 entries of larger tensors at random, which this does not.
  std::vector<float> sorted(importance);
  std::sort(sorted.begin(), sorted.end(), [](float a, float b) { return std::isnan(b) ? !std::isnan(a) : a < b; });
  auto quantile = [&](double q) { return n > 0 ? sorted[static_cast<uint64_t>(std::floor(q * static_cast<double>(n - 1)))] : 0.0f; };
  const float threshold = quantile(0.5) + 1.5f * (quantile(0.75) - quantile(0.25));
  flags->assign(1, std::vector<uint8_t>(n, 0));
  std::vector<uint8_t>& f = (*flags)[0];
  for (uint64_t e = 0; e < n; ++e) f[e] = importance[e] >= threshold ? 1 : 0;
  m->mask[0] = f.data();
}

}  // namespace evolver
