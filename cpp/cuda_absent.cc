// Linked into builds without CUDA (the default node-gyp build): every CUDA entry point
// reports that this binary has no CUDA kernels.
#include "cuda_api.h"

namespace evolver {

static const char* kNotBuilt = "this build has no CUDA kernels (build them with `npm run build:cuda` on a machine with nvcc)";

CudaStatus ProbeCuda() {
  CudaStatus s;
  s.reason = kNotBuilt;
  return s;
}

namespace cuda {
static bool No(std::string* err) {
  *err = kNotBuilt;
  return false;
}
bool Available(std::string* why) { return No(why); }
bool Alloc(uint64_t, void**, std::string* err) { return No(err); }
void Free(void*) {}
bool Upload(void*, const void*, uint64_t, std::string* err) { return No(err); }
bool Download(void*, const void*, uint64_t, std::string* err) { return No(err); }
bool RunDe(const DeArgs&, bool, std::string* err) { return No(err); }
bool RunMerge(MergeArgs, bool, std::string* err) { return No(err); }
bool RunConvert(const ConvertArgs&, bool, std::string* err) { return No(err); }
bool RunMix2(const Mix2Args&, bool, std::string* err) { return No(err); }
bool RunReduce(const ReduceArgs&, ReduceResult*, std::string* err) { return No(err); }
bool DeviceCopyGBps(uint64_t, int, double*, std::string* err) { return No(err); }
}  // namespace cuda

}  // namespace evolver
