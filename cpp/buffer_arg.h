// A JS buffer argument captured on the JS thread for native work off it: the raw range,
// a reference that keeps the JS object alive, and a pin on the mapping behind it (so a
// close() during the work defers the unmap until the work is done).
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "guard.h"
#include "mapping.h"

namespace evolver {

class BufferArg {
 public:
  BufferArg() = default;
  BufferArg(const BufferArg&) = delete;
  BufferArg& operator=(const BufferArg&) = delete;
  BufferArg(BufferArg&&) = default;
  BufferArg& operator=(BufferArg&&) = default;
  ~BufferArg() { Release(); }

  // Accepts an ArrayBuffer, a TypedArray or a DataView. `name` appears in errors.
  static BufferArg From(Napi::Env env, Napi::Value v, const std::string& name) {
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
    b.data_ = data == nullptr ? nullptr : data + offset;
    b.length_ = length;
    b.keep_ = Napi::Persistent(static_cast<Napi::Object>(ab));
    if (b.data_ != nullptr) {
      b.pin_ = FindMapping(b.data_, b.length_);
      if (b.pin_) {
        EVOLVER_GUARD(env, b.pin_->open(), "ECLOSED", name + ": its mapped file is closed");
        b.pin_->Pin();
      }
    }
    return b;
  }

  // Must run on the JS thread (OnOK / OnError / destructor there).
  void Release() {
    if (pin_) {
      pin_->Unpin();
      pin_.reset();
    }
    if (!keep_.IsEmpty()) keep_.Reset();
  }

  uint8_t* data() const { return data_; }
  uint64_t length() const { return length_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t length_ = 0;
  Napi::ObjectReference keep_;
  std::shared_ptr<Mapping> pin_;
};

}  // namespace evolver
