// DELLA's MagPrune (Deep et al. 2024, arXiv 2406.11617; mergekit's della_magprune): each task-
// vector entry is kept with a probability that grows with its magnitude rank within its row.
// The ranks need a sort per row, so the keep flags are computed here once per model (host,
// rows in parallel, the same flags for any thread count) and the elementwise pass on any
// backend only reads them.
#include <algorithm>
#include <numeric>
#include <vector>

#include "../thread_pool.h"
#include "dispatch.h"
#include "elements.h"

namespace evolver {

void DellaMasks(MergeArgs* m, int threads, std::vector<std::vector<uint8_t>>* flags) {
  if (threads <= 0) threads = ThreadPool::Global().default_threads();
  const uint64_t row = m->row_length > 0 ? m->row_length : m->n;
  const uint64_t rows = row > 0 ? (m->n + row - 1) / row : 0;
  flags->assign(m->models, std::vector<uint8_t>(m->n, 0));
  std::vector<uint32_t> keys(m->n);
  RunOptions o;
  o.threads = threads;
  for (int i = 0; i < m->models; ++i) {
    std::vector<uint8_t>& f = (*flags)[i];
    m->mask[i] = f.data();
    const double density = m->density[i], eps = m->della_epsilon[i];
    if (density >= 1.0) {
      std::fill(f.begin(), f.end(), 1);
      continue;
    }
    if (!(density > 0.0)) continue;
    ComputeMagnitudeKeys(m->x[i], m->base, m->in, m->n, keys.data(), o);
    // Every NaN ranks just above +Inf, NaNs among themselves by index: their payloads (which
    // the keys would otherwise order by) carry no magnitude.
    for (uint32_t& key : keys) key = key > 0x7f800000u ? 0x7f800001u : key;
    ThreadPool::Global().ParallelFor(rows, threads, [&](uint64_t r, int) {
      const uint64_t begin = r * row, count = std::min(m->n, begin + row) - begin;
      std::vector<uint32_t> order(count);
      std::iota(order.begin(), order.end(), 0u);
      // Ascending magnitude; equal magnitudes in index order (torch's argsort leaves them to chance).
      std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return keys[begin + a] < keys[begin + b]; });
      for (uint64_t rank = 0; rank < count; ++rank) {
        const uint64_t e = begin + order[rank];
        const double norm = count > 1 ? static_cast<double>(rank) / static_cast<double>(count - 1) : 0.0;
        const double p = (density - eps) + norm * 2.0 * eps;
        const double u = static_cast<double>(PhiloxDraw(m->seed, m->stream[i], e) >> 8) * (1.0 / 16777216.0);
        f[e] = u < p ? 1 : 0;
      }
    });
  }
}

}  // namespace evolver
