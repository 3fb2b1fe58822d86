// The CUDA kernels: the same per-element code as the CPU reference (cpp/kernels/elements.h),
// so results are bit-identical by construction (nvcc builds with --fmad=false; every fma is
// explicit). Host data (mapped files) are staged through pinned buffers in chunks, with two
// streams so copies overlap compute; device data (a resident population) run in place.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../cpp/cuda_api.h"
#include "../cpp/kernels/elements.h"
#include "../cpp/kernels/reduce_lanes.h"

namespace evolver {
namespace cuda {
namespace {

constexpr int kThreads = 256;

int GridFor(uint64_t work) {
  const uint64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<int>(std::min<uint64_t>(blocks, 65535ull * 8));
}

bool Check(cudaError_t e, const char* what, std::string* err) {
  if (e == cudaSuccess) return true;
  *err = std::string(what) + ": " + cudaGetErrorString(e);
  return false;
}

// ---- elementwise kernels over elements [begin, begin + count) ----

// Element granularity: one thread per Philox block (4 draws, 4 elements).
__global__ void DeElementKernel(DeArgs a, uint64_t begin, uint64_t count) {
  const uint64_t first_block = begin / 4, last_block = (begin + count + 3) / 4;
  for (uint64_t blk = first_block + blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; blk < last_block;
       blk += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const Philox4 r = PhiloxBlock(static_cast<uint32_t>(blk), static_cast<uint32_t>(blk >> 32), static_cast<uint32_t>(a.stream),
                                  static_cast<uint32_t>(a.stream >> 32), static_cast<uint32_t>(a.seed), static_cast<uint32_t>(a.seed >> 32));
    for (int w = 0; w < 4; ++w) {
      const uint64_t e = blk * 4 + w;
      if (e < begin || e >= begin + count) continue;
      DeApply(a, e, (r.v[w] >> 8) < a.cr_threshold);
    }
  }
}

// Every other elementwise kernel: a grid-stride loop over one element function of elements.h.
template <class Args, void (*ElementAt)(const Args&, uint64_t)>
__global__ void ElementwiseKernel(Args a, uint64_t begin, uint64_t count) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < count; i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    ElementAt(a, begin + i);
  }
}

__device__ void DeRowAt(const DeArgs& a, uint64_t e) { DeElementAt(a, e); }  // row / tensor granularity: one draw per row
__device__ void MergeAt(const MergeArgs& m, uint64_t e) { MergeElementAt(m, e); }
__device__ void ConvertAt(const ConvertArgs& c, uint64_t e) { ConvertElementAt(c, e); }
__device__ void Mix2At(const Mix2Args& m, uint64_t e) { Mix2ElementAt(m, e); }

// ---- reductions: one warp per block of kReduceBlock elements, lanes as on the CPU ----

__global__ void ReduceKernel(ReduceArgs r, uint64_t blocks, ReducePartial* out) {
  __shared__ double la[8][kReduceLanes], lb[8][kReduceLanes];
  __shared__ ReducePartial lanes[8][kReduceLanes];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const uint64_t blk = blockIdx.x * 8ull + warp;
  if (blk >= blocks) return;
  const uint64_t begin = blk * kReduceBlock, end = min(r.n, begin + kReduceBlock);
  if (lane < kReduceLanes) {
    ReducePartial p;
    double a = 0, b = 0;
    for (uint64_t e = begin + lane; e < end; e += kReduceLanes) {
      const double x = LoadAs(r.x, e, r.dtype);
      if (r.dot) {
        a = fma(x, static_cast<double>(LoadAs(r.y, e, r.dtype)), a);
        continue;
      }
      const float xf = static_cast<float>(x);
      if (IsNan(xf)) {
        ++p.nan;
      } else if ((FloatBits(xf) & 0x7fffffffu) == 0x7f800000u) {
        ++(x > 0 ? p.pos_inf : p.neg_inf);
      } else {
        a += x;
        b = fma(x, x, b);
        const int32_t key = OrderedKey(xf);
        p.min_key = min(p.min_key, key);
        p.max_key = max(p.max_key, key);
      }
    }
    la[warp][lane] = a;
    lb[warp][lane] = b;
    lanes[warp][lane] = p;
  }
  __syncwarp();
  if (lane == 0) {
    ReducePartial p;
    double a = 0, b = 0;
    for (int l = 0; l < kReduceLanes; ++l) {  // lanes summed in order, as on the CPU
      a += la[warp][l];
      b += lb[warp][l];
      p.nan += lanes[warp][l].nan;
      p.pos_inf += lanes[warp][l].pos_inf;
      p.neg_inf += lanes[warp][l].neg_inf;
      p.min_key = min(p.min_key, lanes[warp][l].min_key);
      p.max_key = max(p.max_key, lanes[warp][l].max_key);
    }
    if (r.dot) p.dot = a;
    else {
      p.sum = a;
      p.sum_squares = b;
    }
    out[blk] = p;
  }
}

// ---- magnitude selection (TIES) on device data: radix select like dispatch.cc ----

__global__ void MagnitudeHistogram(const void* x, const void* base, DType t, uint64_t n, int high, unsigned long long* hist) {
  for (uint64_t e = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; e < n; e += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const uint32_t key = MagnitudeKey(x, base, t, e);
    if (high < 0) atomicAdd(&hist[key >> 16], 1ull);
    else if (static_cast<int>(key >> 16) == high) atomicAdd(&hist[key & 0xffff], 1ull);
  }
}

__global__ void CountEqual(const void* x, const void* base, DType t, uint64_t n, uint32_t threshold, unsigned long long* per_block) {
  for (uint64_t e = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; e < n; e += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    if (MagnitudeKey(x, base, t, e) == threshold) atomicAdd(&per_block[e / kReduceBlock], 1ull);
  }
}

int WalkDown(const std::vector<unsigned long long>& h, uint64_t want, uint64_t* above) {
  static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "histogram counts are 64-bit");
  return WalkBinsDown(reinterpret_cast<const uint64_t*>(h.data()), static_cast<int>(h.size()), want, above);
}

bool SelectOnDevice(const void* x, const void* base, DType t, uint64_t n, uint64_t k, MagnitudeCut* cut, std::string* err) {
  if (k == 0) {
    *cut = {0x7fffffffu, 0};
    return true;
  }
  if (k >= n) {
    *cut = {0, n};
    return true;
  }
  const uint64_t blocks = (n + kReduceBlock - 1) / kReduceBlock;
  unsigned long long* d = nullptr;
  const uint64_t slots = std::max<uint64_t>(65536, blocks);
  if (!Check(cudaMalloc(&d, slots * sizeof(unsigned long long)), "cudaMalloc", err)) return false;
  std::vector<unsigned long long> h(1 << 15), l(1 << 16), per(blocks);
  bool ok = Check(cudaMemset(d, 0, slots * sizeof(unsigned long long)), "cudaMemset", err);
  if (ok) MagnitudeHistogram<<<GridFor(n), kThreads>>>(x, base, t, n, -1, d);
  ok = ok && Check(cudaMemcpy(h.data(), d, h.size() * 8, cudaMemcpyDeviceToHost), "histogram", err);
  uint64_t above_high = 0, above_low = 0;
  const int high = WalkDown(h, k, &above_high);
  ok = ok && Check(cudaMemset(d, 0, slots * sizeof(unsigned long long)), "cudaMemset", err);
  if (ok) MagnitudeHistogram<<<GridFor(n), kThreads>>>(x, base, t, n, high, d);
  ok = ok && Check(cudaMemcpy(l.data(), d, l.size() * 8, cudaMemcpyDeviceToHost), "histogram", err);
  const int low = WalkDown(l, k - above_high, &above_low);
  const uint32_t threshold = static_cast<uint32_t>(high) << 16 | static_cast<uint32_t>(low);
  const uint64_t need = k - above_high - above_low;
  ok = ok && Check(cudaMemset(d, 0, slots * sizeof(unsigned long long)), "cudaMemset", err);
  if (ok) CountEqual<<<GridFor(n), kThreads>>>(x, base, t, n, threshold, d);
  ok = ok && Check(cudaMemcpy(per.data(), d, blocks * 8, cudaMemcpyDeviceToHost), "count", err);
  cudaFree(d);
  if (!ok) return false;
  // The need-th equal key, in index order: find its block, then scan that block on the host.
  uint64_t seen = 0;
  for (uint64_t b = 0; b < blocks; ++b) {
    if (seen + per[b] < need) {
      seen += per[b];
      continue;
    }
    const uint64_t begin = b * kReduceBlock, len = std::min<uint64_t>(n, begin + kReduceBlock) - begin;
    const size_t size = DTypeSize(t);
    std::vector<uint8_t> hx(len * size), hb(len * size);
    if (!Check(cudaMemcpy(hx.data(), static_cast<const uint8_t*>(x) + begin * size, len * size, cudaMemcpyDeviceToHost), "copy", err)) return false;
    if (!Check(cudaMemcpy(hb.data(), static_cast<const uint8_t*>(base) + begin * size, len * size, cudaMemcpyDeviceToHost), "copy", err)) return false;
    for (uint64_t i = 0; i < len; ++i) {
      if (MagnitudeKey(hx.data(), hb.data(), t, i) == threshold && ++seen == need) {
        *cut = {threshold, begin + i + 1};
        return true;
      }
    }
  }
  *cut = {threshold, n};
  return true;
}

// ---- host data: staged through pinned buffers, two streams ----

constexpr uint64_t kStageBytes = 64ull << 20;  // per operand per slot

struct Operand {
  const void* host;  // input (nullptr if unused)
  size_t size;       // bytes per element
};

/**
 * Runs launch(dev_inputs, dev_out, begin, count, stream) over [0, n) in chunks. Device
 * pointers passed to launch are shifted so that element e of the whole tensor is at index e
 * (the kernels use absolute indices for their Philox draws).
 */
template <class Launch>
bool Staged(const std::vector<Operand>& inputs, void* host_out, size_t out_size, uint64_t n, Launch launch, std::string* err) {
  size_t widest = out_size;
  for (const Operand& o : inputs) widest = std::max(widest, o.size);
  const uint64_t chunk = std::max<uint64_t>(1024, kStageBytes / widest) / 4 * 4;
  struct Slot {
    std::vector<void*> pin_in, dev_in;
    void* pin_out = nullptr;
    void* dev_out = nullptr;
    cudaStream_t stream = nullptr;
    cudaEvent_t done = nullptr;
    uint64_t begin = 0, count = 0;
    bool busy = false;
  } slots[2];
  bool ok = true;
  for (Slot& s : slots) {
    s.pin_in.assign(inputs.size(), nullptr);
    s.dev_in.assign(inputs.size(), nullptr);
    for (size_t i = 0; i < inputs.size() && ok; ++i) {
      ok = Check(cudaMallocHost(&s.pin_in[i], chunk * inputs[i].size), "cudaMallocHost", err) &&
           Check(cudaMalloc(&s.dev_in[i], chunk * inputs[i].size), "cudaMalloc", err);
    }
    ok = ok && Check(cudaMallocHost(&s.pin_out, chunk * out_size), "cudaMallocHost", err) && Check(cudaMalloc(&s.dev_out, chunk * out_size), "cudaMalloc", err) &&
         Check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate", err) && Check(cudaEventCreate(&s.done), "cudaEventCreate", err);
  }
  // Drains a slot: waits for its work, then copies its output chunk to the host.
  auto drain = [&](Slot& s) {
    if (!s.busy) return true;
    s.busy = false;
    if (!Check(cudaEventSynchronize(s.done), "kernel", err)) return false;
    std::memcpy(static_cast<uint8_t*>(host_out) + s.begin * out_size, s.pin_out, s.count * out_size);
    return true;
  };
  for (uint64_t begin = 0, c = 0; ok && begin < n; begin += chunk, ++c) {
    Slot& s = slots[c % 2];
    ok = drain(s);
    if (!ok) break;
    s.begin = begin;
    s.count = std::min(chunk, n - begin);
    std::vector<const void*> shifted(inputs.size());
    for (size_t i = 0; i < inputs.size() && ok; ++i) {
      // The CPU fills this slot while the GPU works on the other one.
      std::memcpy(s.pin_in[i], static_cast<const uint8_t*>(inputs[i].host) + begin * inputs[i].size, s.count * inputs[i].size);
      ok = Check(cudaMemcpyAsync(s.dev_in[i], s.pin_in[i], s.count * inputs[i].size, cudaMemcpyHostToDevice, s.stream), "upload", err);
      shifted[i] = static_cast<const uint8_t*>(s.dev_in[i]) - begin * inputs[i].size;
    }
    void* out_shifted = static_cast<uint8_t*>(s.dev_out) - begin * out_size;
    if (ok) launch(shifted, out_shifted, begin, s.count, s.stream);
    ok = ok && Check(cudaGetLastError(), "launch", err) &&
         Check(cudaMemcpyAsync(s.pin_out, s.dev_out, s.count * out_size, cudaMemcpyDeviceToHost, s.stream), "download", err) &&
         Check(cudaEventRecord(s.done, s.stream), "event", err);
    s.busy = ok;
  }
  for (Slot& s : slots) ok = drain(s) && ok;
  for (Slot& s : slots) {
    for (void* p : s.pin_in) cudaFreeHost(p);
    for (void* p : s.dev_in) cudaFree(p);
    cudaFreeHost(s.pin_out);
    cudaFree(s.dev_out);
    if (s.stream) cudaStreamDestroy(s.stream);
    if (s.done) cudaEventDestroy(s.done);
  }
  return ok;
}

template <class Launch>
bool OnDevice(uint64_t n, Launch launch, std::string* err) {
  launch(0, n, cudaStream_t{0});
  return Check(cudaGetLastError(), "launch", err) && Check(cudaDeviceSynchronize(), "kernel", err);
}

void LaunchDe(const DeArgs& a, uint64_t begin, uint64_t count, cudaStream_t s) {
  if (a.granularity == Granularity::Element) DeElementKernel<<<GridFor((count + 3) / 4 + 1), kThreads, 0, s>>>(a, begin, count);
  else ElementwiseKernel<DeArgs, DeRowAt><<<GridFor(count), kThreads, 0, s>>>(a, begin, count);
}

}  // namespace

bool Available(std::string* why) {
  const CudaStatus s = ProbeCuda();
  if (!s.available) *why = s.reason;
  return s.available;
}

bool Alloc(uint64_t bytes, void** ptr, std::string* err) { return Check(cudaMalloc(ptr, std::max<uint64_t>(bytes, 1)), "cudaMalloc", err); }
void Free(void* ptr) { cudaFree(ptr); }
bool Upload(void* dst, const void* src, uint64_t bytes, std::string* err) { return Check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "upload", err); }
bool Download(void* dst, const void* src, uint64_t bytes, std::string* err) { return Check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "download", err); }

bool RunDe(const DeArgs& a, bool device, std::string* err) {
  if (device) return OnDevice(a.n, [&](uint64_t b, uint64_t c, cudaStream_t s) { LaunchDe(a, b, c, s); }, err);
  const size_t size = DTypeSize(a.dtype);
  std::vector<Operand> in{{a.x, size}};
  if (UsesAB(a.strategy)) in.insert(in.end(), {{a.a, size}, {a.b, size}});
  if (UsesC(a.strategy)) in.push_back({a.c, size});
  return Staged(in, a.out, size, a.n, [&](const std::vector<const void*>& d, void* out, uint64_t b, uint64_t c, cudaStream_t s) {
    DeArgs k = a;
    size_t i = 0;
    k.x = d[i++];
    if (UsesAB(a.strategy)) {
      k.a = d[i++];
      k.b = d[i++];
    }
    if (UsesC(a.strategy)) k.c = d[i++];
    k.out = out;  // in place on the host works too: each chunk is read before it is written back
    LaunchDe(k, b, c, s);
  }, err);
}

bool RunMerge(MergeArgs m, bool device, std::string* err) {
  if (m.sparsify == Sparsify::Magnitude || m.sparsify == Sparsify::MagnitudeBand) {
    auto select = [&](int i, uint64_t k, MagnitudeCut* cut) {
      if (device) return SelectOnDevice(m.x[i], m.base, m.in, m.n, k, cut, err);
      *cut = SelectTopMagnitude(m.x[i], m.base, m.in, m.n, k, RunOptions{});  // host data: the CPU selects
      return true;
    };
    for (int i = 0; i < m.models; ++i) {
      uint64_t keep = 0, drop = 0;
      ModelCounts(m, i, &keep, &drop);
      MagnitudeCut cut;
      if (!select(i, keep + drop, &cut)) return false;
      m.key_threshold[i] = cut.key_threshold;
      m.cut_end[i] = cut.cut_end;
      if (m.sparsify == Sparsify::MagnitudeBand) {
        if (!select(i, drop, &cut)) return false;
        m.drop_key_threshold[i] = cut.key_threshold;
        m.drop_cut_end[i] = cut.cut_end;
      }
    }
  }
  std::vector<std::vector<uint8_t>> della;  // Della keep flags, computed on the host (as the CPU path)
  if (m.sparsify == Sparsify::Della || m.sparsify == Sparsify::Fusion) {
    if (device) {
      *err = "della and arcee_fusion need host tensors (their keep flags are computed on the CPU)";
      return false;
    }
    if (m.sparsify == Sparsify::Della) DellaMasks(&m, 0, &della);
    else FusionMasks(&m, 0, &della);
  }
  if (m.kind == MergeKind::Sce) {
    if (device) {
      *err = "sce needs host tensors (its selection and weights are computed on the CPU)";
      return false;
    }
    SceSetup(&m, 0);
  }
  if (m.kind == MergeKind::Ram && m.ram_plus) {
    if (device) {
      *err = "ramplus_tl needs host tensors (its per-model counts are taken on the CPU)";
      return false;
    }
    RamScales(&m, 0);
  }
  if (m.rescale == Rescale::L1) {
    // The factors come from whole-tensor sums on the host (the same code and order as the CPU
    // path, so the scale and hence the output bits agree); resident tensors are not summed here.
    if (device) {
      *err = "rescale 'l1' needs host tensors (the L1 sums run on the CPU); download the inputs or use rescale 'density'";
      return false;
    }
    L1Scales(&m, 0);
  }
  if (device) return OnDevice(m.n, [&](uint64_t b, uint64_t c, cudaStream_t s) { ElementwiseKernel<MergeArgs, MergeAt><<<GridFor(c), kThreads, 0, s>>>(m, b, c); }, err);
  const size_t in_size = DTypeSize(m.in);
  std::vector<Operand> in;
  for (int i = 0; i < m.models; ++i) in.push_back({m.x[i], in_size});
  if (m.base != nullptr) in.push_back({m.base, in_size});
  const bool fisher = m.kind == MergeKind::Fisher;
  if (fisher) for (int i = 0; i < m.models; ++i) in.push_back({m.fisher[i], DTypeSize(m.fisher_dtype)});
  const bool flags = m.sparsify == Sparsify::Della || m.sparsify == Sparsify::Fusion;
  const size_t flags_at = in.size();
  if (flags) for (int i = 0; i < m.models; ++i) in.push_back({m.mask[i], 1});
  return Staged(in, m.dst, DTypeSize(m.out), m.n, [&](const std::vector<const void*>& d, void* out, uint64_t b, uint64_t c, cudaStream_t s) {
    MergeArgs k = m;
    for (int i = 0; i < m.models; ++i) k.x[i] = d[i];
    if (m.base != nullptr) k.base = d[m.models];
    if (fisher) for (int i = 0; i < m.models; ++i) k.fisher[i] = d[m.models + (m.base != nullptr ? 1 : 0) + i];
    if (flags) for (int i = 0; i < m.models; ++i) k.mask[i] = static_cast<const uint8_t*>(d[flags_at + i]);
    k.dst = out;
    ElementwiseKernel<MergeArgs, MergeAt><<<GridFor(c), kThreads, 0, s>>>(k, b, c);
  }, err);
}

bool RunConvert(const ConvertArgs& c, bool device, std::string* err) {
  if (device) return OnDevice(c.n, [&](uint64_t b, uint64_t k, cudaStream_t s) { ElementwiseKernel<ConvertArgs, ConvertAt><<<GridFor(k), kThreads, 0, s>>>(c, b, k); }, err);
  return Staged({{c.src, DTypeSize(c.in)}}, c.dst, DTypeSize(c.out), c.n, [&](const std::vector<const void*>& d, void* out, uint64_t b, uint64_t k, cudaStream_t s) {
    ConvertArgs a = c;
    a.src = d[0];
    a.dst = out;
    ElementwiseKernel<ConvertArgs, ConvertAt><<<GridFor(k), kThreads, 0, s>>>(a, b, k);
  }, err);
}

bool RunMix2(const Mix2Args& m, bool device, std::string* err) {
  if (device) return OnDevice(m.n, [&](uint64_t b, uint64_t k, cudaStream_t s) { ElementwiseKernel<Mix2Args, Mix2At><<<GridFor(k), kThreads, 0, s>>>(m, b, k); }, err);
  const size_t size = DTypeSize(m.in);
  return Staged({{m.x, size}, {m.y, size}}, m.dst, DTypeSize(m.out), m.n, [&](const std::vector<const void*>& d, void* out, uint64_t b, uint64_t k, cudaStream_t s) {
    Mix2Args a = m;
    a.x = d[0];
    a.y = d[1];
    a.dst = out;
    ElementwiseKernel<Mix2Args, Mix2At><<<GridFor(k), kThreads, 0, s>>>(a, b, k);
  }, err);
}

bool RunReduce(const ReduceArgs& r, ReduceResult* result, std::string* err) {
  const uint64_t blocks = (r.n + kReduceBlock - 1) / kReduceBlock;
  std::vector<ReducePartial> parts(blocks);
  ReducePartial* d = nullptr;
  if (blocks > 0) {
    if (!Check(cudaMalloc(&d, blocks * sizeof(ReducePartial)), "cudaMalloc", err)) return false;
    ReduceKernel<<<static_cast<unsigned>((blocks + 7) / 8), 256>>>(r, blocks, d);
    const bool ok = Check(cudaGetLastError(), "launch", err) && Check(cudaMemcpy(parts.data(), d, blocks * sizeof(ReducePartial), cudaMemcpyDeviceToHost), "reduce", err);
    cudaFree(d);
    if (!ok) return false;
  }
  *result = CombinePartials(parts.data(), blocks, r);
  return true;
}

bool DeviceCopyGBps(uint64_t bytes, int reps, double* gbps, std::string* err) {
  void *a = nullptr, *b = nullptr;
  if (!Check(cudaMalloc(&a, bytes), "cudaMalloc", err) || !Check(cudaMalloc(&b, bytes), "cudaMalloc", err)) {
    cudaFree(a);
    return false;
  }
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  float best = 1e30f;
  bool ok = Check(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice), "copy", err);
  for (int i = 0; ok && i < reps; ++i) {
    cudaEventRecord(t0);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(t1);
    ok = Check(cudaEventSynchronize(t1), "copy", err);
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    best = std::min(best, ms);
  }
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaFree(a);
  cudaFree(b);
  *gbps = 2.0 * static_cast<double>(bytes) / (best / 1e3) / 1e9;
  return ok;
}

}  // namespace cuda
}  // namespace evolver
