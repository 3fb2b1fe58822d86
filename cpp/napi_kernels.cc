// N-API surface of the kernels. Each call copies its arguments into a plain struct on the JS
// thread, keeps the buffers alive (mapped ones pinned and used in place, JS-heap ones as native
// copies: buffer_arg.h), runs on a libuv worker thread that drives the thread pool, and settles
// a Promise: it rejects when a mapping it used faulted (FILE_CHANGED / NO_SPACE, naming the
// file) or its output was detached meanwhile (EDETACHED). No N-API call happens off the JS thread.
#include <napi.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "buffer_arg.h"
#include "cuda_api.h"
#include "device_tensor.h"
#include "kernels/dispatch.h"
#include "kernels/philox.h"
#include "napi_exports.h"
#include "thread_pool.h"

namespace evolver {
namespace {

class KernelWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  KernelWorker(Napi::Env env, std::vector<BufferArg> buffers, Work work, Result result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), buffers_(std::move(buffers)), work_(std::move(work)), result_(std::move(result)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Error error;
    const bool ok = SettleBuffers(env, Pointers(buffers_), &error);
    for (auto& b : buffers_) b.Release();
    if (!ok) return deferred_.Reject(error.Value());
    deferred_.Resolve(result_ ? result_(env) : env.Undefined());
  }
  void OnError(const Napi::Error& e) override {
    // A faulted mapping explains a failure better than the failure itself.
    for (auto& b : buffers_) {
      if (b.faulted()) {
        Napi::Error fault = b.FaultError(Env());
        for (auto& r : buffers_) r.Release();
        return deferred_.Reject(fault.Value());
      }
    }
    for (auto& b : buffers_) b.Release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<BufferArg> buffers_;
  Work work_;
  Result result_;
};

// ---- argument readers (TypeScript validates; these guard) ----

Napi::Object OptionsArg(const Napi::CallbackInfo& info, const char* fn) {
  EVOLVER_GUARD(info.Env(), info.Length() >= 1 && info[0].IsObject(), "EINVAL", std::string(fn) + "(options): options must be an object");
  return info[0].As<Napi::Object>();
}

std::string StringOpt(Napi::Object o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  EVOLVER_GUARD(o.Env(), v.IsString(), "EINVAL", std::string(key) + " must be a string");
  return v.As<Napi::String>();
}

double NumberOpt(Napi::Object o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  EVOLVER_GUARD(o.Env(), v.IsNumber(), "EINVAL", std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

uint64_t U64Opt(Napi::Object o, const char* key, uint64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    EVOLVER_GUARD(o.Env(), lossless, "ERANGE", std::string(key) + " must fit in 64 unsigned bits");
    return r;
  }
  EVOLVER_GUARD(o.Env(), v.IsNumber(), "EINVAL", std::string(key) + " must be a number or a bigint");
  const double d = v.As<Napi::Number>().DoubleValue();
  EVOLVER_GUARD(o.Env(), d >= 0 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<uint64_t>(d)), "ERANGE",
                std::string(key) + " must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

DType DTypeOpt(Napi::Object o, const char* key) {
  const std::string s = StringOpt(o, key, "");
  DType t;
  EVOLVER_GUARD(o.Env(), ParseDType(s, &t) && t != DType::F64, "EDTYPE", std::string(key) + ": kernels compute on F32, F16 and BF16, not '" + s + "'");
  return t;
}

// Where a call runs: the CPU tables, or CUDA on host buffers (staged) or on DeviceTensors.
struct Target {
  RunOptions run;
  bool cuda = false;
  int resident = -1;  // -1: no buffer seen yet; 0: host buffers; 1: DeviceTensors
};

RunOptions RunOpts(Napi::Object o) {
  RunOptions r;
  r.threads = static_cast<int>(NumberOpt(o, "threads", 0));
  r.chunk = U64Opt(o, "chunk", 0);
  const std::string backend = StringOpt(o, "backend", "auto");
  r.table = TableFor(backend);
  EVOLVER_GUARD(o.Env(), r.table != nullptr, "EBACKEND", "backend '" + backend + "' is not available on this CPU");
  return r;
}

Target TargetOpts(Napi::Object o) {
  Target t;
  t.run = RunOpts(o);
  const std::string device = StringOpt(o, "device", "cpu");
  EVOLVER_GUARD(o.Env(), device == "cpu" || device == "cuda", "EINVAL", "device must be 'cpu' or 'cuda', not '" + device + "'");
  if (device == "cuda") {
    std::string why;
    if (!cuda::Available(&why)) ThrowCoded(o.Env(), "ENOCUDA", "the cuda backend is not available: " + why);
    t.cuda = true;
  }
  return t;
}

// Captures buffer `key` and checks it holds at least n elements of `dtype`. With CUDA it may
// be a DeviceTensor instead (all buffers of a call must then be).
const void* BufferOpt(Napi::Object o, const char* key, DType dtype, uint64_t n, std::vector<BufferArg>* keep, Target* target = nullptr,
                      BufferArg::Use use = BufferArg::Use::kRead) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  EVOLVER_GUARD(env, !v.IsUndefined() && !v.IsNull(), "EINVAL", std::string(key) + " is required");
  DeviceTensor* dev = DeviceTensor::Unwrap(v);
  const int resident = dev != nullptr ? 1 : 0;
  if (target != nullptr) {
    EVOLVER_GUARD(env, resident == 0 || target->cuda, "EINVAL", std::string(key) + ": a DeviceTensor needs device: 'cuda'");
    EVOLVER_GUARD(env, target->resident < 0 || target->resident == resident, "EINVAL", std::string(key) + ": mixes DeviceTensors and host buffers in one call");
    target->resident = resident;
  } else {
    EVOLVER_GUARD(env, dev == nullptr, "EINVAL", std::string(key) + ": a DeviceTensor is not accepted here");
  }
  if (dev != nullptr) {
    EVOLVER_GUARD(env, dev->ptr() != nullptr, "ECLOSED", std::string(key) + ": the DeviceTensor is freed");
    EVOLVER_GUARD(env, dev->bytes() / DTypeSize(dtype) >= n, "ERANGE",
                  std::string(key) + ": " + std::to_string(dev->bytes()) + " bytes is too short for " + std::to_string(n) + " elements");
    return dev->ptr();
  }
  BufferArg b = BufferArg::From(env, v, key, use, n * DTypeSize(dtype));
  EVOLVER_GUARD(env, b.length() / DTypeSize(dtype) >= n, "ERANGE",
                std::string(key) + ": " + std::to_string(b.length()) + " bytes is too short for " + std::to_string(n) + " elements");
  const void* p = b.data();
  keep->push_back(std::move(b));
  return p;
}

// An output argument: every kernel writes all n elements of it (an element crossover leaves
// alone is copied from the target), so a JS-heap output is not copied in, only back.
const void* OutOpt(Napi::Object o, const char* key, DType dtype, uint64_t n, std::vector<BufferArg>* keep, Target* target) {
  return BufferOpt(o, key, dtype, n, keep, target, BufferArg::Use::kOverwrite);
}

// The JS memory behind a pointer BufferOpt returned (which may be a native copy of it).
const void* Origin(const std::vector<BufferArg>& keep, const void* p) {
  for (const auto& b : keep)
    if (b.data() == p && p != nullptr) return b.origin();
  return p;
}

// Input and output ranges may be the same memory (in place) but must not partly overlap.
// Compared on the JS memory, not on the native copies the work may run on.
void GuardOverlap(Napi::Env env, const std::vector<BufferArg>& keep, const void* out, uint64_t out_bytes, const void* in, uint64_t in_bytes, bool same_dtype,
                  const char* name) {
  if (in == nullptr) return;
  out = Origin(keep, out);
  in = Origin(keep, in);
  const uint8_t *o = static_cast<const uint8_t*>(out), *i = static_cast<const uint8_t*>(in);
  const bool overlap = o < i + in_bytes && i < o + out_bytes;
  EVOLVER_GUARD(env, !overlap || (o == i && same_dtype), "EOVERLAP",
                std::string("out partly overlaps ") + name + " (only exact in-place with the same dtype is allowed)");
}

// A CUDA call's failure becomes the Promise's rejection.
void OrThrow(bool ok, const std::string& err) {
  if (!ok) throw std::runtime_error(err);
}

Napi::Value Queue(Napi::Env env, std::vector<BufferArg> keep, KernelWorker::Work work, KernelWorker::Result result = nullptr) {
  auto* w = new KernelWorker(env, std::move(keep), std::move(work), std::move(result));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---- kernels ----

// Points every buffer `offset` elements before its start and sets first = offset, so element
// e of the piece is element offset + e of the tensor. The kernel only touches [first, first + n).
DeArgs ShiftDe(DeArgs a, uint64_t offset) {
  const uint64_t back = offset * DTypeSize(a.dtype);
  auto shift = [back](const void* p) { return p == nullptr ? p : static_cast<const void*>(static_cast<const uint8_t*>(p) - back); };
  a.x = shift(a.x);
  a.a = shift(a.a);
  a.b = shift(a.b);
  a.c = shift(a.c);
  a.out = const_cast<void*>(shift(a.out));
  a.first = offset;
  return a;
}

// One de() call's arguments, read and checked on the JS thread (its buffers kept in `keep`).
// `ranges` gets the JS memory each buffer spans (out first), for checks across the calls of a
// batch; the returned args point at the piece's element 0 (ShiftDe) when it has an offset.
struct Range {
  const void* begin;
  uint64_t bytes;
};
DeArgs ParseDe(Napi::Env env, Napi::Object o, std::vector<BufferArg>* keep, Target* target, std::vector<Range>* ranges = nullptr) {
  DeArgs a;
  const std::string strategy = StringOpt(o, "strategy", "current/1");
  if (strategy == "current/1") a.strategy = Strategy::Current1;
  else if (strategy == "rand/1") a.strategy = Strategy::Rand1;
  else if (strategy == "best/1") a.strategy = Strategy::Best1;
  else if (strategy == "current-to-best/1") a.strategy = Strategy::CurrentToBest1;
  else if (strategy == "interp") a.strategy = Strategy::Interp;
  else ThrowCoded(env, "EINVAL", "unknown strategy '" + strategy + "'");
  const std::string gran = StringOpt(o, "granularity", "element");
  if (gran == "element") a.granularity = Granularity::Element;
  else if (gran == "row") a.granularity = Granularity::Row;
  else if (gran == "tensor") a.granularity = Granularity::Tensor;
  else ThrowCoded(env, "EINVAL", "unknown granularity '" + gran + "'");
  a.dtype = DTypeOpt(o, "dtype");
  a.n = U64Opt(o, "n", 0);
  a.row_length = U64Opt(o, "rowLength", 1);
  EVOLVER_GUARD(env, a.row_length > 0, "EINVAL", "rowLength must be positive");
  a.F = static_cast<float>(NumberOpt(o, "F", 0.5));
  a.CR = static_cast<float>(NumberOpt(o, "CR", 0.9));
  a.cr_threshold = ThresholdFor(a.CR);
  a.seed = U64Opt(o, "seed", 0);
  a.stream = U64Opt(o, "stream", 0);
  // The buffers may be a piece of a larger tensor starting at element `offset`: draws and
  // rows count from the tensor's start, so pieces of a tensor > 4 GiB give the same bits.
  const uint64_t offset = U64Opt(o, "offset", 0);
  *target = TargetOpts(o);
  a.x = BufferOpt(o, "x", a.dtype, a.n, keep, target);
  if (UsesAB(a.strategy)) {
    a.a = BufferOpt(o, "a", a.dtype, a.n, keep, target);
    a.b = BufferOpt(o, "b", a.dtype, a.n, keep, target);
  }
  if (UsesC(a.strategy)) a.c = BufferOpt(o, "c", a.dtype, a.n, keep, target);
  a.out = const_cast<void*>(OutOpt(o, "out", a.dtype, a.n, keep, target));
  const uint64_t bytes = a.n * DTypeSize(a.dtype);
  for (auto [p, name] : {std::pair{a.x, "x"}, {a.a, "a"}, {a.b, "b"}, {a.c, "c"}}) {
    GuardOverlap(env, *keep, a.out, bytes, p, bytes, std::string(name) == "x", name);
  }
  if (ranges != nullptr)
    for (const void* p : {static_cast<const void*>(a.out), a.x, a.a, a.b, a.c})
      if (p != nullptr) ranges->push_back({Origin(*keep, p), bytes});
  if (offset > 0) {
    EVOLVER_GUARD(env, !target->cuda, "EINVAL", "offset is not supported on the cuda backend yet");
    a = ShiftDe(a, offset);
  }
  return a;
}

Napi::Value De(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(info, "de");
  Target target;
  std::vector<BufferArg> keep;
  const DeArgs a = ParseDe(env, o, &keep, &target);
  return Queue(env, std::move(keep), [a, target] {
    std::string err;
    if (target.cuda) OrThrow(cuda::RunDe(a, target.resident == 1, &err), err);
    else RunDe(a, target.run);
  });
}

// deBatch([options, ...]): several de() calls (on the CPU, with the same backend, threads and
// chunk) as one piece of work: one thread-pool pass over every call's chunks, so the pool is
// not woken and drained once per tensor. Each call's bits are those of de() alone. An output
// may not overlap any buffer of another call (they run at the same time).
Napi::Value DeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsArray(), "EINVAL", "deBatch(calls): calls must be an array of de() options");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<BufferArg> keep;
  std::vector<DeArgs> calls;
  std::vector<std::vector<Range>> ranges(list.Length());
  RunOptions run;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value v = list.Get(i);
    const std::string which = "deBatch: calls[" + std::to_string(i) + "]";
    EVOLVER_GUARD(env, v.IsObject(), "EINVAL", which + " must be an object");
    Target target;
    try {
      calls.push_back(ParseDe(env, v.As<Napi::Object>(), &keep, &target, &ranges[i]));
    } catch (Napi::Error& e) {
      e.Set("message", Napi::String::New(env, which + ": " + e.Message()));  // which call of the batch
      throw;
    }
    EVOLVER_GUARD(env, !target.cuda, "EINVAL", which + ": a batch runs on the CPU (call de() for each tensor on cuda)");
    if (i == 0) run = target.run;
    EVOLVER_GUARD(env, target.run.table == run.table && target.run.threads == run.threads && target.run.chunk == run.chunk, "EINVAL",
                  which + ": every call of a batch must use the same backend, threads and chunk");
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].empty()) continue;
    const Range out = ranges[i][0];
    for (size_t j = 0; j < ranges.size(); ++j) {
      if (j == i) continue;
      for (const Range& r : ranges[j]) {
        if (out.bytes == 0 || r.bytes == 0) continue;  // an empty range overlaps nothing (as in de())
        const uint8_t *o = static_cast<const uint8_t*>(out.begin), *p = static_cast<const uint8_t*>(r.begin);
        EVOLVER_GUARD(env, !(o < p + r.bytes && p < o + out.bytes), "EOVERLAP",
                      "deBatch: the out of calls[" + std::to_string(i) + "] overlaps a buffer of calls[" + std::to_string(j) + "]");
      }
    }
  }
  return Queue(env, std::move(keep), [calls, run] { RunDeBatch(calls, run); });
}

/** Option `key` for model i: a number shared by all models, or an array with one per model. */
float PerModelNumber(Napi::Env env, const Napi::Object& o, const char* key, int i, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return static_cast<float>(fallback);
  if (v.IsArray()) {
    Napi::Value e = v.As<Napi::Array>().Get(static_cast<uint32_t>(i));
    EVOLVER_GUARD(env, e.IsNumber(), "EINVAL", std::string(key) + "[" + std::to_string(i) + "] must be a number");
    return static_cast<float>(e.As<Napi::Number>().DoubleValue());
  }
  EVOLVER_GUARD(env, v.IsNumber(), "EINVAL", std::string(key) + " must be a number or an array of numbers");
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

Napi::Value Merge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(info, "merge");
  MergeArgs m;
  const std::string kind = StringOpt(o, "kind", "linear");
  if (kind == "linear") m.kind = MergeKind::Linear;
  else if (kind == "task_arithmetic") m.kind = MergeKind::TaskArithmetic;
  else if (kind == "ties") m.kind = MergeKind::Ties;
  else if (kind == "fisher") m.kind = MergeKind::Fisher;
  else if (kind == "nearswap") m.kind = MergeKind::NearSwap;
  else if (kind == "ram") m.kind = MergeKind::Ram;
  else if (kind == "sce") m.kind = MergeKind::Sce;
  else ThrowCoded(env, "EINVAL", "unknown merge kind '" + kind + "'");
  const std::string sparsify = StringOpt(o, "sparsify", "none");
  if (sparsify == "none") m.sparsify = Sparsify::None;
  else if (sparsify == "magnitude") m.sparsify = Sparsify::Magnitude;
  else if (sparsify == "random") m.sparsify = Sparsify::Random;
  else if (sparsify == "magnitude_band") m.sparsify = Sparsify::MagnitudeBand;
  else if (sparsify == "della") m.sparsify = Sparsify::Della;
  else if (sparsify == "fusion") m.sparsify = Sparsify::Fusion;
  else ThrowCoded(env, "EINVAL", "unknown sparsify '" + sparsify + "'");
  EVOLVER_GUARD(env, (m.kind != MergeKind::Linear && m.kind != MergeKind::Fisher) || m.sparsify == Sparsify::None, "EINVAL", "linear and fisher merges have no base to sparsify against");
  m.in = DTypeOpt(o, "inDtype");
  m.out = DTypeOpt(o, "outDtype");
  m.n = U64Opt(o, "n", 0);
  m.lambda = static_cast<float>(NumberOpt(o, "lambda", 1.0));
  const std::string rescale = StringOpt(o, "rescale", "none");
  if (rescale == "none") m.rescale = Rescale::None;
  else if (rescale == "density") m.rescale = Rescale::Density;
  else if (rescale == "l1") m.rescale = Rescale::L1;
  else ThrowCoded(env, "EINVAL", "unknown rescale '" + rescale + "' (none, density or l1)");
  m.normalize = o.Get("normalize").IsUndefined() ? true : o.Get("normalize").ToBoolean().Value();
  m.seed = U64Opt(o, "seed", 0);
  m.t = static_cast<float>(NumberOpt(o, "t", 0.0));
  m.row_length = U64Opt(o, "rowLength", 0);
  m.ram_epsilon = static_cast<float>(NumberOpt(o, "ramEpsilon", 1e-5));
  m.ram_plus = o.Get("ramPlus").ToBoolean();
  m.ram_r = static_cast<float>(NumberOpt(o, "ramR", 0.1));
  m.ram_alpha = static_cast<float>(NumberOpt(o, "ramAlpha", 0.2));
  const uint64_t tensor_index = U64Opt(o, "tensorIndex", 0);
  Target target = TargetOpts(o);
  Napi::Value inputs = o.Get("inputs"), weights = o.Get("weights");
  EVOLVER_GUARD(env, inputs.IsArray() && weights.IsArray(), "EINVAL", "inputs and weights must be arrays");
  Napi::Array in = inputs.As<Napi::Array>(), w = weights.As<Napi::Array>();
  EVOLVER_GUARD(env, in.Length() >= 1 && in.Length() <= static_cast<uint32_t>(kMaxModels) && w.Length() == in.Length(), "EINVAL",
                "merge needs 1 to " + std::to_string(kMaxModels) + " inputs and one weight per input");
  m.models = static_cast<int>(in.Length());
  EVOLVER_GUARD(env, m.kind != MergeKind::NearSwap || m.models == 1, "EINVAL", "nearswap takes exactly one input besides the base");
  EVOLVER_GUARD(env, m.sparsify != Sparsify::Fusion || (m.models == 1 && m.kind == MergeKind::TaskArithmetic), "EINVAL", "arcee_fusion takes exactly one input besides the base");
  std::vector<BufferArg> keep;
  Napi::Object slots = Napi::Object::New(env);
  for (int i = 0; i < m.models; ++i) {
    const std::string key = "inputs[" + std::to_string(i) + "]";
    slots.Set(key, in.Get(static_cast<uint32_t>(i)));
    m.x[i] = BufferOpt(slots, key.c_str(), m.in, m.n, &keep, &target);
    Napi::Value wi = w.Get(static_cast<uint32_t>(i));
    EVOLVER_GUARD(env, wi.IsNumber(), "EINVAL", "weights[" + std::to_string(i) + "] must be a number");
    m.w[i] = static_cast<float>(wi.As<Napi::Number>().DoubleValue());
    m.stream[i] = static_cast<uint64_t>(i) * (uint64_t{1} << 20) + tensor_index;
    // density and gamma: one number for every model, or one per model.
    m.density[i] = PerModelNumber(env, o, "density", i, 1.0);
    m.gamma[i] = PerModelNumber(env, o, "gamma", i, 0.0);
    m.della_epsilon[i] = PerModelNumber(env, o, "dellaEpsilon", i, 0.0);
    m.keep_threshold[i] = ThresholdFor(m.density[i]);
    m.scale[i] = 1.0f;
  }
  if (m.kind == MergeKind::Fisher) {
    m.fisher_dtype = DTypeOpt(o, "fisherDtype");
    m.epsilon = static_cast<float>(NumberOpt(o, "epsilon", 1e-8));
    Napi::Value f = o.Get("fisher");
    EVOLVER_GUARD(env, f.IsArray() && f.As<Napi::Array>().Length() == in.Length(), "EINVAL", "fisher must hold one buffer per input");
    for (int i = 0; i < m.models; ++i) {
      const std::string key = "fisher[" + std::to_string(i) + "]";
      slots.Set(key, f.As<Napi::Array>().Get(static_cast<uint32_t>(i)));
      m.fisher[i] = BufferOpt(slots, key.c_str(), m.fisher_dtype, m.n, &keep, &target);
    }
  } else if (m.kind != MergeKind::Linear) {
    m.base = BufferOpt(o, "base", m.in, m.n, &keep, &target);
  }
  m.dst = const_cast<void*>(OutOpt(o, "out", m.out, m.n, &keep, &target));
  const uint64_t in_bytes = m.n * DTypeSize(m.in), out_bytes = m.n * DTypeSize(m.out);
  for (int i = 0; i < m.models; ++i) GuardOverlap(env, keep, m.dst, out_bytes, m.x[i], in_bytes, m.in == m.out, "an input");
  GuardOverlap(env, keep, m.dst, out_bytes, m.base, in_bytes, m.in == m.out, "base");
  return Queue(env, std::move(keep), [m, target] {
    std::string err;
    if (target.cuda) OrThrow(cuda::RunMerge(m, target.resident == 1, &err), err);
    else RunMerge(m, target.run);
  });
}

Napi::Value Convert(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(info, "convert");
  ConvertArgs c;
  c.in = DTypeOpt(o, "inDtype");
  c.out = DTypeOpt(o, "outDtype");
  c.n = U64Opt(o, "n", 0);
  Target target = TargetOpts(o);
  std::vector<BufferArg> keep;
  c.src = BufferOpt(o, "src", c.in, c.n, &keep, &target);
  c.dst = const_cast<void*>(OutOpt(o, "out", c.out, c.n, &keep, &target));
  GuardOverlap(env, keep, c.dst, c.n * DTypeSize(c.out), c.src, c.n * DTypeSize(c.in), c.in == c.out, "src");
  return Queue(env, std::move(keep), [c, target] {
    std::string err;
    if (target.cuda) OrThrow(cuda::RunConvert(c, target.resident == 1, &err), err);
    else RunConvert(c, target.run);
  });
}

Napi::Value Slerp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(info, "slerp");
  const DType in = DTypeOpt(o, "inDtype"), out = DTypeOpt(o, "outDtype");
  const uint64_t n = U64Opt(o, "n", 0);
  const float t = static_cast<float>(NumberOpt(o, "t", 0.5));
  Target target = TargetOpts(o);
  std::vector<BufferArg> keep;
  const void* x = BufferOpt(o, "x", in, n, &keep, &target);
  const void* y = BufferOpt(o, "y", in, n, &keep, &target);
  void* dst = const_cast<void*>(OutOpt(o, "out", out, n, &keep, &target));
  GuardOverlap(env, keep, dst, n * DTypeSize(out), x, n * DTypeSize(in), in == out, "x");
  GuardOverlap(env, keep, dst, n * DTypeSize(out), y, n * DTypeSize(in), in == out, "y");
  auto plan = std::make_shared<SlerpPlan>();
  return Queue(
      env, std::move(keep),
      [=] {
        if (!target.cuda) return void(RunSlerp(x, y, dst, in, out, n, t, target.run, plan.get()));
        // The reductions run where the data are; the coefficients on the host, as on the CPU.
        std::string err;
        ReduceArgs r;
        r.dtype = in;
        r.n = n;
        r.dot = true;
        auto dot = [&](const void* p, const void* q) {
          r.x = p;
          r.y = q;
          if (target.resident != 1) return RunReduce(r, target.run).dot;
          ReduceResult res;
          OrThrow(cuda::RunReduce(r, &res, &err), err);
          return res.dot;
        };
        const double xy = dot(x, y), xx = dot(x, x), yy = dot(y, y);
        *plan = PlanSlerp(xy, xx, yy, t);
        const Mix2Args m = SlerpMix(*plan, x, y, dst, in, out, n);
        OrThrow(cuda::RunMix2(m, target.resident == 1, &err), err);
      },
      [plan](Napi::Env e) {
        Napi::Object r = Napi::Object::New(e);
        r.Set("lerp", plan->lerp);
        r.Set("cosine", plan->cosine);
        r.Set("c0", plan->c0);
        r.Set("c1", plan->c1);
        return r;
      });
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(info, "reduce");
  ReduceArgs r;
  r.dtype = DTypeOpt(o, "dtype");
  r.n = U64Opt(o, "n", 0);
  Target target = TargetOpts(o);
  std::vector<BufferArg> keep;
  r.x = BufferOpt(o, "x", r.dtype, r.n, &keep, &target);
  if (!o.Get("y").IsUndefined()) {
    r.y = BufferOpt(o, "y", r.dtype, r.n, &keep, &target);
    r.dot = true;
  }
  auto result = std::make_shared<ReduceResult>();
  return Queue(
      env, std::move(keep),
      [=] {
        std::string err;
        // Host data reduce on the CPU (the same bits); DeviceTensors on the GPU.
        if (target.cuda && target.resident == 1) OrThrow(cuda::RunReduce(r, result.get(), &err), err);
        else *result = RunReduce(r, target.run);
      },
      [result, dot = r.dot](Napi::Env e) {
        Napi::Object out = Napi::Object::New(e);
        if (dot) {
          out.Set("dot", result->dot);
          return out;
        }
        out.Set("nan", static_cast<double>(result->nan));
        out.Set("posInf", static_cast<double>(result->pos_inf));
        out.Set("negInf", static_cast<double>(result->neg_inf));
        out.Set("finite", static_cast<double>(result->finite));
        out.Set("min", result->any_finite ? Napi::Value(Napi::Number::New(e, result->min)) : e.Null());
        out.Set("max", result->any_finite ? Napi::Value(Napi::Number::New(e, result->max)) : e.Null());
        out.Set("sum", result->sum);
        out.Set("sumSquares", result->sum_squares);
        return out;
      });
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  EVOLVER_GUARD(info.Env(), info.Length() >= 1 && info[0].IsNumber(), "EINVAL", "setThreads(n)");
  const int n = static_cast<int>(info[0].As<Napi::Number>().Int32Value());
  ThreadPool::Global().SetDefaultThreads(n > 0 ? n : ThreadPool::HardwareThreads());
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ThreadPool::Global().default_threads()); }

Napi::Value KernelTableName(const Napi::CallbackInfo& info) {
  const std::string name = info.Length() >= 1 && info[0].IsString() ? std::string(info[0].As<Napi::String>()) : "auto";
  const KernelTable* t = TableFor(name);
  return t == nullptr ? info.Env().Null() : Napi::Value(Napi::String::New(info.Env(), t->name));
}

// Philox words, for known-answer tests: philox(seed, stream, draw0, count) -> Uint32Array.
Napi::Value Philox(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = OptionsArg(info, "philox");
  const uint64_t seed = U64Opt(o, "seed", 0), stream = U64Opt(o, "stream", 0), first = U64Opt(o, "first", 0), count = U64Opt(o, "count", 4);
  EVOLVER_GUARD(env, count <= (1u << 24), "ERANGE", "count is at most 2^24");
  Napi::Uint32Array out = Napi::Uint32Array::New(env, count);
  for (uint64_t i = 0; i < count; ++i) out[i] = PhiloxDraw(seed, stream, first + i);
  return out;
}

Napi::Value PhiloxBlockJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 6, "EINVAL", "philoxBlock(c0, c1, c2, c3, k0, k1)");
  uint32_t v[6];
  for (int i = 0; i < 6; ++i) v[i] = info[i].As<Napi::Number>().Uint32Value();
  const Philox4 r = PhiloxBlock(v[0], v[1], v[2], v[3], v[4], v[5]);
  Napi::Uint32Array out = Napi::Uint32Array::New(env, 4);
  for (int i = 0; i < 4; ++i) out[i] = r.v[i];
  return out;
}

}  // namespace

void InitKernels(Napi::Env env, Napi::Object exports) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("de", Napi::Function::New(env, De, "de"));
  k.Set("deBatch", Napi::Function::New(env, DeBatch, "deBatch"));
  k.Set("merge", Napi::Function::New(env, Merge, "merge"));
  k.Set("convert", Napi::Function::New(env, Convert, "convert"));
  k.Set("slerp", Napi::Function::New(env, Slerp, "slerp"));
  k.Set("reduce", Napi::Function::New(env, Reduce, "reduce"));
  k.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  k.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  k.Set("tableName", Napi::Function::New(env, KernelTableName, "tableName"));
  k.Set("philox", Napi::Function::New(env, Philox, "philox"));
  k.Set("philoxBlock", Napi::Function::New(env, PhiloxBlockJs, "philoxBlock"));
  exports.Set("kernels", k);
}

}  // namespace evolver
