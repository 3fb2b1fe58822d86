// One element of each kernel, exactly as docs/design.md defines it. The scalar reference loops
// over these on the CPU and the CUDA kernels run them per thread, so the two cannot drift;
// the SIMD kernels (simd_impl.h) are separate code tested against them bit for bit.
#pragma once
#include "args.h"
#include "philox.h"
#include "semantics.h"

namespace evolver {

EVOLVER_HD bool TakeMutant(const DeArgs& a, uint64_t e) {
  uint64_t draw = 0;
  if (a.granularity == Granularity::Element) draw = e;
  else if (a.granularity == Granularity::Row) draw = e / a.row_length;
  return (PhiloxDraw(a.seed, a.stream, draw) >> 8) < a.cr_threshold;
}

/** Writes child element e: the mutant when `take`, else x's bits untouched. */
EVOLVER_HD void DeApply(const DeArgs& a, uint64_t e, bool take) {
  if (!take) {
    if (a.out != a.x) CopyElement(a.out, a.x, e, a.dtype);
    return;
  }
  const float x = LoadAs(a.x, e, a.dtype);
  const float va = UsesAB(a.strategy) ? LoadAs(a.a, e, a.dtype) : 0.0f;
  const float vb = UsesAB(a.strategy) ? LoadAs(a.b, e, a.dtype) : 0.0f;
  const float vc = UsesC(a.strategy) ? LoadAs(a.c, e, a.dtype) : 0.0f;
  StoreAs(a.out, e, Mutant(a.strategy, a.F, x, va, vb, vc), a.dtype);
}

EVOLVER_HD void DeElementAt(const DeArgs& a, uint64_t e) { DeApply(a, e, TakeMutant(a, e)); }

EVOLVER_HD bool Kept(const MergeArgs& m, int i, uint64_t e, float tau) {
  switch (m.sparsify) {
    case Sparsify::None: return true;
    case Sparsify::Magnitude: {
      const uint32_t key = FloatBits(tau) & 0x7fffffffu;
      return key > m.key_threshold[i] || (key == m.key_threshold[i] && e < m.cut_end[i]);
    }
    case Sparsify::Random: return (PhiloxDraw(m.seed, m.stream[i], e) >> 8) < m.keep_threshold[i];
    case Sparsify::Della:
    case Sparsify::Fusion: return m.mask[i][e] != 0;
    case Sparsify::MagnitudeBand: {
      const uint32_t key = FloatBits(tau) & 0x7fffffffu;
      const bool in_top = key > m.key_threshold[i] || (key == m.key_threshold[i] && e < m.cut_end[i]);
      const bool dropped = key > m.drop_key_threshold[i] || (key == m.drop_key_threshold[i] && e < m.drop_cut_end[i]);
      return in_top && !dropped;
    }
  }
  return true;
}

/** A kept task-vector entry after rescaling (division for density, as the DARE paper writes it). */
EVOLVER_HD float Rescaled(const MergeArgs& m, int i, float tau) {
  switch (m.rescale) {
    case Rescale::None: return tau;
    case Rescale::Density: return tau / m.density[i];
    case Rescale::L1: return tau * m.scale[i];
  }
  return tau;
}

EVOLVER_HD void MergeElementAt(const MergeArgs& m, uint64_t e) {
  if (m.kind == MergeKind::NearSwap) {
    StoreAs(m.dst, e, NearSwap(m.t, LoadAs(m.base, e, m.in), LoadAs(m.x[0], e, m.in)), m.out);
    return;
  }
  if (m.kind == MergeKind::Fisher) {
    float num = 0.0f, den = 0.0f;
    for (int i = 0; i < m.models; ++i) {
      const float importance = m.w[i] * (LoadAs(m.fisher[i], e, m.fisher_dtype) + m.epsilon);
      num = Fma(importance, LoadAs(m.x[i], e, m.in), num);
      den = den + importance;
    }
    StoreAs(m.dst, e, num / den, m.out);
    return;
  }
  if (m.kind == MergeKind::Ram) {
    const float base = LoadAs(m.base, e, m.in);
    float tau[kMaxModels];
    float count = 0.0f;
    for (int i = 0; i < m.models; ++i) {
      tau[i] = LoadAs(m.x[i], e, m.in) - base;
      if (RamNonzero(tau[i], m.ram_epsilon)) count = count + 1.0f;
    }
    float acc = 0.0f;
    for (int i = 0; i < m.models; ++i) {
      if (RamNonzero(tau[i], m.ram_epsilon)) acc = acc + (count > 1.0f ? tau[i] / count : tau[i] * m.scale[i]);
    }
    StoreAs(m.dst, e, base + acc, m.out);
    return;
  }
  if (m.kind == MergeKind::Sce) {
    const float base = LoadAs(m.base, e, m.in);
    float t[kMaxModels];
    for (int i = 0; i < m.models; ++i) t[i] = LoadAs(m.x[i], e, m.in) - base;
    bool kept = m.sce_select_all;
    if (!kept) {
      const uint32_t key = SceKey(SceVariance(t, m.models));
      kept = key > m.key_threshold[0] || (key == m.key_threshold[0] && e < m.cut_end[0]);
    }
    float elected = 0.0f;
    for (int i = 0; i < m.models; ++i) {
      if (!kept) t[i] = 0.0f;
      elected = elected + t[i];  // SCE elects signs from the unweighted sum
    }
    const bool positive = elected >= 0.0f;
    float num = 0.0f, den = 0.0f;
    for (int i = 0; i < m.models; ++i) {
      if (positive ? t[i] > 0.0f : t[i] < 0.0f) {
        num = Fma(m.w[i], t[i], num);
        den = den + m.w[i];
      }
    }
    StoreAs(m.dst, e, base + num / (den < 1e-6f ? 1e-6f : den), m.out);
    return;
  }
  float t[kMaxModels];
  const float base = m.kind == MergeKind::Linear ? 0.0f : LoadAs(m.base, e, m.in);
  for (int i = 0; i < m.models; ++i) {
    const float xi = LoadAs(m.x[i], e, m.in);
    if (m.kind == MergeKind::Linear) {
      t[i] = xi;
      continue;
    }
    const float tau = xi - base;
    t[i] = Kept(m, i, e, tau) ? Rescaled(m, i, tau) : 0.0f;
  }
  float result;
  if (m.kind == MergeKind::Ties) {
    float elected = 0.0f;
    for (int i = 0; i < m.models; ++i) elected = Fma(m.w[i], t[i], elected);
    const bool positive = elected >= 0.0f;
    float num = 0.0f, den = 0.0f;
    for (int i = 0; i < m.models; ++i) {
      // mergekit's get_mask: the sign of the weighted entry w_i * tau_i must agree, so a model
      // with a negative weight contributes where its task vector opposes the elected sign.
      const float weighted = m.w[i] * t[i];
      if (positive ? weighted > 0.0f : weighted < 0.0f) {
        num = Fma(m.w[i], t[i], num);
        den = den + m.w[i];
      }
    }
    const float delta = !m.normalize ? num : den != 0.0f ? num / den : num;
    result = Fma(m.lambda, delta, base);
  } else {
    float acc = 0.0f;
    for (int i = 0; i < m.models; ++i) acc = Fma(m.w[i], t[i], acc);
    result = m.kind == MergeKind::Linear ? acc : Fma(m.lambda, acc, base);
  }
  StoreAs(m.dst, e, result, m.out);
}

EVOLVER_HD void ConvertElementAt(const ConvertArgs& c, uint64_t e) { StoreAs(c.dst, e, LoadAs(c.src, e, c.in), c.out); }

EVOLVER_HD void Mix2ElementAt(const Mix2Args& m, uint64_t e) {
  const float x = LoadAs(m.x, e, m.in), y = LoadAs(m.y, e, m.in);
  StoreAs(m.dst, e, m.lerp ? Fma(m.t, y - x, x) : Fma(m.c1, y, m.c0 * x), m.out);
}

/** The magnitude key of |x - base| (sign cleared: the total order of magnitudes, NaN largest). */
EVOLVER_HD uint32_t MagnitudeKey(const void* x, const void* base, DType t, uint64_t e) {
  return FloatBits(LoadAs(x, e, t) - LoadAs(base, e, t)) & 0x7fffffffu;
}

}  // namespace evolver
