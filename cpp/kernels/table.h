// One table of kernel entry points per backend (scalar, avx2, avx512, ...), same names and
// same results bit for bit; dispatch.cc picks the best one the CPU supports, per call.
#pragma once
#include "args.h"

namespace evolver {

struct KernelTable {
  const char* name;
  void (*de)(const DeArgs&, uint64_t begin, uint64_t end);
  void (*merge)(const MergeArgs&, uint64_t begin, uint64_t end);
  void (*convert)(const ConvertArgs&, uint64_t begin, uint64_t end);
  void (*mix2)(const Mix2Args&, uint64_t begin, uint64_t end);
  // Blocks [block_begin, block_end) of kReduceBlock elements; out has one entry per block.
  void (*reduce)(const ReduceArgs&, uint64_t block_begin, uint64_t block_end, ReducePartial* out);
  // keys[e - begin] = the magnitude key of x[e] - base[e] (TIES / breadcrumbs selection).
  void (*magnitude_keys)(const void* x, const void* base, DType dtype, uint64_t begin, uint64_t end, uint32_t* keys);
};

const KernelTable& ScalarTable();
const KernelTable* Avx2Table();    // nullptr when not compiled in
const KernelTable* Avx512Table();  // nullptr when not compiled in

}  // namespace evolver
