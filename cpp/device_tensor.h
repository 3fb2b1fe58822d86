// A buffer in GPU memory, owned by a JS object (kernels.DeviceTensor). The fast path for
// repeated trials: upload the population once, run kernels on it in place, download results.
#pragma once
#include <napi.h>

#include <cstdint>

namespace evolver {

class DeviceTensor : public Napi::ObjectWrap<DeviceTensor> {
 public:
  static Napi::Function Define(Napi::Env env);
  /** The DeviceTensor behind `v`, or nullptr when v is not one. */
  static DeviceTensor* Unwrap(Napi::Value v);

  explicit DeviceTensor(const Napi::CallbackInfo& info);
  ~DeviceTensor() override;

  void* ptr() const { return ptr_; }
  uint64_t bytes() const { return bytes_; }

 private:
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Free(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);

  void* ptr_ = nullptr;
  uint64_t bytes_ = 0;
};

}  // namespace evolver
