// scan(buffer, dtype) -> Promise<stats>, computed on a libuv worker thread.
#include <napi.h>

#include "buffer_arg.h"
#include "napi_exports.h"
#include "scan.h"

namespace evolver {
namespace {

class ScanWorker : public Napi::AsyncWorker {
 public:
  ScanWorker(Napi::Env env, BufferArg buffer, DType dtype)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), buffer_(std::move(buffer)), dtype_(dtype) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { stats_ = ScanScalar(buffer_.data(), buffer_.length() / DTypeSize(dtype_), dtype_); }

  void OnOK() override {
    Napi::Env env = Env();
    buffer_.Release();
    Napi::Object o = Napi::Object::New(env);
    o.Set("count", static_cast<double>(stats_.count));
    o.Set("nan", static_cast<double>(stats_.nan));
    o.Set("posInf", static_cast<double>(stats_.pos_inf));
    o.Set("negInf", static_cast<double>(stats_.neg_inf));
    o.Set("finite", static_cast<double>(stats_.count - stats_.nan - stats_.pos_inf - stats_.neg_inf));
    o.Set("min", stats_.any_finite ? Napi::Value(Napi::Number::New(env, stats_.min)) : env.Null());
    o.Set("max", stats_.any_finite ? Napi::Value(Napi::Number::New(env, stats_.max)) : env.Null());
    o.Set("sum", stats_.sum);
    o.Set("sumSquares", stats_.sum_squares);
    deferred_.Resolve(o);
  }

  void OnError(const Napi::Error& e) override {
    buffer_.Release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  BufferArg buffer_;
  DType dtype_;
  ScanStats stats_;
};

Napi::Value ScanJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 2 && info[1].IsString(), "EINVAL", "scan(buffer, dtype)");
  DType dtype;
  const std::string name = info[1].As<Napi::String>();
  EVOLVER_GUARD(env, ParseDType(name, &dtype), "EDTYPE", "scan: dtype " + name + " is not a floating-point type (F32, F16, BF16, F64)");
  BufferArg buffer = BufferArg::From(env, info[0], "scan buffer");
  EVOLVER_GUARD(env, buffer.length() % DTypeSize(dtype) == 0, "ERANGE", "scan: buffer length is not a multiple of the " + name + " size");
  auto* worker = new ScanWorker(env, std::move(buffer), dtype);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void InitScan(Napi::Env env, Napi::Object exports) { exports.Set("scan", Napi::Function::New(env, ScanJs, "scan")); }

}  // namespace evolver
