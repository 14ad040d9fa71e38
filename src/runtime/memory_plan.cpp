#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace qsim {

std::vector<size_t> assign_offsets(const std::vector<Lifetime>& lifetimes, size_t* total_bytes) {
  std::vector<size_t> order(lifetimes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lifetimes[a].bytes > lifetimes[b].bytes; });
  std::vector<size_t> offsets(lifetimes.size(), 0);
  std::vector<size_t> placed;
  size_t total = 0;
  for (size_t v : order) {
    const Lifetime& lv = lifetimes[v];
    // Busy memory ranges of live buffers, sorted by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t p : placed) {
      const Lifetime& lp = lifetimes[p];
      if (lp.first <= lv.last && lv.first <= lp.last) busy.push_back({offsets[p], offsets[p] + lp.bytes});
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + lv.bytes <= begin) break;
      offset = std::max(offset, end);
    }
    offsets[v] = offset;
    total = std::max(total, offset + lv.bytes);
    placed.push_back(v);
  }
  *total_bytes = total;
  return offsets;
}

}  // namespace qsim
