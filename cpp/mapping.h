// A memory-mapped file, independent of N-API. Read-only opens map the file copy-on-write
// from a read-only descriptor (the file itself can never change through the mapping);
// created files are mapped shared and read-write so kernels fill them in place; anonymous
// ones are native-owned memory that kernels use without a copy (see Anonymous()).
//
// Every file mapping is in the SIGBUS registry (sigbus.h): a page that cannot be backed (the
// file shrank under a read mapping, the disk filled under a write mapping) becomes zeros
// instead of killing the process, and faulted() turns true for good.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace evolver {

struct MapError {
  std::string code;     // errno name (ENOENT, ENOSPC, ...) or an evolver code
  std::string message;  // names the file
  std::string defect;   // the message without the path (for errors that carry the file apart)
};

class Mapping {
 public:
  // Each returns nullptr-free Mapping or fills `err` and returns false.
  static bool OpenReadOnly(const std::string& path, Mapping* out, MapError* err);
  // How a created file makes sure the disk can hold it.
  enum class Space { kSparse = 0, kCheck = 1, kReserve = 2 };
  static bool Create(const std::string& path, uint64_t size, Space space, Mapping* out, MapError* err);
  // Anonymous zeroed memory owned by the mapping (no file, never faults): buffers that
  // native work uses in place, pinned like file mappings.
  static bool Anonymous(uint64_t size, Mapping* out, MapError* err);
  // A file in memory (memfd_create), mapped shared and read-write. Its path is
  // /proc/self/fd/<fd>, so the file can be opened again (OpenReadOnly) while this mapping
  // holds the descriptor: a trial slot that kernels write and evaluators read, never on disk.
  static bool Memory(uint64_t size, const std::string& label, Mapping* out, MapError* err);

  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { Unmap(); }

  bool Advise(const std::string& hint, uint64_t offset, uint64_t length, MapError* err);
  bool Flush(MapError* err);  // msync + fsync; writable mappings only; fails when faulted()
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
  bool anonymous() const { return anonymous_; }
  // Whether a SIGBUS in this mapping was repaired with zero pages (sticky; also after close).
  bool faulted() const;
  // The typed error for a faulted mapping, naming the file: FILE_CHANGED when the file is now
  // shorter than the mapping (truncated by someone else) or a read mapping could not be read,
  // NO_SPACE when a write mapping could not get a block (the disk filled up).
  MapError FaultError() const;
  bool open() const { return open_; }
  const std::string& path() const { return path_; }
  // The name errors about faults use: the file the mapping stands for (a writer's final path
  // rather than its temporary file), the path when not set.
  const std::string& display() const { return label_.empty() ? path_ : label_; }
  void set_label(const std::string& label) { label_ = label; }

 private:
  std::string path_;
  std::string label_;
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool writable_ = false;
  bool anonymous_ = false;
  bool open_ = false;
  int pins_ = 0;
  int slot_ = -1;  // SIGBUS registry slot while mapped
  bool faulted_latched_ = false;
  bool Protect(MapError* err);
  // Takes `fd` (already sized to `size`) as this mapping's file: maps it shared read-write and
  // registers it. Returns 0, an errno when mmap failed, or -1 when registering failed (`err` set).
  int MapSharedWritable(int fd, const std::string& path, uint64_t size, MapError* err);
  void Unmap();
};

// Every live mapping, so native work can pin the mapping behind a buffer it was given.
void RegisterMapping(const std::shared_ptr<Mapping>& m);
std::shared_ptr<Mapping> FindMapping(const void* p, uint64_t length);

std::string ErrnoName(int e);

}  // namespace evolver
