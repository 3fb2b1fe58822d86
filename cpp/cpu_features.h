// What the CPU running this process can do, detected once at load (CPUID + XGETBV).
#pragma once

namespace evolver {

struct CpuFeatures {
  bool avx2_fma_f16c = false;  // the avx2 kernels' requirements
  bool avx512 = false;         // F + BW + VL + DQ (and the OS saves zmm state)
  bool neon = false;
};

const CpuFeatures& DetectCpu();
const char* CpuArchName();

}  // namespace evolver
