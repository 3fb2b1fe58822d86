// One Init function per exported family; addon.cc registers them in one table.
#pragma once
#include <napi.h>

#include <memory>

namespace evolver {

struct AddonData {
  Napi::FunctionReference* mapped_file_ctor = nullptr;
  ~AddonData() { delete mapped_file_ctor; }
};

void InitMappedFile(Napi::Env env, Napi::Object exports);
void InitBackends(Napi::Env env, Napi::Object exports);
void InitKernels(Napi::Env env, Napi::Object exports);
void InitStream(Napi::Env env, Napi::Object exports);
void InitCuda(Napi::Env env, Napi::Object exports);
void InitNll(Napi::Env env, Napi::Object exports);
void InitFs(Napi::Env env, Napi::Object exports);
void InitHash(Napi::Env env, Napi::Object exports);
void InitRegmean(Napi::Env env, Napi::Object exports);

}  // namespace evolver
