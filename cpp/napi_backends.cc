// backends(): which kernel backends this binary has and whether this machine can run them.
#include <napi.h>

#include "cpu_features.h"
#include "cuda_runtime_probe.h"
#include "kernels/table.h"
#include "napi_exports.h"

namespace evolver {
namespace {

Napi::Object Entry(Napi::Env env, const char* name, bool available, const std::string& reason) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", name);
  o.Set("available", available);
  if (!available) o.Set("reason", reason);
  return o;
}

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = DetectCpu();
  const std::string arch = CpuArchName();
  const bool x86 = arch == "x86_64";
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  out.Set(i++, Entry(env, "scalar", true, ""));
  out.Set(i++, Entry(env, "avx2", f.avx2_fma_f16c && Avx2Table() != nullptr, x86 ? "this CPU lacks AVX2, FMA or F16C" : "not an x86-64 CPU"));
  out.Set(i++, Entry(env, "avx512", f.avx512 && Avx512Table() != nullptr,
                     x86 ? "this CPU lacks AVX-512 F/BW/VL/DQ (or the OS does not save zmm state)" : "not an x86-64 CPU"));
  // The NEON kernels are not written yet: arm64 runs the scalar kernels, and says so.
  out.Set(i++, Entry(env, "neon", false, f.neon ? "NEON kernels are not built yet; this arm64 CPU runs the scalar kernels" : "not an arm64 CPU"));
  CudaStatus cuda = ProbeCuda();
  Napi::Object c = Entry(env, "cuda", cuda.available, cuda.reason);
  if (cuda.available) {
    c.Set("devices", cuda.device_count);
    c.Set("device", cuda.device_name);
  }
  out.Set(i++, c);
  return out;
}

}  // namespace

void InitBackends(Napi::Env env, Napi::Object exports) {
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  exports.Set("arch", Napi::String::New(env, CpuArchName()));
}

}  // namespace evolver
