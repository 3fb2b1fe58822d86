// Token-level negative log-likelihood from a causal LM's logits, off the JS thread:
// nll({ logits: Float32Array [batch, seq, vocab], ids: Int32Array [batch, seq], lengths: Int32Array [batch], vocab })
//   -> Promise<{ sum, count, perSequence: Float64Array }>
// Position p of sequence b (p < length - 1) predicts ids[b][p + 1]; padding never counts.
// log-softmax in double: logsumexp(logits) - logit[target].
#include <napi.h>

#include <cmath>
#include <vector>

#include "buffer_arg.h"
#include "napi_exports.h"

namespace evolver {
namespace {

class NllWorker : public Napi::AsyncWorker {
 public:
  NllWorker(Napi::Env env, BufferArg logits, BufferArg ids, BufferArg lengths, uint64_t batch, uint64_t seq, uint64_t vocab)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), logits_(std::move(logits)), ids_(std::move(ids)),
        lengths_(std::move(lengths)), batch_(batch), seq_(seq), vocab_(vocab), per_(batch, 0.0) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const float* logits = reinterpret_cast<const float*>(logits_.data());
    const int32_t* ids = reinterpret_cast<const int32_t*>(ids_.data());
    const int32_t* lengths = reinterpret_cast<const int32_t*>(lengths_.data());
    for (uint64_t b = 0; b < batch_; ++b) {
      const int64_t len = lengths[b];
      if (len < 0 || static_cast<uint64_t>(len) > seq_) {
        SetError("lengths[" + std::to_string(b) + "] = " + std::to_string(len) + " is outside [0, " + std::to_string(seq_) + "]");
        return;
      }
      double seq_sum = 0;
      for (int64_t p = 0; p + 1 < len; ++p) {
        const float* row = logits + (b * seq_ + static_cast<uint64_t>(p)) * vocab_;
        const int32_t target = ids[b * seq_ + static_cast<uint64_t>(p) + 1];
        if (target < 0 || static_cast<uint64_t>(target) >= vocab_) {
          SetError("token id " + std::to_string(target) + " is outside the vocabulary of " + std::to_string(vocab_));
          return;
        }
        double mx = -INFINITY;
        for (uint64_t v = 0; v < vocab_; ++v) mx = std::max(mx, static_cast<double>(row[v]));
        double s = 0;
        for (uint64_t v = 0; v < vocab_; ++v) s += std::exp(static_cast<double>(row[v]) - mx);
        seq_sum += (mx + std::log(s)) - static_cast<double>(row[target]);
        ++count_;
      }
      per_[b] = seq_sum;
      sum_ += seq_sum;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Error error;
    const bool ok = SettleBuffers(env, {&logits_, &ids_, &lengths_}, &error);
    logits_.Release();
    ids_.Release();
    lengths_.Release();
    if (!ok) return deferred_.Reject(error.Value());
    Napi::Object o = Napi::Object::New(env);
    o.Set("sum", sum_);
    o.Set("count", static_cast<double>(count_));
    Napi::Float64Array per = Napi::Float64Array::New(env, batch_);
    for (uint64_t b = 0; b < batch_; ++b) per[b] = per_[b];
    o.Set("perSequence", per);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    logits_.Release();
    ids_.Release();
    lengths_.Release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  BufferArg logits_, ids_, lengths_;
  uint64_t batch_, seq_, vocab_;
  std::vector<double> per_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

Napi::Value Nll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsObject(), "EINVAL", "nll(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  const uint64_t vocab = static_cast<uint64_t>(o.Get("vocab").ToNumber().Int64Value());
  BufferArg logits = BufferArg::From(env, o.Get("logits"), "logits");
  BufferArg ids = BufferArg::From(env, o.Get("ids"), "ids");
  BufferArg lengths = BufferArg::From(env, o.Get("lengths"), "lengths");
  const uint64_t batch = lengths.length() / 4;
  EVOLVER_GUARD(env, vocab > 0 && batch > 0 && ids.length() % (4 * batch) == 0, "EINVAL", "nll: ids must be [batch, seq] int32 and vocab positive");
  const uint64_t seq = ids.length() / 4 / batch;
  EVOLVER_GUARD(env, logits.length() == batch * seq * vocab * 4, "ERANGE",
                "nll: logits hold " + std::to_string(logits.length() / 4) + " floats, expected batch x seq x vocab = " + std::to_string(batch * seq * vocab));
  auto* w = new NllWorker(env, std::move(logits), std::move(ids), std::move(lengths), batch, seq, vocab);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitNll(Napi::Env env, Napi::Object exports) { exports.Set("nll", Napi::Function::New(env, Nll, "nll")); }

}  // namespace evolver
