// N-API surface of Mapping: external ArrayBuffers over mapped regions, detached on close.
#include <napi.h>

#include <memory>
#include <vector>

#include "buffer_arg.h"
#include "guard.h"
#include "mapping.h"
#include "napi_exports.h"
#include "sigbus.h"

namespace evolver {
namespace {

// Node 20 aborts on external ArrayBuffers above 4 GiB; larger regions are split in JS.
constexpr uint64_t kMaxViewBytes = uint64_t{1} << 32;

class MappedFile : public Napi::ObjectWrap<MappedFile> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "MappedFile",
                       {
                           StaticMethod("openReadOnly", &MappedFile::OpenReadOnly),
                           StaticMethod("create", &MappedFile::Create),
                           StaticMethod("createMemory", &MappedFile::CreateMemory),
                           InstanceMethod("region", &MappedFile::Region),
                           InstanceMethod("advise", &MappedFile::Advise),
                           InstanceMethod("flush", &MappedFile::Flush),
                           InstanceMethod("flushAsync", &MappedFile::FlushAsync),
                           InstanceMethod("close", &MappedFile::Close),
                           InstanceMethod("faulted", &MappedFile::Faulted),
                           InstanceMethod("checkIntact", &MappedFile::CheckIntact),
                           InstanceMethod("address", &MappedFile::Address),
                           InstanceAccessor("size", &MappedFile::Size, nullptr),
                           InstanceAccessor("writable", &MappedFile::Writable, nullptr),
                           InstanceAccessor("closed", &MappedFile::Closed, nullptr),
                           InstanceAccessor("path", &MappedFile::Path, nullptr),
                       });
  }

  explicit MappedFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappedFile>(info) {
    // Constructed only from OpenReadOnly / Create, which pass the mapping as an External.
    EVOLVER_GUARD(info.Env(), info.Length() == 1 && info[0].IsExternal(), "EINVAL",
                  "MappedFile cannot be constructed directly; use openReadOnly() or create()");
    auto* holder = info[0].As<Napi::External<std::shared_ptr<Mapping>>>().Data();
    mapping_ = *holder;
  }

  ~MappedFile() override = default;  // buffers still alive keep the mapping via their own refs

 private:
  static Napi::Value Wrap(Napi::Env env, std::shared_ptr<Mapping> mapping) {
    Napi::FunctionReference* ctor = env.GetInstanceData<AddonData>()->mapped_file_ctor;
    RegisterMapping(mapping);
    std::shared_ptr<Mapping> holder = std::move(mapping);
    return ctor->New({Napi::External<std::shared_ptr<Mapping>>::New(env, &holder)});
  }

  static Napi::Value OpenReadOnly(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsString(), "EINVAL", "openReadOnly(path): path must be a string");
    auto m = std::make_shared<Mapping>();
    MapError err;
    if (!Mapping::OpenReadOnly(info[0].As<Napi::String>(), m.get(), &err)) ThrowCoded(env, err.code, err.message);
    return Wrap(env, std::move(m));
  }

  static Napi::Value Create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EVOLVER_GUARD(env, info.Length() >= 3 && info[0].IsString() && info[1].IsNumber() && info[2].IsString() && (info.Length() < 4 || info[3].IsUndefined() || info[3].IsString()),
                  "EINVAL", "create(path, size, space, label?): expected (string, number, 'sparse' | 'check' | 'reserve', string?)");
    const std::string space_name = info[2].As<Napi::String>();
    Mapping::Space space;
    if (space_name == "sparse") space = Mapping::Space::kSparse;
    else if (space_name == "check") space = Mapping::Space::kCheck;
    else if (space_name == "reserve") space = Mapping::Space::kReserve;
    else ThrowCoded(env, "EINVAL", "create(): space must be 'sparse', 'check' or 'reserve'");
    double size = info[1].As<Napi::Number>().DoubleValue();
    EVOLVER_GUARD(env, size >= 0 && size <= 9007199254740991.0 && size == static_cast<double>(static_cast<uint64_t>(size)),
                  "EINVAL", "create(): size must be a non-negative integer");
    auto m = std::make_shared<Mapping>();
    MapError err;
    if (!Mapping::Create(info[0].As<Napi::String>(), static_cast<uint64_t>(size), space, m.get(), &err))
      ThrowCoded(env, err.code, err.message);
    if (info.Length() >= 4 && info[3].IsString()) m->set_label(info[3].As<Napi::String>());
    return Wrap(env, std::move(m));
  }

  // createMemory(size, label): a memfd of `size` bytes mapped read-write; path() is
  // /proc/self/fd/<fd> while it is open, so openReadOnly(path) maps the same memory again.
  static Napi::Value CreateMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EVOLVER_GUARD(env, info.Length() >= 2 && info[0].IsNumber() && info[1].IsString(), "EINVAL", "createMemory(size, label): expected (number, string)");
    double size = info[0].As<Napi::Number>().DoubleValue();
    EVOLVER_GUARD(env, size >= 0 && size <= 9007199254740991.0 && size == static_cast<double>(static_cast<uint64_t>(size)),
                  "EINVAL", "createMemory(): size must be a non-negative integer");
    auto m = std::make_shared<Mapping>();
    MapError err;
    const std::string label = info[1].As<Napi::String>();
    if (!Mapping::Memory(static_cast<uint64_t>(size), label, m.get(), &err)) ThrowCoded(env, err.code, err.message);
    m->set_label(label);
    return Wrap(env, std::move(m));
  }

  void RequireOpen(Napi::Env env) {
    EVOLVER_GUARD(env, mapping_ && mapping_->open(), "ECLOSED", "mapped file " + (mapping_ ? mapping_->path() : std::string()) + " is closed");
  }

  [[noreturn]] static void ThrowMap(Napi::Env env, const MapError& e, const std::string& file) { throw CodedError(env, e.code, e.message, file, e.defect); }

  void RequireIntact(Napi::Env env) {
    if (mapping_ && mapping_->faulted()) ThrowMap(env, mapping_->FaultError(), mapping_->display());
  }

  // Reads (offset, length) and checks both are integers inside the mapping.
  void ReadRange(const Napi::CallbackInfo& info, uint64_t* offset, uint64_t* length) {
    Napi::Env env = info.Env();
    EVOLVER_GUARD(env, info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber(), "EINVAL", "expected (offset, length) numbers");
    double o = info[0].As<Napi::Number>().DoubleValue();
    double l = info[1].As<Napi::Number>().DoubleValue();
    EVOLVER_GUARD(env, o >= 0 && l >= 0 && o == static_cast<double>(static_cast<uint64_t>(o)) && l == static_cast<double>(static_cast<uint64_t>(l)),
                  "ERANGE", "offset and length must be non-negative integers");
    *offset = static_cast<uint64_t>(o);
    *length = static_cast<uint64_t>(l);
    EVOLVER_GUARD(env, *offset <= mapping_->size() && *length <= mapping_->size() - *offset, "ERANGE",
                  "range [" + std::to_string(*offset) + ", +" + std::to_string(*length) + ") is outside " + mapping_->path() +
                      " (" + std::to_string(mapping_->size()) + " bytes)");
  }

  Napi::Value Region(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    RequireIntact(env);  // no new view of a file whose pages were replaced by zeros
    uint64_t offset, length;
    ReadRange(info, &offset, &length);
    EVOLVER_GUARD(env, length <= kMaxViewBytes, "ERANGE", "a view is at most 4 GiB; split larger regions");
    if (length == 0) return Napi::ArrayBuffer::New(env, 0);
    auto* keep = new std::shared_ptr<Mapping>(mapping_);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, mapping_->base() + offset, static_cast<size_t>(length),
        [](Napi::Env, void*, std::shared_ptr<Mapping>* hint) { delete hint; }, keep);
    Track(ab);
    return ab;
  }

  void Track(Napi::ArrayBuffer ab) {
    if (handed_out_.size() >= prune_at_) {
      std::vector<Napi::Reference<Napi::ArrayBuffer>> alive;
      for (auto& ref : handed_out_)
        if (!ref.IsEmpty() && !ref.Value().IsEmpty()) alive.push_back(std::move(ref));
      handed_out_ = std::move(alive);
      prune_at_ = std::max<size_t>(64, handed_out_.size() * 2);
    }
    handed_out_.push_back(Napi::Weak(ab));
  }

  Napi::Value Advise(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsString(), "EINVAL", "advise(hint, offset?, length?)");
    uint64_t offset = 0, length = mapping_->size();
    if (info.Length() >= 3) {
      Napi::CallbackInfo const& i = info;
      double o = i[1].As<Napi::Number>().DoubleValue(), l = i[2].As<Napi::Number>().DoubleValue();
      EVOLVER_GUARD(env, o >= 0 && l >= 0 && o + l <= static_cast<double>(mapping_->size()), "ERANGE", "advise range outside the file");
      offset = static_cast<uint64_t>(o);
      length = static_cast<uint64_t>(l);
    }
    MapError err;
    if (!mapping_->Advise(info[0].As<Napi::String>(), offset, length, &err)) ThrowMap(env, err, mapping_->display());
    return env.Undefined();
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    EVOLVER_GUARD(env, mapping_->writable(), "EREADONLY", mapping_->path() + " is mapped read-only");
    MapError err;
    if (!mapping_->Flush(&err)) ThrowMap(env, err, mapping_->display());
    return env.Undefined();
  }

  // msync + fsync on a libuv worker: flushing gigabytes must not block the event loop. The
  // mapping is pinned meanwhile, so a close() in between waits for the flush to finish.
  class FlushWorker : public Napi::AsyncWorker {
   public:
    FlushWorker(Napi::Env env, std::shared_ptr<Mapping> m) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), m_(std::move(m)) { m_->Pin(); }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      if (!m_->Flush(&err_)) SetError(err_.message);
    }
    void OnOK() override {
      m_->Unpin();
      deferred_.Resolve(Env().Undefined());
    }
    void OnError(const Napi::Error& e) override {
      m_->Unpin();
      deferred_.Reject(CodedError(Env(), err_.code, e.Message(), m_->display(), err_.defect).Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Mapping> m_;
    MapError err_;
  };

  Napi::Value FlushAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    EVOLVER_GUARD(env, mapping_->writable(), "EREADONLY", mapping_->path() + " is mapped read-only");
    auto* w = new FlushWorker(env, mapping_);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    // Detach first: after this, every view handed out reads as empty and native code
    // refuses it, so unmapping cannot leave a dangling pointer reachable from JS.
    for (auto& ref : handed_out_) {
      if (ref.IsEmpty()) continue;
      Napi::ArrayBuffer ab = ref.Value();
      if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    }
    handed_out_.clear();
    if (mapping_) mapping_->Close();
    // Never throws (it runs in finally blocks and disposers): says whether the mapping faulted.
    return Napi::Boolean::New(info.Env(), mapping_ && mapping_->faulted());
  }

  // Whether a SIGBUS in this mapping was repaired with zero pages (sticky, also after close).
  Napi::Value Faulted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mapping_ && mapping_->faulted()); }

  // Throws FILE_CHANGED / NO_SPACE (naming the file) when the mapping faulted; else nothing.
  Napi::Value CheckIntact(const Napi::CallbackInfo& info) {
    RequireIntact(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Address(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    uint64_t offset = info.Length() >= 1 ? static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()) : 0;
    EVOLVER_GUARD(env, offset <= mapping_->size(), "ERANGE", "address offset outside the file");
    return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(mapping_->base() + offset)));
  }

  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(mapping_->size())); }
  Napi::Value Writable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), mapping_->writable()); }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !mapping_->open()); }
  Napi::Value Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), mapping_->path()); }

  std::shared_ptr<Mapping> mapping_;
  std::vector<Napi::Reference<Napi::ArrayBuffer>> handed_out_;
  size_t prune_at_ = 64;
};

// allocate(bytes): zeroed native memory (an anonymous mapping) as an ArrayBuffer. Kernels use
// it in place like a mapped file (pinned while they run, no copy), and it cannot be transferred
// away (external buffers are cloned, not moved, by structuredClone/postMessage).
Napi::Value Allocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1 && info[0].IsNumber(), "EINVAL", "allocate(bytes): bytes must be a number");
  const double bytes = info[0].As<Napi::Number>().DoubleValue();
  EVOLVER_GUARD(env, bytes >= 0 && bytes <= static_cast<double>(kMaxViewBytes) && bytes == static_cast<double>(static_cast<uint64_t>(bytes)), "ERANGE",
                "allocate(bytes): bytes must be an integer in [0, 4 GiB]");
  if (bytes == 0) return Napi::ArrayBuffer::New(env, 0);
  auto m = std::make_shared<Mapping>();
  MapError err;
  if (!Mapping::Anonymous(static_cast<uint64_t>(bytes), m.get(), &err)) ThrowCoded(env, err.code, err.message);
  RegisterMapping(m);
  auto* keep = new std::shared_ptr<Mapping>(m);
  return Napi::ArrayBuffer::New(
      env, m->base(), m->size(), [](Napi::Env, void*, std::shared_ptr<Mapping>* hint) { delete hint; }, keep);
}

// Counters for tests and measurements: SIGBUS repairs, registered mappings, copies of JS-heap buffers.
Napi::Value NativeStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("sigbusRepaired", static_cast<double>(sigbus::Repaired()));
  o.Set("protectedMappings", sigbus::InUse());
  o.Set("bufferCopies", static_cast<double>(BufferArg::Copies()));
  o.Set("bufferCopyBytes", static_cast<double>(BufferArg::CopyBytes()));
  return o;
}

}  // namespace

void InitMappedFile(Napi::Env env, Napi::Object exports) {
  // The SIGBUS handler, once per process, when the addon loads (sigbus.h).
  sigbus::Install();
  exports.Set("allocate", Napi::Function::New(env, Allocate, "allocate"));
  exports.Set("nativeStats", Napi::Function::New(env, NativeStats, "nativeStats"));
  Napi::Function ctor = MappedFile::Define(env);
  env.GetInstanceData<AddonData>()->mapped_file_ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("MappedFile", ctor);
}

}  // namespace evolver
