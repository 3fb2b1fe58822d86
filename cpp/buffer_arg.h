// A JS buffer argument captured on the JS thread for native work off it.
//
// What native work may touch after the JS thread moved on:
// - Buffers over our own memory (views of a mapped file, allocate()d native memory) are used
//   in place, zero-copy: the mapping is pinned (a close() during the work defers the unmap)
//   and held by a shared_ptr (the ArrayBuffer's finalizer only drops its own reference), and
//   such external buffers cannot be transferred (structuredClone/postMessage clone them).
// - Any other buffer (the JS heap) can be detached while the work runs (transferred with
//   structuredClone or postMessage, then collected), which frees its memory: a reference to
//   the ArrayBuffer object does not keep the backing store alive. So the work runs on a
//   native copy; an output is copied back on completion only when its buffer is still
//   attached at the same address with room for it, else the call rejects with EDETACHED
//   naming the argument. An input that is detached meanwhile is harmless (a snapshot).
//   An output the work overwrites entirely (Use::kOverwrite: every kernel output, for the
//   `written` bytes the call computes) is not copied in, only back.
// - Use::kSync borrows the memory without a copy, for calls that finish before returning.
#pragma once
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <sys/mman.h>

#include "guard.h"
#include "mapping.h"

namespace evolver {

// Memory for native copies of JS-heap buffers: 64-byte aligned; large ones are their own
// anonymous mapping with transparent huge pages requested (a fresh 256 MiB copy otherwise costs
// 65536 page faults, more than the copy itself).
struct CopyMemory {
  static constexpr uint64_t kLarge = uint64_t{4} << 20;
  static uint8_t* Allocate(uint64_t bytes) {
    if (bytes < kLarge) return static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
    ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return static_cast<uint8_t*>(p);
  }
  static void Release(uint8_t* p, uint64_t bytes) {
    if (p == nullptr) return;
    if (bytes < kLarge) std::free(p);
    else ::munmap(p, bytes);
  }
};

struct CopyFree {
  uint64_t bytes = 0;
  void operator()(uint8_t* p) const { CopyMemory::Release(p, bytes); }
};

class BufferArg {
 public:
  enum class Use { kRead, kWrite, kOverwrite, kSync };

  BufferArg() = default;
  BufferArg(const BufferArg&) = delete;
  BufferArg& operator=(const BufferArg&) = delete;
  BufferArg(BufferArg&&) = default;
  BufferArg& operator=(BufferArg&&) = default;
  ~BufferArg() { Release(); }

  // Accepts an ArrayBuffer, a TypedArray or a DataView. `name` appears in errors.
  // kOverwrite: the work writes every byte of [0, written) and reads none of it first; bytes
  // past `written` are left as they are.
  static BufferArg From(Napi::Env env, Napi::Value v, const std::string& name, Use use = Use::kRead, uint64_t written = 0) {
    BufferArg b;
    Napi::ArrayBuffer ab;
    size_t offset = 0, length = 0;
    if (v.IsArrayBuffer()) {
      ab = v.As<Napi::ArrayBuffer>();
      length = ab.ByteLength();
    } else if (v.IsTypedArray()) {
      Napi::TypedArray t = v.As<Napi::TypedArray>();
      ab = t.ArrayBuffer();
      offset = t.ByteOffset();
      length = t.ByteLength();
    } else if (v.IsDataView()) {
      Napi::DataView d = v.As<Napi::DataView>();
      ab = d.ArrayBuffer();
      offset = d.ByteOffset();
      length = d.ByteLength();
    } else {
      ThrowCoded(env, "EINVAL", name + ": expected an ArrayBuffer or a typed array");
    }
    EVOLVER_GUARD(env, !ab.IsDetached(), "EDETACHED", name + ": the buffer is detached (its file was closed)");
    uint8_t* data = static_cast<uint8_t*>(ab.Data());
    EVOLVER_GUARD(env, data != nullptr || length == 0, "EDETACHED", name + ": the buffer has no memory");
    b.name_ = name;
    b.use_ = use;
    b.origin_ = data == nullptr ? nullptr : data + offset;
    b.offset_ = offset;
    b.data_ = b.origin_;
    b.length_ = length;
    b.written_ = use == Use::kOverwrite ? std::min<uint64_t>(written, length) : length;
    b.keep_ = Napi::Persistent(static_cast<Napi::Object>(ab));
    if (b.origin_ == nullptr || length == 0) return b;
    b.pin_ = FindMapping(b.origin_, b.length_);
    if (b.pin_) {
      EVOLVER_GUARD(env, b.pin_->open() || b.pin_->anonymous(), "ECLOSED", name + ": its mapped file is closed");
      b.pin_->Pin();
      return b;
    }
    if (use == Use::kSync) return b;
    // JS-heap memory: work on a copy.
    uint8_t* copy = CopyMemory::Allocate(length);
    EVOLVER_GUARD(env, copy != nullptr, "ENOMEM", name + ": cannot allocate a native copy of " + std::to_string(length) + " bytes");
    b.copy_ = std::unique_ptr<uint8_t, CopyFree>(copy, CopyFree{length});
    b.data_ = copy;
    copies_.fetch_add(1, std::memory_order_relaxed);
    if (use == Use::kOverwrite) {
      // Bytes past `written` are not computed: they must come back as they were.
      if (b.written_ < length) std::memcpy(copy + b.written_, b.origin_ + b.written_, length - b.written_);
      copy_bytes_.fetch_add(b.written_, std::memory_order_relaxed);  // counted once, for the copy back
    } else {
      std::memcpy(copy, b.origin_, length);
      copy_bytes_.fetch_add(length, std::memory_order_relaxed);
    }
    return b;
  }

  // On the JS thread once the work is done: whether the call may resolve. If not, `error` is
  // what to reject with: FILE_CHANGED / NO_SPACE for a mapping that faulted (naming the file),
  // EDETACHED for an output whose buffer was detached, moved or shrunk (naming the argument).
  bool Check(Napi::Env env, Napi::Error* error) const {
    if (faulted()) {
      *error = FaultError(env);
      return false;
    }
    if (copy_ && writes() && !StillAttached()) {
      *error = CodedError(env, "EDETACHED", name_ + ": the buffer was detached or transferred while the native call ran; its result was discarded");
      return false;
    }
    return true;
  }

  // Whether the mapping behind the buffer faulted (sigbus.h), and the typed error naming its file.
  bool faulted() const { return pin_ && pin_->faulted(); }
  Napi::Error FaultError(Napi::Env env) const {
    const MapError e = pin_->FaultError();
    return CodedError(env, e.code, name_ + ": " + e.message, pin_->display(), e.defect + " (read or written as " + name_ + ")");
  }

  // Copies an output computed on a copy back into its JS buffer (after Check() passed).
  void CopyBack() {
    if (copy_ && writes() && StillAttached()) std::memcpy(origin_, copy_.get(), written_);
  }

  // Must run on the JS thread (OnOK / OnError / destructor there).
  void Release() {
    if (pin_) {
      pin_->Unpin();
      pin_.reset();
    }
    if (!keep_.IsEmpty()) keep_.Reset();
    copy_.reset();
  }

  // Where native work reads or writes (the copy, for JS-heap buffers).
  uint8_t* data() const { return data_; }
  // The JS-visible memory (for overlap checks between arguments).
  const uint8_t* origin() const { return origin_; }
  uint64_t length() const { return length_; }
  bool copied() const { return static_cast<bool>(copy_); }
  const std::string& name() const { return name_; }

  static uint64_t Copies() { return copies_.load(); }
  static uint64_t CopyBytes() { return copy_bytes_.load(); }

 private:
  bool writes() const { return use_ == Use::kWrite || use_ == Use::kOverwrite; }

  bool StillAttached() const {
    if (keep_.IsEmpty()) return false;
    Napi::Value v = keep_.Value();
    if (!v.IsArrayBuffer()) return false;
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    if (ab.IsDetached() || ab.Data() == nullptr) return false;
    return static_cast<uint8_t*>(ab.Data()) + offset_ == origin_ && ab.ByteLength() >= offset_ + length_;
  }

  std::string name_;
  Use use_ = Use::kRead;
  uint8_t* data_ = nullptr;
  uint8_t* origin_ = nullptr;
  size_t offset_ = 0;
  uint64_t length_ = 0;
  uint64_t written_ = 0;
  Napi::ObjectReference keep_;
  std::shared_ptr<Mapping> pin_;
  std::unique_ptr<uint8_t, CopyFree> copy_;

  static inline std::atomic<uint64_t> copies_{0};
  static inline std::atomic<uint64_t> copy_bytes_{0};
};

// Settles the buffers of finished native work on the JS thread: false (and the first error)
// when a mapping faulted or an output cannot be copied back; else copies every output back.
// Nothing is copied back unless every buffer passed.
inline bool SettleBuffers(Napi::Env env, const std::vector<BufferArg*>& buffers, Napi::Error* error) {
  for (const BufferArg* b : buffers)
    if (!b->Check(env, error)) return false;
  for (BufferArg* b : buffers) b->CopyBack();
  return true;
}

inline std::vector<BufferArg*> Pointers(std::vector<BufferArg>& buffers) {
  std::vector<BufferArg*> out;
  out.reserve(buffers.size());
  for (auto& b : buffers) out.push_back(&b);
  return out;
}

}  // namespace evolver
