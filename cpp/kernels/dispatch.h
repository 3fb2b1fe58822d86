// Runs kernels over whole tensors: picks the ISA table, splits the range into chunks on the
// thread pool, and does the per-tensor passes that are not elementwise (TIES thresholds,
// SLERP coefficients, reductions). Backend-independent parts live here so CPU and CUDA share
// them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "table.h"

namespace evolver {

struct RunOptions {
  int threads = 0;          // 0: the pool's default
  uint64_t chunk = 0;       // elements per chunk; 0: default
  const KernelTable* table = nullptr;  // nullptr: best for this CPU
};

/** The best table this CPU supports, or the named one ("scalar", "avx2", "avx512"); nullptr if unavailable. */
const KernelTable* TableFor(const std::string& name);
const KernelTable& BestTable();

void RunDe(const DeArgs& a, const RunOptions& o);
// Several de calls in one pool pass over all their chunks (each call's bits as RunDe alone).
void RunDeBatch(const std::vector<DeArgs>& calls, const RunOptions& o);
void RunMerge(MergeArgs m, const RunOptions& o);  // fills magnitude thresholds when needed
void RunConvert(const ConvertArgs& c, const RunOptions& o);
void RunMix2(const Mix2Args& m, const RunOptions& o);

struct ReduceResult {
  double sum = 0, sum_squares = 0, dot = 0;
  uint64_t nan = 0, pos_inf = 0, neg_inf = 0, finite = 0;
  bool any_finite = false;
  float min = 0, max = 0;
};
ReduceResult RunReduce(const ReduceArgs& r, const RunOptions& o);
/** Sums block partials in block order (the fixed order every backend shares). */
ReduceResult CombinePartials(const ReducePartial* parts, uint64_t blocks, const ReduceArgs& r);

/** Exact top-k selection of |x - base| (k = floor(density * n)) for TIES / breadcrumbs. */
struct MagnitudeCut {
  uint32_t key_threshold;
  uint64_t cut_end;
};
MagnitudeCut SelectTopMagnitude(const void* x, const void* base, DType dtype, uint64_t n, uint64_t k, const RunOptions& o);
void ComputeMagnitudeKeys(const void* x, const void* base, DType dtype, uint64_t n, uint32_t* keys, const RunOptions& o);
MagnitudeCut SelectTopKeys(const uint32_t* keys, uint64_t n, uint64_t k, const RunOptions& o);
/** Walks histogram bins from the top: the bin holding the want-th largest, and the count above it. */
int WalkBinsDown(const uint64_t* bins, int count, uint64_t want, uint64_t* above);
uint64_t KeepCount(float density, uint64_t n);
/** Breadcrumbs: how many to keep below the `drop` largest magnitudes. */
void BandCounts(float density, float gamma, uint64_t n, uint64_t* keep, uint64_t* drop);
/** Model i's magnitude selection: keep `keep` entries below its `drop` largest (TIES: drop = 0). */
void ModelCounts(const MergeArgs& m, int i, uint64_t* keep, uint64_t* drop);
/**
 * Rescale::L1 (mergekit's rescale): m->scale[i] = L1(tau_i) / L1(kept tau_i), both summed in
 * double over blocks of kReduceBlock elements in element order, blocks in order (so any thread
 * count gives the same factor); 1 when either sum is below 1e-7 (mergekit's eps) or the ratio is
 * not finite. Reads host memory; magnitude thresholds must already be set.
 */
void L1Scales(MergeArgs* m, int threads);
/**
 * DELLA's MagPrune keep flags (Sparsify::Della), one byte per element per model, into `flags`
 * (resized), and m->mask[i] pointed at them. Within each row of row_length elements the entries
 * are ranked by |tau| ascending (the magnitude key, every NaN just above +Inf; ties by lower
 * index first), rank r of C gets
 * p = (density − eps) + r/(C − 1) · 2 eps (C = 1: p = density − eps), and the entry is kept when
 * the uniform draw u(e) of stream[i] (as DARE) is below p, compared in double. density ≥ 1 keeps
 * all, ≤ 0 none. Reads host memory.
 */
/** RAM: m->scale[i] = 1; RAM+ (ram_plus): lambda_i from the tensor's shared / unique counts (ram_scale.cc). Host memory. */
void RamScales(MergeArgs* m, int threads);
/**
 * SCE's whole-tensor steps (sce_setup.cc): with select_topk = density[0] < 1, the top
 * floor(nonzero · select_topk) elements by the variance key (bits of SceVariance, sign cleared;
 * ties by lower index) into key_threshold[0] / cut_end[0]; then w[i] = mean over the tensor of model
 * i's kept τ² (double), normalized to sum 1 (1/N each when the sum is below 1e-6). Host memory.
 */
void SceSetup(MergeArgs* m, int threads);
/** Arcee Fusion's keep flags for the one model (fusion_mask.cc), rows of row_length (the last dimension). Host memory. */
void FusionMasks(MergeArgs* m, int threads, std::vector<std::vector<uint8_t>>* flags);
void DellaMasks(MergeArgs* m, int threads, std::vector<std::vector<uint8_t>>* flags);

/** SLERP's coefficients from the reductions, computed on the host in double (mergekit's rule). */
struct SlerpPlan {
  bool lerp;
  float t, c0, c1;
  double cosine;  // of the angle between the two tensors
};
SlerpPlan PlanSlerp(double dot, double norm_x_sq, double norm_y_sq, float t);
/** The elementwise pass of a planned SLERP (CPU and CUDA share it). */
Mix2Args SlerpMix(const SlerpPlan& plan, const void* x, const void* y, void* dst, DType in, DType out, uint64_t n);
Mix2Args RunSlerp(const void* x, const void* y, void* dst, DType in, DType out, uint64_t n, float t, const RunOptions& o, SlerpPlan* plan);

}  // namespace evolver
