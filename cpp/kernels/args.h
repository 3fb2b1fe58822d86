// Plain argument structs of the kernels: filled on the JS thread, read by any backend.
// A kernel works on the element range [begin, end) of its arguments, so any chunking and any
// thread count compute the same bits.
#pragma once
#include <cstdint>

#include "../dtype.h"
#include "semantics.h"

namespace evolver {

constexpr int kMaxModels = 64;

struct DeArgs {
  Strategy strategy = Strategy::Current1;
  Granularity granularity = Granularity::Element;
  DType dtype = DType::F32;  // of every input and of the child
  const void* x = nullptr;   // target
  const void* a = nullptr;
  const void* b = nullptr;
  const void* c = nullptr;   // r0 / best / ref
  void* out = nullptr;       // may alias x
  uint64_t n = 0;
  uint64_t first = 0;        // the elements run are [first, first + n)
  uint64_t row_length = 1;   // elements per row (row granularity)
  float F = 0.5f;
  float CR = 0.9f;
  uint32_t cr_threshold = 0;  // ThresholdFor(CR)
  uint64_t seed = 0;
  uint64_t stream = 0;
};

enum class MergeKind : int { Linear = 0, TaskArithmetic = 1, Ties = 2, Fisher = 3, NearSwap = 4, Ram = 5, Sce = 6 };
// Della: DELLA's MagPrune, keep flags drawn per element from magnitude ranks (DellaMasks, della_mask.cc).
// Fusion: Arcee Fusion's keep flags (FusionMasks, fusion_mask.cc); both Della and Fusion are read from mask[i].
enum class Sparsify : int { None = 0, Magnitude = 1, Random = 2, MagnitudeBand = 3, Della = 4, Fusion = 5 };
// How kept task-vector entries are rescaled: not at all; divided by the model's density (the DARE
// paper); or multiplied by scale[i] = L1(tau_i) / L1(kept tau_i), mergekit's `rescale: true`
// (computed once per model by RunMerge before the elementwise pass, see L1Scales).
enum class Rescale : int { None = 0, Density = 1, L1 = 2 };

struct MergeArgs {
  MergeKind kind = MergeKind::Linear;
  Sparsify sparsify = Sparsify::None;
  DType in = DType::F32;   // of every model and of the base
  DType out = DType::F32;  // of dst
  int models = 0;
  const void* x[kMaxModels] = {};
  float w[kMaxModels] = {};
  const void* base = nullptr;  // TaskArithmetic / Ties
  void* dst = nullptr;         // may alias an input of the same dtype
  uint64_t n = 0;
  float lambda = 1.0f;
  // Magnitude: keep tau_i[e] when key > key_threshold[i], or key == key_threshold[i] and e < cut_end[i]
  // (key = the bits of tau with the sign cleared: the total order of magnitudes, NaN largest).
  uint32_t key_threshold[kMaxModels] = {};
  uint64_t cut_end[kMaxModels] = {};
  // MagnitudeBand (breadcrumbs): also drop the top `gamma` fraction, the elements selected by
  // (drop_key_threshold, drop_cut_end) the same way.
  uint32_t drop_key_threshold[kMaxModels] = {};
  uint64_t drop_cut_end[kMaxModels] = {};
  // Ties: divide the agreeing sum by the agreeing weights (mergekit's normalize, default true).
  bool normalize = true;
  // Fisher: per-element importance of each model (diagonal Fisher), in fisher_dtype:
  // out = sum(w_i (F_i + eps) x_i) / sum(w_i (F_i + eps)).
  const void* fisher[kMaxModels] = {};
  DType fisher_dtype = DType::F32;
  float epsilon = 1e-8f;
  // Random (DARE): keep tau_i[e] when (draw_i(e) >> 8) < keep_threshold[i]; stream[i] = i * 2^20 + j.
  uint32_t keep_threshold[kMaxModels] = {};
  uint64_t seed = 0;
  uint64_t stream[kMaxModels] = {};
  Rescale rescale = Rescale::None;
  float scale[kMaxModels] = {};      // Rescale::L1: the factor of model i's kept entries
  float density[kMaxModels] = {};    // per model: fraction kept (magnitude) or keep probability (random)
  float gamma[kMaxModels] = {};      // MagnitudeBand, per model: fraction of the largest magnitudes dropped
  float t = 0.0f;                    // NearSwap: the similarity threshold (x[0] = the other model)
  // Della: keep tau_i[e] when mask[i][e] != 0 (one byte per element, filled by RunMerge from
  // della_epsilon[i], row_length and the Philox stream of model i).
  const uint8_t* mask[kMaxModels] = {};
  float della_epsilon[kMaxModels] = {};
  uint64_t row_length = 0;           // Della: elements per row (ranks are taken within rows)
  // Ram (RAM / RAM+ tensor-local): tau_i counts where |tau_i| > ram_epsilon; an entry only model i
  // has is taken times scale[i] (1 for RAM; RAM+'s lambda_i from RamScales), shared ones divided
  // by how many models have them.
  float ram_epsilon = 1e-5f;
  bool ram_plus = false;
  float ram_r = 0.1f, ram_alpha = 0.2f;
  // Sce: entries kept where the variance across models is in the top select_topk fraction of the
  // nonzero variances (key_threshold[0] / cut_end[0], shared by all models, from SceSetup; all
  // kept when sce_select_all); w[i] are SCE's weights, also from SceSetup.
  bool sce_select_all = true;
};
// Passed by value to the CUDA kernels: CUDA 12.1+ allows 32,764 bytes of kernel parameters on
// Volta and newer (the build targets sm_80 / sm_90); keep well below that.
static_assert(sizeof(MergeArgs) < 16384, "MergeArgs is a CUDA kernel parameter");

struct ConvertArgs {
  DType in = DType::F32;
  DType out = DType::F32;
  const void* src = nullptr;
  void* dst = nullptr;
  uint64_t n = 0;
};

/** out = lerp ? fma(t, y - x, x) : fma(c1, y, c0 * x)  (SLERP's elementwise pass). */
struct Mix2Args {
  DType in = DType::F32;
  DType out = DType::F32;
  const void* x = nullptr;
  const void* y = nullptr;
  void* dst = nullptr;
  uint64_t n = 0;
  bool lerp = true;
  float t = 0.5f, c0 = 0.5f, c1 = 0.5f;
};

/** Deterministic reductions: blocks of kReduceBlock elements, 16 double lanes each. */
constexpr uint64_t kReduceBlock = 4096;
constexpr int kReduceLanes = 16;

struct ReduceArgs {
  DType dtype = DType::F32;
  const void* x = nullptr;
  const void* y = nullptr;  // dot only
  uint64_t n = 0;
  bool dot = false;
};

/** Per block: stats (finite sum / sum of squares, counts, ordered min/max keys) or dot. */
struct ReducePartial {
  double sum = 0, sum_squares = 0, dot = 0;
  uint64_t nan = 0, pos_inf = 0, neg_inf = 0;
  int32_t min_key = 2147483647, max_key = -2147483647 - 1;  // OrderedKey of finite values
};

/** float bits -> int32 whose order is the float total order (-0 < +0). */
EVOLVER_HD int32_t OrderedKey(float f) {
  const int32_t b = static_cast<int32_t>(FloatBits(f));
  return b ^ ((b >> 31) & 0x7fffffff);
}
EVOLVER_HD float FromOrderedKey(int32_t k) { return BitsFloat(static_cast<uint32_t>(k ^ ((k >> 31) & 0x7fffffff))); }

}  // namespace evolver
