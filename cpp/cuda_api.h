// The CUDA backend as the rest of the addon sees it: implemented in cuda/ when the addon is
// built with `npm run build:cuda`, otherwise by cuda_absent.cc (every call reports why not).
// Kernels take the same argument structs as the CPU ones and produce the same bits.
#pragma once
#include <cstdint>
#include <string>

#include "cuda_runtime_probe.h"
#include "kernels/args.h"
#include "kernels/dispatch.h"

namespace evolver {
namespace cuda {

/** True when this binary has CUDA kernels and a GPU runs them (ProbeCuda().available). */
bool Available(std::string* why);

// Device memory: the fast path for repeated trials keeps the population resident.
bool Alloc(uint64_t bytes, void** ptr, std::string* err);
void Free(void* ptr);
bool Upload(void* dst, const void* src, uint64_t bytes, std::string* err);
bool Download(void* dst, const void* src, uint64_t bytes, std::string* err);

/**
 * Runs a kernel. When `device` is true every pointer in the args is device memory; otherwise
 * they are host memory (e.g. mapped files) and the data are staged through pinned buffers in
 * chunks, copies overlapped with compute. Magnitude selection and reductions run where the
 * data are.
 */
bool RunDe(const DeArgs& a, bool device, std::string* err);
bool RunMerge(MergeArgs m, bool device, std::string* err);
bool RunConvert(const ConvertArgs& c, bool device, std::string* err);
bool RunMix2(const Mix2Args& m, bool device, std::string* err);
bool RunReduce(const ReduceArgs& r, ReduceResult* out, std::string* err);  // device pointers

/** Device-to-device copy bandwidth (GB/s, read + write), for the benchmark. */
bool DeviceCopyGBps(uint64_t bytes, int reps, double* gbps, std::string* err);

}  // namespace cuda
}  // namespace evolver
