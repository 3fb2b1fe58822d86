// The SIMD kernels, written once over an ISA traits class V (avx2.cc, avx512.cc) and
// compiled per ISA with its own flags. They reproduce scalar.cc bit for bit: same fma, same
// rounding, same Philox draws, same reduction lanes. Ranges are split into a scalar head, a
// vector body aligned to 4*W draws (so Philox blocks line up) and a scalar tail. DE at element
// granularity is each ISA's own DeElementRange (Philox state in 64-bit lanes, computed for a
// batch of blocks and consumed in registers by the crossover; see avx512.cc).
//
// V provides: W (lanes), F (float vector), I (int32 vector), M (lane mask), and
//   LoadF(p, i, dtype) / LoadBits / ToBits / StoreBits    exact loads, RNE stores, raw bits
//   Fma, Sub, Mul, Div, Set1, Zero, Gt, Lt, Ge, And/Or/Not masks, SelectF, SelectI
//   MaskFromBits(bits), AnyTrue(m), KeyOf(v) (bits & 0x7fffffff), MaskKeyGt/Eq, LanesBelow(k)
//   PhiloxMasks(seed, stream, block0, threshold, out[kPhiloxBatches]) -> 4*W-bit masks of "draw < threshold"
//   DeElementRange<S>(args, begin, end)   DE at element granularity (Philox and crossover fused)
//   ReduceBlock(...)   (see below)
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

#include "args.h"
#include "philox.h"
#include "reduce_lanes.h"
#include "table.h"

namespace evolver {
namespace simd {

template <class V>
inline void CopyRange(void* dst, const void* src, uint64_t begin, uint64_t end, DType t) {
  if (dst == src || end <= begin) return;
  const size_t s = DTypeSize(t);
  std::memmove(static_cast<uint8_t*>(dst) + s * begin, static_cast<const uint8_t*>(src) + s * begin, s * (end - begin));
}

template <class V, Strategy S>
inline typename V::F MutantV(typename V::F F, typename V::F x, typename V::F a, typename V::F b, typename V::F c) {
  if constexpr (S == Strategy::Current1) return V::Fma(F, V::Sub(a, b), x);
  if constexpr (S == Strategy::Rand1 || S == Strategy::Best1) return V::Fma(F, V::Sub(a, b), c);
  if constexpr (S == Strategy::CurrentToBest1) return V::Fma(F, V::Sub(a, b), V::Fma(F, V::Sub(c, x), x));
  if constexpr (S == Strategy::Interp) return V::Fma(F, V::Sub(c, x), x);
  return x;
}

// W elements at e that all take the mutant.
template <class V, Strategy S>
inline void DeVector(const DeArgs& a, uint64_t e, typename V::F F) {
  const DType t = a.dtype;
  const typename V::F x = V::LoadF(a.x, e, t);
  typename V::F va = V::Zero(), vb = V::Zero(), vc = V::Zero();
  if constexpr (S != Strategy::Interp) {
    va = V::LoadF(a.a, e, t);
    vb = V::LoadF(a.b, e, t);
  }
  if constexpr (S != Strategy::Current1) vc = V::LoadF(a.c, e, t);
  V::StoreBits(a.out, e, V::ToBits(MutantV<V, S>(F, x, va, vb, vc), t), t);
}

inline DeArgs WithThreshold(const DeArgs& a, uint32_t threshold) {
  DeArgs b = a;
  b.cr_threshold = threshold;
  b.granularity = Granularity::Tensor;
  return b;
}

// All elements of [begin, end) take the mutant (row / tensor granularity, or CR >= 1).
template <class V, Strategy S>
inline void DeAll(const DeArgs& a, uint64_t begin, uint64_t end) {
  const typename V::F F = V::Set1(a.F);
  uint64_t e = begin;
  const uint64_t head = std::min(end, (begin + V::W - 1) / V::W * V::W);
  if (e < head) ScalarTable().de(WithThreshold(a, 16777216u), e, head);
  for (e = head; e + V::W <= end; e += V::W) DeVector<V, S>(a, e, F);
  if (e < end) ScalarTable().de(WithThreshold(a, 16777216u), e, end);
}

template <class V, Strategy S>
inline void DeStrategy(const DeArgs& a, uint64_t begin, uint64_t end) {
  if (a.cr_threshold == 0) return CopyRange<V>(a.out, a.x, begin, end, a.dtype);
  if (a.cr_threshold >= 16777216u) return DeAll<V, S>(a, begin, end);
  switch (a.granularity) {
    case Granularity::Element:  // every element has its own draw: Philox fused with the crossover
      return V::template DeElementRange<S>(a, begin, end);
    case Granularity::Tensor:
      if ((PhiloxDraw(a.seed, a.stream, 0) >> 8) < a.cr_threshold) return DeAll<V, S>(a, begin, end);
      return CopyRange<V>(a.out, a.x, begin, end, a.dtype);
    case Granularity::Row:
      for (uint64_t e = begin; e < end;) {
        const uint64_t row = e / a.row_length;
        const uint64_t stop = std::min(end, (row + 1) * a.row_length);
        if ((PhiloxDraw(a.seed, a.stream, row) >> 8) < a.cr_threshold) DeAll<V, S>(a, e, stop);
        else CopyRange<V>(a.out, a.x, e, stop, a.dtype);
        e = stop;
      }
      return;
  }
}

template <class V>
void De(const DeArgs& a, uint64_t begin, uint64_t end) {
  switch (a.strategy) {
    case Strategy::Current1: return DeStrategy<V, Strategy::Current1>(a, begin, end);
    case Strategy::Rand1: return DeStrategy<V, Strategy::Rand1>(a, begin, end);
    case Strategy::Best1: return DeStrategy<V, Strategy::Best1>(a, begin, end);
    case Strategy::CurrentToBest1: return DeStrategy<V, Strategy::CurrentToBest1>(a, begin, end);
    case Strategy::Interp: return DeStrategy<V, Strategy::Interp>(a, begin, end);
  }
}

// W elements of a merge at e; keep[i] is model i's sparsify mask for these lanes.
template <class V>
inline void MergeVector(const MergeArgs& m, uint64_t e, const typename V::M* keep) {
  using F = typename V::F;
  using M = typename V::M;
  if (m.kind == MergeKind::Fisher) {
    F num = V::Zero(), den = V::Zero();
    for (int i = 0; i < m.models; ++i) {
      const F importance = V::Mul(V::Set1(m.w[i]), V::Add(V::LoadF(m.fisher[i], e, m.fisher_dtype), V::Set1(m.epsilon)));
      num = V::Fma(importance, V::LoadF(m.x[i], e, m.in), num);
      den = V::Add(den, importance);
    }
    V::StoreBits(m.dst, e, V::ToBits(V::Div(num, den), m.out), m.out);
    return;
  }
  if (m.kind == MergeKind::NearSwap) {  // semantics.h's NearSwap, lane by lane
    const F a = V::LoadF(m.base, e, m.in), b = V::LoadF(m.x[0], e, m.in);
    const F zero = V::Zero(), one = V::Set1(1.0f), eps = V::Set1(1e-6f);
    F d = V::Sub(a, b);
    d = V::SelectF(V::Lt(d, zero), V::Sub(zero, d), d);
    d = V::SelectF(V::Lt(d, eps), eps, d);
    F w = V::Div(V::Set1(m.t), d);
    w = V::SelectF(V::Lt(w, zero), zero, w);
    w = V::SelectF(V::Gt(w, one), one, w);
    V::StoreBits(m.dst, e, V::ToBits(V::Fma(w, b, V::Mul(V::Sub(one, w), a)), m.out), m.out);
    return;
  }
  if (m.kind == MergeKind::Ram) {  // as elements.h, lane by lane
    const F base = V::LoadF(m.base, e, m.in);
    const F zero = V::Zero(), one = V::Set1(1.0f), eps = V::Set1(m.ram_epsilon), neg_eps = V::Set1(-m.ram_epsilon);
    F tau[kMaxModels];
    M nonzero[kMaxModels];
    F count = zero;
    for (int i = 0; i < m.models; ++i) {
      tau[i] = V::Sub(V::LoadF(m.x[i], e, m.in), base);
      nonzero[i] = V::OrM(V::Gt(tau[i], eps), V::Lt(tau[i], neg_eps));
      count = V::SelectF(nonzero[i], V::Add(count, one), count);
    }
    const M shared = V::Gt(count, one);
    F acc = zero;
    for (int i = 0; i < m.models; ++i) {
      const F q = V::SelectF(shared, V::Div(tau[i], count), V::Mul(tau[i], V::Set1(m.scale[i])));
      acc = V::SelectF(nonzero[i], V::Add(acc, q), acc);
    }
    V::StoreBits(m.dst, e, V::ToBits(V::Add(base, acc), m.out), m.out);
    return;
  }
  if (m.kind == MergeKind::Sce) {  // as elements.h (SceVariance in semantics.h), lane by lane
    const F base = V::LoadF(m.base, e, m.in), zero = V::Zero(), models = V::Set1(static_cast<float>(m.models));
    F t[kMaxModels];
    F sum = zero;
    for (int i = 0; i < m.models; ++i) {
      t[i] = V::Sub(V::LoadF(m.x[i], e, m.in), base);
      sum = V::Add(sum, t[i]);
    }
    M kept = V::MaskFromBits(V::kAllLanes);
    if (!m.sce_select_all) {
      const F mean = V::Div(sum, models);
      F acc = zero;
      for (int i = 0; i < m.models; ++i) acc = V::Fma(V::Sub(t[i], mean), V::Sub(t[i], mean), acc);
      const F var = V::Div(acc, models);
      const typename V::I key = V::KeyOf(V::SelectF(V::Eq(var, var), var, V::Set1(BitsFloat(0x7fc00000u))));  // SceKey: NaN canonical
      const M eq = V::AndM(V::KeyEq(key, m.key_threshold[0]), V::LanesBelow(m.cut_end[0] > e ? m.cut_end[0] - e : 0));
      kept = V::OrM(V::KeyGt(key, m.key_threshold[0]), eq);
    }
    F elected = zero;
    for (int i = 0; i < m.models; ++i) {
      t[i] = V::SelectF(kept, t[i], zero);
      elected = V::Add(elected, t[i]);
    }
    const M positive = V::Ge(elected, zero);
    F num = zero, den = zero;
    for (int i = 0; i < m.models; ++i) {
      const M agree = V::SelectM(positive, V::Gt(t[i], zero), V::Lt(t[i], zero));
      num = V::SelectF(agree, V::Fma(V::Set1(m.w[i]), t[i], num), num);
      den = V::SelectF(agree, V::Add(den, V::Set1(m.w[i])), den);
    }
    const F floor = V::Set1(1e-6f);
    V::StoreBits(m.dst, e, V::ToBits(V::Add(base, V::Div(num, V::SelectF(V::Lt(den, floor), floor, den))), m.out), m.out);
    return;
  }
  F t[kMaxModels];
  const F base = m.kind == MergeKind::Linear ? V::Zero() : V::LoadF(m.base, e, m.in);
  for (int i = 0; i < m.models; ++i) {
    const F xi = V::LoadF(m.x[i], e, m.in);
    if (m.kind == MergeKind::Linear) {
      t[i] = xi;
      continue;
    }
    F tau = V::Sub(xi, base);
    M kept = keep[i];
    if (m.sparsify == Sparsify::Magnitude || m.sparsify == Sparsify::MagnitudeBand) {
      const typename V::I key = V::KeyOf(tau);
      const M eq = V::AndM(V::KeyEq(key, m.key_threshold[i]), V::LanesBelow(m.cut_end[i] > e ? m.cut_end[i] - e : 0));
      kept = V::OrM(V::KeyGt(key, m.key_threshold[i]), eq);
      if (m.sparsify == Sparsify::MagnitudeBand) {
        const M drop_eq = V::AndM(V::KeyEq(key, m.drop_key_threshold[i]), V::LanesBelow(m.drop_cut_end[i] > e ? m.drop_cut_end[i] - e : 0));
        kept = V::AndM(kept, V::NotM(V::OrM(V::KeyGt(key, m.drop_key_threshold[i]), drop_eq)));
      }
    }
    if (m.rescale == Rescale::Density) tau = V::Div(tau, V::Set1(m.density[i]));  // as Rescaled() in elements.h
    if (m.rescale == Rescale::L1) tau = V::Mul(tau, V::Set1(m.scale[i]));
    t[i] = m.sparsify == Sparsify::None ? tau : V::SelectF(kept, tau, V::Zero());
  }
  F result;
  if (m.kind == MergeKind::Ties) {
    F elected = V::Zero();
    for (int i = 0; i < m.models; ++i) elected = V::Fma(V::Set1(m.w[i]), t[i], elected);
    const M positive = V::Ge(elected, V::Zero());
    F num = V::Zero(), den = V::Zero();
    for (int i = 0; i < m.models; ++i) {
      const F weighted = V::Mul(V::Set1(m.w[i]), t[i]);  // sign of w_i * tau_i, as elements.h
      const M agree = V::SelectM(positive, V::Gt(weighted, V::Zero()), V::Lt(weighted, V::Zero()));
      num = V::SelectF(agree, V::Fma(V::Set1(m.w[i]), t[i], num), num);
      den = V::SelectF(agree, V::Add(den, V::Set1(m.w[i])), den);
    }
    const M nonzero = V::NotM(V::Eq(den, V::Zero()));
    const F delta = m.normalize ? V::SelectF(nonzero, V::Div(num, den), num) : num;
    result = V::Fma(V::Set1(m.lambda), delta, base);
  } else {
    F acc = V::Zero();
    for (int i = 0; i < m.models; ++i) acc = V::Fma(V::Set1(m.w[i]), t[i], acc);
    result = m.kind == MergeKind::Linear ? acc : V::Fma(V::Set1(m.lambda), acc, base);
  }
  V::StoreBits(m.dst, e, V::ToBits(result, m.out), m.out);
}

template <class V>
void Merge(const MergeArgs& m, uint64_t begin, uint64_t end) {
  constexpr uint64_t kBatch = 4 * V::W * V::kPhiloxBatches;
  const uint64_t body = std::min(end, (begin + kBatch - 1) / kBatch * kBatch);
  if (begin < body) ScalarTable().merge(m, begin, body);
  typename V::M keep[kMaxModels];
  const typename V::M all = V::MaskFromBits(V::kAllLanes);
  uint64_t e = body;
  for (; e + kBatch <= end; e += kBatch) {
    uint64_t bits[kMaxModels][V::kPhiloxBatches];
    if (m.sparsify == Sparsify::Random) {
      for (int i = 0; i < m.models; ++i) V::PhiloxMasks(m.seed, m.stream[i], e / 4, m.keep_threshold[i], bits[i]);
    }
    for (int j = 0; j < 4 * V::kPhiloxBatches; ++j) {
      for (int i = 0; i < m.models; ++i) {
        keep[i] = m.sparsify == Sparsify::Random ? V::MaskFromBits(static_cast<uint32_t>(bits[i][j / 4] >> ((j % 4) * V::W)) & V::kAllLanes) : all;
        if (m.sparsify == Sparsify::Della || m.sparsify == Sparsify::Fusion) {  // the precomputed keep flags of these W lanes
          const uint8_t* flags = m.mask[i] + e + static_cast<uint64_t>(j) * V::W;
          uint32_t lanes = 0;
          for (int l = 0; l < V::W; ++l) lanes |= static_cast<uint32_t>(flags[l] != 0) << l;
          keep[i] = V::MaskFromBits(lanes);
        }
      }
      MergeVector<V>(m, e + static_cast<uint64_t>(j) * V::W, keep);
    }
  }
  if (e < end) ScalarTable().merge(m, e, end);
}

template <class V>
void Convert(const ConvertArgs& c, uint64_t begin, uint64_t end) {
  uint64_t e = begin;
  for (; e + V::W <= end; e += V::W) V::StoreBits(c.dst, e, V::ToBits(V::LoadF(c.src, e, c.in), c.out), c.out);
  if (e < end) ScalarTable().convert(c, e, end);
}

template <class V>
void Mix2(const Mix2Args& m, uint64_t begin, uint64_t end) {
  using F = typename V::F;
  const F t = V::Set1(m.t), c0 = V::Set1(m.c0), c1 = V::Set1(m.c1);
  uint64_t e = begin;
  for (; e + V::W <= end; e += V::W) {
    const F x = V::LoadF(m.x, e, m.in), y = V::LoadF(m.y, e, m.in);
    const F v = m.lerp ? V::Fma(t, V::Sub(y, x), x) : V::Fma(c1, y, V::Mul(c0, x));
    V::StoreBits(m.dst, e, V::ToBits(v, m.out), m.out);
  }
  if (e < end) ScalarTable().mix2(m, e, end);
}

template <class V>
void Reduce(const ReduceArgs& r, uint64_t block_begin, uint64_t block_end, ReducePartial* out) {
  for (uint64_t blk = block_begin; blk < block_end; ++blk) {
    const uint64_t begin = blk * kReduceBlock, end = std::min(r.n, begin + kReduceBlock);
    out[blk - block_begin] = V::ReduceBlock(r, begin, end);
  }
}

template <class V>
void MagnitudeKeys(const void* x, const void* base, DType dtype, uint64_t begin, uint64_t end, uint32_t* keys) {
  uint64_t e = begin;
  for (; e + V::W <= end; e += V::W) V::StoreKeys(keys + (e - begin), V::KeyOf(V::Sub(V::LoadF(x, e, dtype), V::LoadF(base, e, dtype))));
  if (e < end) ScalarTable().magnitude_keys(x, base, dtype, e, end, keys + (e - begin));
}

template <class V>
const KernelTable& MakeTable(const char* name) {
  static const KernelTable t{name, De<V>, Merge<V>, Convert<V>, Mix2<V>, Reduce<V>, MagnitudeKeys<V>};
  return t;
}

}  // namespace simd
}  // namespace evolver
