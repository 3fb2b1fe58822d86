// Content hashing at memory speed, for the checksums of offspring (journal, fitness cache,
// resume). A buffer is cut into fixed-size chunks counted from its start; each chunk gets an
// XXH64 digest (seed 0; Yann Collet's xxHash64, written here from its specification), computed
// on the kernel thread pool. Chunk boundaries do not depend on the thread count, so neither do
// the digests; the caller combines them in order (lib/evolve/content-hash.ts).
//   hashChunks(buffer | buffers[], chunkBytes, threads) -> Promise<BigUint64Array> (one digest
//   per chunk; several buffers: each chunked from its own start, digests in buffer order)
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "buffer_arg.h"
#include "chunk_index.h"
#include "napi_exports.h"
#include "thread_pool.h"

namespace evolver {
namespace {

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kP3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kP5 = 0x27D4EB2F165667C5ULL;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t Read64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian hosts only (x86-64, arm64): the addon builds for those
  return v;
}
inline uint32_t Read32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Round(uint64_t acc, uint64_t input) { return Rotl(acc + input * kP2, 31) * kP1; }
inline uint64_t MergeRound(uint64_t acc, uint64_t val) { return (acc ^ Round(0, val)) * kP1 + kP4; }

uint64_t Xxh64(const uint8_t* p, uint64_t len, uint64_t seed) {
  const uint8_t* end = p + len;
  uint64_t h;
  if (len >= 32) {
    uint64_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
    const uint8_t* limit = end - 32;
    do {
      v1 = Round(v1, Read64(p));
      v2 = Round(v2, Read64(p + 8));
      v3 = Round(v3, Read64(p + 16));
      v4 = Round(v4, Read64(p + 24));
      p += 32;
    } while (p <= limit);
    h = Rotl(v1, 1) + Rotl(v2, 7) + Rotl(v3, 12) + Rotl(v4, 18);
    h = MergeRound(h, v1);
    h = MergeRound(h, v2);
    h = MergeRound(h, v3);
    h = MergeRound(h, v4);
  } else {
    h = seed + kP5;
  }
  h += len;
  while (end - p >= 8) {
    h ^= Round(0, Read64(p));
    h = Rotl(h, 27) * kP1 + kP4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= static_cast<uint64_t>(Read32(p)) * kP1;
    h = Rotl(h, 23) * kP2 + kP3;
    p += 4;
  }
  while (p < end) {
    h ^= (*p) * kP5;
    h = Rotl(h, 11) * kP1;
    ++p;
  }
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

// Hashes every chunk of one or more buffers in one pool pass: a trial's tensors together, so
// that the pool is woken once per trial rather than once per tensor (129 tensors at 0.75 B).
class HashWorker : public Napi::AsyncWorker {
 public:
  HashWorker(Napi::Env env, std::vector<BufferArg> data, uint64_t chunk, int threads)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), data_(std::move(data)), chunk_(chunk), threads_(threads) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      std::vector<uint64_t> sizes;
      for (const BufferArg& d : data_) sizes.push_back(d.length());
      const ChunkIndex chunks(sizes, chunk_);
      digests_.assign(chunks.count(), 0);
      ThreadPool::Global().ParallelFor(chunks.count(), threads_, [&](uint64_t k, int) {
        const ChunkIndex::Place at = chunks.Locate(k);
        const BufferArg& d = data_[at.range];
        digests_[k] = Xxh64(d.data() + at.begin, std::min(chunk_, d.length() - at.begin), 0);
      });
    } catch (const std::exception& e) {
      SetError(std::string("hashChunks: ") + e.what());  // e.g. bad_alloc: never an abort
    }
  }
  void OnOK() override {
    Napi::Error error;
    std::vector<BufferArg*> all;
    for (BufferArg& d : data_) all.push_back(&d);
    const bool ok = SettleBuffers(Env(), all, &error);
    for (BufferArg& d : data_) d.Release();
    if (!ok) return deferred_.Reject(error.Value());
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(Env(), digests_.size() * 8);
    if (!digests_.empty()) std::memcpy(ab.Data(), digests_.data(), digests_.size() * 8);
    deferred_.Resolve(Napi::BigUint64Array::New(Env(), digests_.size(), ab, 0));
  }
  void OnError(const Napi::Error& e) override {
    for (BufferArg& d : data_) d.Release();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<BufferArg> data_;
  uint64_t chunk_;
  int threads_;
  std::vector<uint64_t> digests_;
};

Napi::Value HashChunks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 3 && info[1].IsNumber() && info[2].IsNumber(), "EINVAL", "hashChunks(buffer or buffers, chunkBytes, threads)");
  const double chunk = info[1].As<Napi::Number>().DoubleValue();
  EVOLVER_GUARD(env, chunk >= 1 && chunk <= 4294967296.0 && chunk == static_cast<double>(static_cast<uint64_t>(chunk)), "ERANGE", "hashChunks: chunkBytes must be an integer in [1, 4 GiB]");
  std::vector<BufferArg> data;
  if (info[0].IsArray()) {
    Napi::Array list = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) data.push_back(BufferArg::From(env, list.Get(i), "buffers[" + std::to_string(i) + "]"));
  } else {
    data.push_back(BufferArg::From(env, info[0], "buffer"));
  }
  const int threads = std::max(1, info[2].As<Napi::Number>().Int32Value());
  auto* w = new HashWorker(env, std::move(data), static_cast<uint64_t>(chunk), threads);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// xxh64(buffer, seed): one digest, synchronously (tests and small buffers).
Napi::Value Xxh64Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 1, "EINVAL", "xxh64(buffer)");
  BufferArg data = BufferArg::From(env, info[0], "buffer");
  return Napi::BigInt::New(env, Xxh64(data.data(), data.length(), 0));
}

}  // namespace

void InitHash(Napi::Env env, Napi::Object exports) {
  exports.Set("hashChunks", Napi::Function::New(env, HashChunks, "hashChunks"));
  exports.Set("xxh64", Napi::Function::New(env, Xxh64Sync, "xxh64"));
}

}  // namespace evolver
