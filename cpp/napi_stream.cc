// A STREAM-like measure of this machine's memory bandwidth (McCalpin's copy and triad over
// double arrays, bytes counted as STREAM does), run on the same thread pool as the kernels,
// so kernel throughput can be stated as a fraction of it.
#include <napi.h>

#include <algorithm>
#include <chrono>

#include "buffer_arg.h"
#include "napi_exports.h"
#include "thread_pool.h"

namespace evolver {
namespace {

class StreamWorker : public Napi::AsyncWorker {
 public:
  StreamWorker(Napi::Env env, bool triad, BufferArg a, BufferArg b, BufferArg c, int threads, int reps)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), triad_(triad), a_(std::move(a)), b_(std::move(b)), c_(std::move(c)), threads_(threads), reps_(reps) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    double* a = reinterpret_cast<double*>(a_.data());
    const double* b = reinterpret_cast<const double*>(b_.data());
    const double* c = reinterpret_cast<const double*>(c_.data());
    const uint64_t n = a_.length() / 8;
    const uint64_t chunk = 1 << 16;
    const uint64_t chunks = (n + chunk - 1) / chunk;
    const double scalar = 3.0;
    for (int r = 0; r < reps_; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      ThreadPool::Global().ParallelFor(chunks, threads_, [&](uint64_t k, int) {
        const uint64_t begin = k * chunk, end = std::min(n, begin + chunk);
        if (triad_) {
          for (uint64_t i = begin; i < end; ++i) a[i] = b[i] + scalar * c[i];
        } else {
          for (uint64_t i = begin; i < end; ++i) a[i] = b[i];
        }
      });
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best_ = r == 0 ? s : std::min(best_, s);
    }
    bytes_ = static_cast<double>(n) * 8.0 * (triad_ ? 3.0 : 2.0);
  }
  void OnOK() override {
    Napi::Error error;
    const bool ok = SettleBuffers(Env(), {&a_, &b_, &c_}, &error);
    a_.Release();
    b_.Release();
    c_.Release();
    if (!ok) return deferred_.Reject(error.Value());
    Napi::Object o = Napi::Object::New(Env());
    o.Set("seconds", best_);
    o.Set("bytes", bytes_);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    a_.Release();
    b_.Release();
    c_.Release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  bool triad_;
  BufferArg a_, b_, c_;
  int threads_, reps_;
  double best_ = 0, bytes_ = 0;
};

// stream({ kind: 'copy' | 'triad', a, b, c, threads, reps }) -> Promise<{ seconds (best), bytes }>
Napi::Value Stream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsObject(), "EINVAL", "stream(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  const bool triad = o.Get("kind").ToString().Utf8Value() == "triad";
  BufferArg a = BufferArg::From(env, o.Get("a"), "a", BufferArg::Use::kWrite), b = BufferArg::From(env, o.Get("b"), "b"), c = BufferArg::From(env, o.Get("c"), "c");
  EVOLVER_GUARD(env, b.length() >= a.length() && c.length() >= a.length(), "ERANGE", "stream: b and c must be at least as long as a");
  const int threads = std::max(1, o.Get("threads").ToNumber().Int32Value());
  const int reps = std::max(1, o.Get("reps").ToNumber().Int32Value());
  auto* w = new StreamWorker(env, triad, std::move(a), std::move(b), std::move(c), threads, reps);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitStream(Napi::Env env, Napi::Object exports) { exports.Set("stream", Napi::Function::New(env, Stream, "stream")); }

}  // namespace evolver
