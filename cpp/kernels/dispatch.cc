#include "dispatch.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../chunk_index.h"
#include "../cpu_features.h"
#include "../thread_pool.h"
#include "elements.h"

namespace evolver {

namespace {
constexpr uint64_t kDefaultChunk = 1 << 16;  // elements

int ThreadsOf(const RunOptions& o) { return o.threads > 0 ? o.threads : ThreadPool::Global().default_threads(); }
uint64_t ChunkOf(const RunOptions& o) { return o.chunk > 0 ? o.chunk : kDefaultChunk; }
const KernelTable& TableOf(const RunOptions& o) { return o.table != nullptr ? *o.table : BestTable(); }

template <class Fn>
void ForChunks(uint64_t n, const RunOptions& o, Fn fn) {
  const uint64_t chunk = ChunkOf(o);
  const uint64_t chunks = (n + chunk - 1) / chunk;
  ThreadPool::Global().ParallelFor(chunks, ThreadsOf(o), [&](uint64_t c, int) {
    const uint64_t begin = c * chunk;
    fn(begin, std::min(n, begin + chunk));
  });
}
}  // namespace

const KernelTable* TableFor(const std::string& name) {
  const CpuFeatures& f = DetectCpu();
  if (name == "scalar") return &ScalarTable();
  if (name == "avx2") return f.avx2_fma_f16c ? Avx2Table() : nullptr;
  if (name == "avx512") return f.avx512 ? Avx512Table() : nullptr;
  if (name == "auto" || name.empty()) return &BestTable();
  return nullptr;
}

const KernelTable& BestTable() {
  static const KernelTable* best = [] {
    const CpuFeatures& f = DetectCpu();
    if (f.avx512 && Avx512Table() != nullptr) return Avx512Table();
    if (f.avx2_fma_f16c && Avx2Table() != nullptr) return Avx2Table();
    return &ScalarTable();
  }();
  return *best;
}

void RunDe(const DeArgs& a, const RunOptions& o) {
  const KernelTable& t = TableOf(o);
  ForChunks(a.n, o, [&](uint64_t b, uint64_t e) { t.de(a, a.first + b, a.first + e); });
}

void RunDeBatch(const std::vector<DeArgs>& calls, const RunOptions& o) {
  const KernelTable& t = TableOf(o);
  const uint64_t chunk = ChunkOf(o);
  // Chunks as RunDe cuts them, call after call.
  std::vector<uint64_t> sizes;
  for (const DeArgs& a : calls) sizes.push_back(a.n);
  const ChunkIndex chunks(sizes, chunk);
  ThreadPool::Global().ParallelFor(chunks.count(), ThreadsOf(o), [&](uint64_t k, int) {
    const ChunkIndex::Place at = chunks.Locate(k);
    const DeArgs& a = calls[at.range];
    t.de(a, a.first + at.begin, a.first + std::min(a.n, at.begin + chunk));
  });
}

void RunConvert(const ConvertArgs& c, const RunOptions& o) {
  const KernelTable& t = TableOf(o);
  ForChunks(c.n, o, [&](uint64_t b, uint64_t e) { t.convert(c, b, e); });
}

void RunMix2(const Mix2Args& m, const RunOptions& o) {
  const KernelTable& t = TableOf(o);
  ForChunks(m.n, o, [&](uint64_t b, uint64_t e) { t.mix2(m, b, e); });
}

void BandCounts(float density, float gamma, uint64_t n, uint64_t* keep, uint64_t* drop) {
  // mergekit's magnitude_outliers: drop the floor(gamma n) largest, keep floor(density n) below
  // them; when both do not fit, fewer of the largest are dropped.
  *keep = KeepCount(density, n);
  *drop = KeepCount(gamma, n);
  if (*keep + *drop > n) *drop = n - *keep;
}

uint64_t KeepCount(float density, uint64_t n) {
  if (!(density > 0.0f)) return 0;
  if (density >= 1.0f) return n;
  return std::min<uint64_t>(n, static_cast<uint64_t>(std::floor(static_cast<double>(density) * static_cast<double>(n))));
}

MagnitudeCut SelectTopMagnitude(const void* x, const void* base, DType dtype, uint64_t n, uint64_t k, const RunOptions& o) {
  std::vector<uint32_t> keys(n);
  ComputeMagnitudeKeys(x, base, dtype, n, keys.data(), o);
  return SelectTopKeys(keys.data(), n, k, o);
}

void ComputeMagnitudeKeys(const void* x, const void* base, DType dtype, uint64_t n, uint32_t* keys, const RunOptions& o) {
  const KernelTable& t = TableOf(o);
  ForChunks(n, o, [&](uint64_t b, uint64_t e) { t.magnitude_keys(x, base, dtype, b, e, keys + b); });
}

int WalkBinsDown(const uint64_t* bins, int count, uint64_t want, uint64_t* above) {
  uint64_t acc = 0;
  for (int b = count - 1; b >= 0; --b) {
    if (acc + bins[b] >= want) {
      *above = acc;
      return b;
    }
    acc += bins[b];
  }
  *above = acc;
  return 0;
}

namespace {

/** Position of the need-th key equal to `threshold` (index order), as the exclusive cut end. */
MagnitudeCut CutAt(const uint32_t* keys, uint64_t n, uint32_t threshold, uint64_t need, const RunOptions& o) {
  const uint64_t chunk = ChunkOf(o);
  const uint64_t chunks = (n + chunk - 1) / chunk;
  std::vector<uint64_t> equal(chunks, 0);
  ThreadPool::Global().ParallelFor(chunks, ThreadsOf(o), [&](uint64_t c, int) {
    const uint64_t b = c * chunk, e = std::min(n, b + chunk);
    uint64_t cnt = 0;
    for (uint64_t i = b; i < e; ++i) cnt += keys[i] == threshold;
    equal[c] = cnt;
  });
  uint64_t seen = 0;
  for (uint64_t c = 0; c < chunks; ++c) {
    if (seen + equal[c] < need) {
      seen += equal[c];
      continue;
    }
    const uint64_t b = c * chunk, e = std::min(n, b + chunk);
    for (uint64_t i = b; i < e; ++i) {
      if (keys[i] == threshold && ++seen == need) return {threshold, i + 1};
    }
  }
  return {threshold, n};
}

}  // namespace

MagnitudeCut SelectTopKeys(const uint32_t* keys, uint64_t n, uint64_t k, const RunOptions& o) {
  if (k == 0) return {0x7fffffffu, 0};  // keeps nothing: no key exceeds it, no index is below 0
  if (k >= n) return {0, n};            // keeps everything
  const int threads = ThreadsOf(o);
  const uint64_t chunk = ChunkOf(o);
  const uint64_t chunks = (n + chunk - 1) / chunk;
  // Radix select on the 31-bit keys: the high 15 bits, then the low 16 (integer counts, so
  // the result is the same whatever the thread count).
  auto histogram = [&](int bins, auto bin_of) {
    std::vector<std::vector<uint64_t>> per(threads, std::vector<uint64_t>(bins, 0));
    ThreadPool::Global().ParallelFor(chunks, threads, [&](uint64_t c, int p) {
      const uint64_t b = c * chunk, e = std::min(n, b + chunk);
      std::vector<uint64_t>& h = per[p];
      for (uint64_t i = b; i < e; ++i) {
        const int bin = bin_of(keys[i]);
        if (bin >= 0) ++h[bin];
      }
    });
    std::vector<uint64_t> sum(bins, 0);
    for (auto& h : per)
      for (int i = 0; i < bins; ++i) sum[i] += h[i];
    return sum;
  };
  auto walk = [](const std::vector<uint64_t>& h, uint64_t want, uint64_t* above) { return WalkBinsDown(h.data(), static_cast<int>(h.size()), want, above); };
  uint64_t above_high = 0, above_low = 0;
  const int high = walk(histogram(1 << 15, [](uint32_t key) { return static_cast<int>(key >> 16); }), k, &above_high);
  const int low = walk(histogram(1 << 16, [high](uint32_t key) { return static_cast<int>(key >> 16) == high ? static_cast<int>(key & 0xffff) : -1; }),
                       k - above_high, &above_low);
  const uint32_t threshold = static_cast<uint32_t>(high) << 16 | static_cast<uint32_t>(low);
  return CutAt(keys, n, threshold, k - above_high - above_low, o);  // ties at the threshold kept in index order
}

void ModelCounts(const MergeArgs& m, int i, uint64_t* keep, uint64_t* drop) {
  *keep = KeepCount(m.density[i], m.n);
  *drop = 0;
  if (m.sparsify == Sparsify::MagnitudeBand) BandCounts(m.density[i], m.gamma[i], m.n, keep, drop);
}

void RunMerge(MergeArgs m, const RunOptions& o) {
  if (m.sparsify == Sparsify::Magnitude || m.sparsify == Sparsify::MagnitudeBand) {
    // The keys once per model (SIMD, 4 bytes per element), then integer passes over them.
    std::vector<uint32_t> keys(m.n);
    for (int i = 0; i < m.models; ++i) {
      uint64_t keep = 0, drop = 0;
      ModelCounts(m, i, &keep, &drop);
      ComputeMagnitudeKeys(m.x[i], m.base, m.in, m.n, keys.data(), o);
      const MagnitudeCut cut = SelectTopKeys(keys.data(), m.n, keep + drop, o);
      m.key_threshold[i] = cut.key_threshold;
      m.cut_end[i] = cut.cut_end;
      if (m.sparsify == Sparsify::MagnitudeBand) {
        const MagnitudeCut top = SelectTopKeys(keys.data(), m.n, drop, o);
        m.drop_key_threshold[i] = top.key_threshold;
        m.drop_cut_end[i] = top.cut_end;
      }
    }
  }
  std::vector<std::vector<uint8_t>> della;  // keep flags, alive until the pass below ends
  if (m.sparsify == Sparsify::Della) DellaMasks(&m, ThreadsOf(o), &della);
  if (m.sparsify == Sparsify::Fusion) FusionMasks(&m, ThreadsOf(o), &della);
  if (m.kind == MergeKind::Ram) RamScales(&m, ThreadsOf(o));
  if (m.kind == MergeKind::Sce) SceSetup(&m, ThreadsOf(o));
  if (m.rescale == Rescale::L1) L1Scales(&m, ThreadsOf(o));  // needs the thresholds above
  const KernelTable& t = TableOf(o);
  ForChunks(m.n, o, [&](uint64_t b, uint64_t e) { t.merge(m, b, e); });
}

ReduceResult RunReduce(const ReduceArgs& r, const RunOptions& o) {
  const uint64_t blocks = (r.n + kReduceBlock - 1) / kReduceBlock;
  std::vector<ReducePartial> parts(blocks);
  const KernelTable& t = TableOf(o);
  // Chunks are whole blocks, so the block partials (and their ordered sum) never depend on chunking.
  const uint64_t per = std::max<uint64_t>(1, ChunkOf(o) / kReduceBlock);
  const uint64_t chunks = (blocks + per - 1) / per;
  ThreadPool::Global().ParallelFor(chunks, ThreadsOf(o), [&](uint64_t c, int) {
    const uint64_t b = c * per, e = std::min(blocks, b + per);
    t.reduce(r, b, e, parts.data() + b);
  });
  return CombinePartials(parts.data(), blocks, r);
}

ReduceResult CombinePartials(const ReducePartial* parts, uint64_t blocks, const ReduceArgs& r) {
  ReduceResult out;
  int32_t min_key = INT32_MAX, max_key = INT32_MIN;
  for (uint64_t i = 0; i < blocks; ++i) {
    const ReducePartial& p = parts[i];
    out.sum += p.sum;
    out.sum_squares += p.sum_squares;
    out.dot += p.dot;
    out.nan += p.nan;
    out.pos_inf += p.pos_inf;
    out.neg_inf += p.neg_inf;
    min_key = std::min(min_key, p.min_key);
    max_key = std::max(max_key, p.max_key);
  }
  out.finite = r.n - out.nan - out.pos_inf - out.neg_inf;
  out.any_finite = !r.dot && out.finite > 0;
  if (out.any_finite) {
    out.min = FromOrderedKey(min_key);
    out.max = FromOrderedKey(max_key);
  }
  return out;
}

SlerpPlan PlanSlerp(double dot, double norm_x_sq, double norm_y_sq, float t) {
  // mergekit: normalize each vector when its norm exceeds 1e-8, interpolate linearly when
  // |cos| > 0.9995 (nearly colinear), else the spherical formula.
  const double nx = std::sqrt(norm_x_sq), ny = std::sqrt(norm_y_sq);
  const double cosine = dot / (nx > 1e-8 ? nx : 1.0) / (ny > 1e-8 ? ny : 1.0);
  SlerpPlan p{true, t, 0.0f, 0.0f, cosine};
  if (!(std::fabs(cosine) <= 0.9995)) return p;  // also NaN
  const double theta0 = std::acos(cosine), sin0 = std::sin(theta0), theta_t = theta0 * static_cast<double>(t);
  p.lerp = false;
  p.c0 = static_cast<float>(std::sin(theta0 - theta_t) / sin0);
  p.c1 = static_cast<float>(std::sin(theta_t) / sin0);
  return p;
}

Mix2Args RunSlerp(const void* x, const void* y, void* dst, DType in, DType out, uint64_t n, float t, const RunOptions& o, SlerpPlan* plan) {
  auto dot = [&](const void* p, const void* q) {
    ReduceArgs r;
    r.dtype = in;
    r.n = n;
    r.x = p;
    r.y = q;
    r.dot = true;
    return RunReduce(r, o).dot;
  };
  *plan = PlanSlerp(dot(x, y), dot(x, x), dot(y, y), t);
  const Mix2Args m = SlerpMix(*plan, x, y, dst, in, out, n);
  RunMix2(m, o);
  return m;
}

Mix2Args SlerpMix(const SlerpPlan& plan, const void* x, const void* y, void* dst, DType in, DType out, uint64_t n) {
  Mix2Args m;
  m.in = in;
  m.out = out;
  m.x = x;
  m.y = y;
  m.dst = dst;
  m.n = n;
  m.lerp = plan.lerp;
  m.t = plan.t;
  m.c0 = plan.c0;
  m.c1 = plan.c1;
  return m;
}

}  // namespace evolver
