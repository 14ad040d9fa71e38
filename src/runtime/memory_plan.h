// Offsets for activation buffers in one arena, so values whose lifetimes do not overlap
// share memory.
#pragma once

#include <cstddef>
#include <vector>

namespace qsim {

struct Lifetime {
  size_t first = 0;  // step that produces the value
  size_t last = 0;   // last step that reads it (inclusive)
  size_t bytes = 0;  // already aligned
};

// Greedy by size: the largest buffers are placed first, each at the lowest offset free of
// every placed buffer that is alive at the same time. Returns one offset per lifetime.
std::vector<size_t> assign_offsets(const std::vector<Lifetime>& lifetimes, size_t* total_bytes);

}  // namespace qsim
