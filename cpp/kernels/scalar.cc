// The scalar reference kernels: plain loops over semantics.h. Every other backend must
// reproduce their bits exactly.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "args.h"
#include "philox.h"
#include "reduce_lanes.h"
#include "table.h"

namespace evolver {
namespace scalar {

static bool TakeMutant(const DeArgs& a, uint64_t e) {
  uint64_t draw = 0;
  if (a.granularity == Granularity::Element) draw = e;
  else if (a.granularity == Granularity::Row) draw = e / a.row_length;
  return (PhiloxDraw(a.seed, a.stream, draw) >> 8) < a.cr_threshold;
}

void De(const DeArgs& a, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) {
    if (!TakeMutant(a, e)) {
      if (a.out != a.x) CopyElement(a.out, a.x, e, a.dtype);
      continue;
    }
    const float x = LoadAs(a.x, e, a.dtype);
    const float va = UsesAB(a.strategy) ? LoadAs(a.a, e, a.dtype) : 0.0f;
    const float vb = UsesAB(a.strategy) ? LoadAs(a.b, e, a.dtype) : 0.0f;
    const float vc = UsesC(a.strategy) ? LoadAs(a.c, e, a.dtype) : 0.0f;
    StoreAs(a.out, e, Mutant(a.strategy, a.F, x, va, vb, vc), a.dtype);
  }
}

static bool Kept(const MergeArgs& m, int i, uint64_t e, float tau) {
  switch (m.sparsify) {
    case Sparsify::None: return true;
    case Sparsify::Magnitude: {
      const uint32_t key = FloatBits(tau) & 0x7fffffffu;
      return key > m.key_threshold[i] || (key == m.key_threshold[i] && e < m.cut_end[i]);
    }
    case Sparsify::Random: return (PhiloxDraw(m.seed, m.stream[i], e) >> 8) < m.keep_threshold;
  }
  return true;
}

void Merge(const MergeArgs& m, uint64_t begin, uint64_t end) {
  float t[kMaxModels];
  for (uint64_t e = begin; e < end; ++e) {
    const float base = m.kind == MergeKind::Linear ? 0.0f : LoadAs(m.base, e, m.in);
    for (int i = 0; i < m.models; ++i) {
      const float xi = LoadAs(m.x[i], e, m.in);
      if (m.kind == MergeKind::Linear) {
        t[i] = xi;
        continue;
      }
      const float tau = xi - base;
      t[i] = Kept(m, i, e, tau) ? (m.rescale ? tau / m.density : tau) : 0.0f;
    }
    float result;
    if (m.kind == MergeKind::Ties) {
      float elected = 0.0f;
      for (int i = 0; i < m.models; ++i) elected = std::fma(m.w[i], t[i], elected);
      const bool positive = elected >= 0.0f;
      float num = 0.0f, den = 0.0f;
      for (int i = 0; i < m.models; ++i) {
        if (positive ? t[i] > 0.0f : t[i] < 0.0f) {
          num = std::fma(m.w[i], t[i], num);
          den = den + m.w[i];
        }
      }
      const float delta = den != 0.0f ? num / den : 0.0f;
      result = std::fma(m.lambda, delta, base);
    } else {
      float acc = 0.0f;
      for (int i = 0; i < m.models; ++i) acc = std::fma(m.w[i], t[i], acc);
      result = m.kind == MergeKind::Linear ? acc : std::fma(m.lambda, acc, base);
    }
    StoreAs(m.dst, e, result, m.out);
  }
}

void Convert(const ConvertArgs& c, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) StoreAs(c.dst, e, LoadAs(c.src, e, c.in), c.out);
}

void Mix2(const Mix2Args& m, uint64_t begin, uint64_t end) {
  for (uint64_t e = begin; e < end; ++e) {
    const float x = LoadAs(m.x, e, m.in), y = LoadAs(m.y, e, m.in);
    const float v = m.lerp ? std::fma(m.t, y - x, x) : std::fma(m.c1, y, m.c0 * x);
    StoreAs(m.dst, e, v, m.out);
  }
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

}  // namespace scalar

const KernelTable& ScalarTable() {
  static const KernelTable t{"scalar", scalar::De, scalar::Merge, scalar::Convert, scalar::Mix2, scalar::Reduce};
  return t;
}

}  // namespace evolver
