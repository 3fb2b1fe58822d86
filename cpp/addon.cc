// The native addon's registration table: one line per exported family.
#include <napi.h>

#include "napi_exports.h"

namespace evolver {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  InitMappedFile(env, exports);
  InitBackends(env, exports);
  InitKernels(env, exports);
  InitStream(env, exports);
  InitCuda(env, exports);
  InitNll(env, exports);
  InitFs(env, exports);
  InitHash(env, exports);
  InitRegmean(env, exports);
  return exports;
}

}  // namespace evolver

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return evolver::Init(env, exports); }

NODE_API_MODULE(evolver, InitAddon)
