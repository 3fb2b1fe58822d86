// CUDA availability as the addon reports it. Built only by `npm run build:cuda`.
// cudart is linked statically, so the addon loads on machines without the toolkit;
// "no driver" and "no device" are answers, not failures.
#include <cuda_runtime.h>

#include <string>

#include "../cpp/cuda_runtime_probe.h"

namespace evolver {

// A trivial kernel: proves the device code was compiled and linked for this binary.
__global__ void ProbeKernel(int* out) { *out = 42; }

static bool RunProbeKernel(std::string* why) {
  int* d = nullptr;
  int h = 0;
  if (cudaMalloc(&d, sizeof(int)) != cudaSuccess) {
    *why = "cudaMalloc failed";
    return false;
  }
  ProbeKernel<<<1, 1>>>(d);
  cudaError_t e = cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (e != cudaSuccess || h != 42) {
    *why = std::string("probe kernel failed: ") + cudaGetErrorString(e);
    return false;
  }
  return true;
}

CudaStatus ProbeCuda() {
  static const CudaStatus status = [] {
    CudaStatus s;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver /* 35 */ || e == cudaErrorNoDevice /* 100 */) {
      s.reason = std::string("no GPU: ") + cudaGetErrorString(e);
      return s;
    }
    if (e != cudaSuccess) {
      s.reason = std::string("CUDA error: ") + cudaGetErrorString(e);
      return s;
    }
    if (n == 0) {
      s.reason = "no GPU: no CUDA device found";
      return s;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) s.device_name = prop.name;
    std::string why;
    if (!RunProbeKernel(&why)) {
      s.reason = why;
      return s;
    }
    s.available = true;
    s.device_count = n;
    return s;
  }();
  return status;
}

}  // namespace evolver
