// Element-wise work over [0, n) in fixed chunks spread over a pool: which thread runs a chunk
// never changes what it computes, and per-chunk sums can be added in chunk order.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "util/integer_math.h"
#include "util/thread_pool.h"

namespace qsim {

// Chunks small enough that two threads split a layer's weights nearly evenly, ...
constexpr int64_t kElementChunk = 1024;  // a multiple of kLiveBlock
// ... and a thread is handed at least this many: a hand-off (the weights' data moving to the
// other core's cache with it) costs microseconds. Measured on AdaRound's steps at two threads
// (docs/PERFORMANCE.md): 4608 weights (5 chunks) 40 % faster split than on one thread; 2048
// and 2304 weights (2 and 3 chunks) faster or slower split by layer, so they stay on one.
constexpr int64_t kMinChunksPerThread = 2;
// Work units (matrix products) go to another thread only with at least this many
// floating-point operations each.
constexpr double kMinFlopsPerThread = 4e6;

inline int64_t element_chunks(int64_t n) {
  return ceil_div(n, kElementChunk);
}

// fn(chunk, begin, end) for every chunk of [0, n).
template <typename Fn>
void for_element_chunks(ThreadPool& pool, int64_t n, const Fn& fn) {
  pool.parallel_for(
      element_chunks(n),
      [&](int64_t first, int64_t last) {
        for (int64_t c = first; c < last; ++c)
          fn(c, c * kElementChunk, std::min(n, (c + 1) * kElementChunk));
      },
      kMinChunksPerThread);
}

// dst[i] = sum over parts of part[i], parts added in order.
inline void sum_in_order(ThreadPool& pool, const std::vector<const float*>& parts, int64_t n,
                         float* dst) {
  for_element_chunks(pool, n, [&](int64_t, int64_t begin, int64_t end) {
    std::copy(parts[0] + begin, parts[0] + end, dst + begin);
    for (size_t p = 1; p < parts.size(); ++p)
      for (int64_t i = begin; i < end; ++i) dst[i] += parts[p][i];
  });
}

inline double sum_in_order(const std::vector<double>& parts) {
  double sum = 0.0;
  for (double part : parts) sum += part;
  return sum;
}

// Independent partial sums per reduction: the compiler vectorizes them, and their number (not
// the thread count) fixes the order of additions.
constexpr int kSumLanes = 16;

// term(i) for i in [0, n) added into kSumLanes partial sums of type T, term i into lane
// i % kSumLanes.
template <typename T = float, typename Term>
std::array<T, kSumLanes> lane_sums(int64_t n, const Term& term) {
  std::array<T, kSumLanes> lanes{};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) lanes[j] += term(i + j);
  for (int j = 0; i < n; ++i, ++j) lanes[j] += term(i);
  return lanes;
}

// The lanes of lane_sums() added in lane order, in double.
template <typename T>
double lane_total(const std::array<T, kSumLanes>& lanes) {
  double sum = 0.0;
  for (T lane : lanes) sum += lane;
  return sum;
}

// Elements kept[0], kept[1], ... (ascending) of `elements` as its elements 0, 1, ...
template <typename T>
void keep_elements(std::vector<T>& elements, const std::vector<int32_t>& kept) {
  for (size_t j = 0; j < kept.size(); ++j) elements[j] = elements[static_cast<size_t>(kept[j])];
  elements.resize(kept.size());
}

// Weights whose gradient a caller needs are named in blocks of this many consecutive ones
// (WeightParameters::live_blocks(), ReconstructionLoss::evaluate()).
constexpr int64_t kLiveBlock = 16;

// A chunk of the element passes holds whole live blocks.
static_assert(kElementChunk % kLiveBlock == 0);

inline int64_t live_block_count(int64_t n) {
  return ceil_div(n, kLiveBlock);
}

// The min_chunk for ThreadPool::parallel_for over tasks of `task_flops` each.
inline int64_t tasks_per_thread(double task_flops) {
  return std::max<int64_t>(1, static_cast<int64_t>(kMinFlopsPerThread / std::max(task_flops, 1.0)));
}

}  // namespace qsim
