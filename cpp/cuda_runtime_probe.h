// The CUDA side as the rest of the addon sees it. Built from cuda/ when nvcc exists
// (npm run build:cuda); otherwise cpp/cuda_absent.cc answers "not built".
#pragma once
#include <string>

namespace evolver {

struct CudaStatus {
  bool available = false;
  int device_count = 0;
  std::string device_name;  // first device, when available
  std::string reason;       // why unavailable
};

CudaStatus ProbeCuda();

}  // namespace evolver
