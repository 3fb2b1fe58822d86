// Several ranges cut into fixed-size chunks, one range after another, numbered 0..count()-1
// across all of them: one thread-pool pass can then cover a batch of tensors (RunDeBatch) or of
// buffers (hashChunks). Memory is one entry per range, not per chunk (a tiny chunk size costs
// nothing here); Locate() is a binary search.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace evolver {

class ChunkIndex {
 public:
  // `sizes[i]`: range i's length, in the same unit as `chunk` (> 0). An empty range has no chunk.
  ChunkIndex(const std::vector<uint64_t>& sizes, uint64_t chunk) : chunk_(chunk), first_(sizes.size() + 1, 0) {
    for (size_t i = 0; i < sizes.size(); ++i) first_[i + 1] = first_[i] + (sizes[i] + chunk - 1) / chunk;
  }
  uint64_t count() const { return first_.back(); }
  // Chunk k is range `range`, from `begin` (its chunks are [first[i], first[i + 1]) of all).
  struct Place {
    size_t range;
    uint64_t begin;
  };
  Place Locate(uint64_t k) const {
    const size_t i = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), k) - first_.begin()) - 1;
    return {i, (k - first_[i]) * chunk_};
  }

 private:
  uint64_t chunk_;
  std::vector<uint64_t> first_;
};

}  // namespace evolver
