// SCE (Select, Calculate, Erase; FuseChat, Wan et al. 2024, arXiv 2408.07990; mergekit's sce):
// the whole-tensor parts, done once on the host before the elementwise pass. Select: keep the
// elements whose variance across models is in the top select_topk fraction of the nonzero
// variances (exact top-k over the variance keys, ties by lower index, as TIES); Calculate: model
// i's weight is the mean of its kept squared task-vector entries, normalized to sum 1. The
// elementwise pass (Erase: TIES-style sign election, then the weighted mean) runs on any backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "dispatch.h"
#include "elements.h"

namespace evolver {

void SceSetup(MergeArgs* m, int threads) {
  if (threads <= 0) threads = ThreadPool::Global().default_threads();
  const double select_topk = m->density[0];
  const int models = m->models;
  const uint64_t blocks = (m->n + kReduceBlock - 1) / kReduceBlock;
  auto tau = [&](uint64_t e, float* t) {
    const float base = LoadAs(m->base, e, m->in);
    for (int i = 0; i < models; ++i) t[i] = LoadAs(m->x[i], e, m->in) - base;
  };
  std::vector<uint32_t> keys;
  m->sce_select_all = select_topk >= 1.0;
  if (!m->sce_select_all) {
    keys.resize(m->n);
    std::vector<uint64_t> nonzero(blocks, 0);
    ThreadPool::Global().ParallelFor(blocks, threads, [&](uint64_t b, int) {
      float t[kMaxModels];
      for (uint64_t e = b * kReduceBlock; e < std::min(m->n, (b + 1) * kReduceBlock); ++e) {
        tau(e, t);
        keys[e] = SceKey(SceVariance(t, models));
        nonzero[b] += keys[e] != 0;
      }
    });
    uint64_t count = 0;
    for (uint64_t c : nonzero) count += c;
    // mergekit: k = int(nonzero * select_topk); none kept when k is 0 (or select_topk <= 0).
    const uint64_t k = select_topk > 0.0 ? static_cast<uint64_t>(std::floor(static_cast<double>(count) * select_topk)) : 0;
    RunOptions o;
    o.threads = threads;
    const MagnitudeCut cut = SelectTopKeys(keys.data(), m->n, k, o);
    m->key_threshold[0] = cut.key_threshold;
    m->cut_end[0] = cut.cut_end;
  }
  // Calculate: mean of the kept squared entries per model (double, blocks in order).
  std::vector<double> partial(blocks * models, 0.0);
  ThreadPool::Global().ParallelFor(blocks, threads, [&](uint64_t b, int) {
    float t[kMaxModels];
    for (uint64_t e = b * kReduceBlock; e < std::min(m->n, (b + 1) * kReduceBlock); ++e) {
      if (!m->sce_select_all && !(keys[e] > m->key_threshold[0] || (keys[e] == m->key_threshold[0] && e < m->cut_end[0]))) continue;
      tau(e, t);
      for (int i = 0; i < models; ++i) partial[b * models + i] += static_cast<double>(t[i]) * static_cast<double>(t[i]);
    }
  });
  std::vector<double> w(models, 0.0);
  double total = 0;
  for (int i = 0; i < models; ++i) {
    for (uint64_t b = 0; b < blocks; ++b) w[i] += partial[b * models + i];
    w[i] = m->n > 0 ? w[i] / static_cast<double>(m->n) : 0.0;
    total += w[i];
  }
  for (int i = 0; i < models; ++i) m->w[i] = static_cast<float>(std::fabs(total) < 1e-6 ? 1.0 / models : w[i] / total);
}

}  // namespace evolver
