// A memory-mapped file, independent of N-API. Read-only opens map the file copy-on-write
// from a read-only descriptor (the file itself can never change through the mapping);
// created files are mapped shared and read-write so kernels fill them in place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace evolver {

struct MapError {
  std::string code;     // errno name (ENOENT, ENOSPC, ...) or an evolver code
  std::string message;  // names the file
};

class Mapping {
 public:
  // Each returns nullptr-free Mapping or fills `err` and returns false.
  static bool OpenReadOnly(const std::string& path, Mapping* out, MapError* err);
  // How a created file makes sure the disk can hold it.
  enum class Space { kSparse = 0, kCheck = 1, kReserve = 2 };
  static bool Create(const std::string& path, uint64_t size, Space space, Mapping* out, MapError* err);

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { Unmap(); }

  bool Advise(const std::string& hint, uint64_t offset, uint64_t length, MapError* err);
  bool Flush(MapError* err);  // msync + fsync; writable mappings only
  // Closing while native work still reads the memory only marks the mapping closed; the
  // last Unpin() unmaps it. Pins are taken and released on the JS thread.
  void Close();
  // Pins may be taken on the JS thread and on a flush worker's completion (also the JS thread).
  void Pin() { ++pins_; }
  void Unpin() {
    if (--pins_ == 0 && !open_) Unmap();
  }
  bool Contains(const void* p, uint64_t length) const {
    const uint8_t* q = static_cast<const uint8_t*>(p);
    return base_ != nullptr && q >= base_ && q <= base_ + size_ && length <= static_cast<uint64_t>(base_ + size_ - q);
  }

  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  bool writable() const { return writable_; }
  bool open() const { return open_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool writable_ = false;
  bool open_ = false;
  int pins_ = 0;
  void Unmap();
};

// Every live mapping, so native work can pin the mapping behind a buffer it was given.
void RegisterMapping(const std::shared_ptr<Mapping>& m);
std::shared_ptr<Mapping> FindMapping(const void* p, uint64_t length);

std::string ErrnoName(int e);

}  // namespace evolver
