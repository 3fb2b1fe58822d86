// N-API surface of the CUDA backend: DeviceTensor (resident GPU buffers) and the device copy
// bandwidth for the benchmark. Kernels take `device: 'cuda'` in napi_kernels.cc.
#include <napi.h>

#include <string>

#include "buffer_arg.h"
#include "cuda_api.h"
#include "device_tensor.h"
#include "napi_exports.h"

namespace evolver {

static const napi_type_tag kDeviceTensorTag = {0x6576'6f6c'7665'7201ULL, 0x6465'7669'6365'0001ULL};

Napi::Function DeviceTensor::Define(Napi::Env env) {
  return DefineClass(env, "DeviceTensor",
                     {InstanceMethod("upload", &DeviceTensor::Upload), InstanceMethod("download", &DeviceTensor::Download),
                      InstanceMethod("free", &DeviceTensor::Free), InstanceAccessor("bytes", &DeviceTensor::Bytes, nullptr)});
}

DeviceTensor* DeviceTensor::Unwrap(Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(v.Env(), v, &kDeviceTensorTag, &tagged) != napi_ok || !tagged) return nullptr;
  return Napi::ObjectWrap<DeviceTensor>::Unwrap(v.As<Napi::Object>());
}

DeviceTensor::DeviceTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceTensor>(info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsNumber(), "EINVAL", "new DeviceTensor(bytes)");
  const double bytes = info[0].As<Napi::Number>().DoubleValue();
  EVOLVER_GUARD(env, bytes >= 0 && bytes <= 9007199254740991.0, "ERANGE", "DeviceTensor: bytes must be a non-negative integer");
  std::string err;
  if (!cuda::Alloc(static_cast<uint64_t>(bytes), &ptr_, &err)) ThrowCoded(env, "ECUDA", "DeviceTensor: " + err);
  bytes_ = static_cast<uint64_t>(bytes);
  napi_type_tag_object(env, info.This(), &kDeviceTensorTag);
}

DeviceTensor::~DeviceTensor() {
  if (ptr_ != nullptr) cuda::Free(ptr_);
}

Napi::Value DeviceTensor::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, ptr_ != nullptr, "ECLOSED", "DeviceTensor is freed");
  BufferArg src = BufferArg::From(env, info[0], "upload source", BufferArg::Use::kSync);
  EVOLVER_GUARD(env, src.length() == bytes_, "ERANGE", "upload: source has " + std::to_string(src.length()) + " bytes, the tensor " + std::to_string(bytes_));
  std::string err;
  if (!cuda::Upload(ptr_, src.data(), bytes_, &err)) ThrowCoded(env, "ECUDA", err);
  return env.Undefined();
}

Napi::Value DeviceTensor::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, ptr_ != nullptr, "ECLOSED", "DeviceTensor is freed");
  BufferArg dst = BufferArg::From(env, info[0], "download target", BufferArg::Use::kSync);
  EVOLVER_GUARD(env, dst.length() == bytes_, "ERANGE", "download: target has " + std::to_string(dst.length()) + " bytes, the tensor " + std::to_string(bytes_));
  std::string err;
  if (!cuda::Download(dst.data(), ptr_, bytes_, &err)) ThrowCoded(env, "ECUDA", err);
  return env.Undefined();
}

Napi::Value DeviceTensor::Free(const Napi::CallbackInfo& info) {
  if (ptr_ != nullptr) cuda::Free(ptr_);
  ptr_ = nullptr;
  return info.Env().Undefined();
}

Napi::Value DeviceTensor::Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(bytes_)); }

static Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  std::string why;
  const bool ok = cuda::Available(&why);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", ok);
  if (!ok) o.Set("reason", why);
  return o;
}

static Napi::Value CopyBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double gbps = 0;
  std::string err;
  const uint64_t bytes = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  if (!cuda::DeviceCopyGBps(bytes, 5, &gbps, &err)) ThrowCoded(env, "ECUDA", err);
  return Napi::Number::New(env, gbps);
}

void InitCuda(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("DeviceTensor", DeviceTensor::Define(env));
  c.Set("status", Napi::Function::New(env, CudaAvailable, "status"));
  c.Set("copyBandwidth", Napi::Function::New(env, CopyBandwidth, "copyBandwidth"));
  exports.Set("cuda", c);
}

}  // namespace evolver
