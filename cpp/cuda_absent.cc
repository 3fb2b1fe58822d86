// Linked into builds without CUDA (the default node-gyp build).
#include "cuda_runtime_probe.h"

namespace evolver {

CudaStatus ProbeCuda() {
  CudaStatus s;
  s.reason = "this build has no CUDA kernels (build them with `npm run build:cuda` on a machine with nvcc)";
  return s;
}

}  // namespace evolver
