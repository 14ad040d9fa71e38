// Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops: parsing of
// kernel_shape, strides, pads, dilations, auto_pad and ceil_mode, output sizes, loops over
// window taps, and how the work is spread over threads.
//
// 1-D and 2-D windows are stored as 3-D ones with leading dimensions of size 1, so a single
// loop nest serves every spatial rank without heap-allocated shape vectors in run().
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "graph/graph.h"
#include "runtime/kernel.h"
#include "tensor/shape.h"

namespace qsim {

constexpr int kMaxSpatialRank = 3;
using SpatialDims = std::array<int64_t, kMaxSpatialRank>;

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// A node's window attributes, checked at load time. Empty lists mean the defaults, whose
// length depends on the input rank.
struct WindowAttributes {
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  // all begins, then all ends
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
};

// The largest window attribute (kernel size, stride, dilation, pad, output padding) and input
// spatial size a window accepts: larger ones are kInvalidArgument / kShape naming the node, so
// that the geometry's arithmetic never overflows (docs/LIMITS.md).
constexpr int64_t kMaxWindowValue = int64_t{1} << 30;

WindowAttributes parse_window_attributes(const Node& node);

// A window sliding over an `in` grid (padded by pad_begin/pad_end) and placed at `out`
// positions: tap k of output position o reads input o * stride - pad_begin + k * dilation.
// ConvTranspose uses the geometry of its adjoint convolution, so there `in` is the
// ConvTranspose output and `out` its input.
struct WindowGeometry {
  int rank = 0;  // spatial rank of the op, 1 to 3
  SpatialDims in{1, 1, 1};
  SpatialDims out{1, 1, 1};
  SpatialDims kernel{1, 1, 1};
  SpatialDims stride{1, 1, 1};
  SpatialDims dilation{1, 1, 1};
  SpatialDims pad_begin{0, 0, 0};
  SpatialDims pad_end{0, 0, 0};

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  // Output "rows" are (d, h) pairs; each holds out[2] positions.
  int64_t out_rows() const { return out[0] * out[1]; }
  // Input index of tap k of output position o along dimension `dim` (may lie in padding).
  int64_t input_index(int dim, int64_t o, int64_t k) const {
    return o * stride[dim] - pad_begin[dim] + k * dilation[dim];
  }
  // Spatial sizes as they appear in the op's tensors (without the padding dimensions).
  Shape out_shape() const;
  Shape in_shape() const;
};

// Geometry of a Conv or pool over `x_shape` (N, C, spatial...) with the given spatial kernel.
// Throws kShape when the window does not fit or attribute lengths disagree with the rank.
// Allocation-free unless it throws, so run() can recompute it cheaply.
WindowGeometry forward_window(const Node& node, const WindowAttributes& attrs, const Shape& x_shape,
                              std::span<const int64_t> kernel);

// Geometry of the convolution adjoint to a ConvTranspose over `x_shape`; `output_shape` (the
// spatial output sizes) may be empty.
WindowGeometry transpose_window(const Node& node, const WindowAttributes& attrs,
                                const Shape& x_shape, std::span<const int64_t> kernel,
                                std::span<const int64_t> output_padding,
                                std::span<const int64_t> output_shape);

// Throws kUnsupported unless `x_shape` has 1 to kMaxSpatialRank spatial dimensions.
void check_spatial_rank(const Node& node, const Shape& x_shape);

struct IndexRange {
  int64_t begin;
  int64_t end;
  int64_t size() const { return end - begin; }
};

// The positions o in [0, count) with 0 <= o * step + offset < limit: the output positions of
// one kernel tap that read real input, or the taps of one output position that do.
inline IndexRange inside_range(int64_t count, int64_t step, int64_t offset, int64_t limit) {
  int64_t begin = offset >= 0 ? 0 : (-offset + step - 1) / step;
  int64_t end = offset >= limit ? 0 : (limit - 1 - offset) / step + 1;
  begin = std::min(begin, count);
  end = std::max(begin, std::min(end, count));
  return {begin, end};
}

// Visits every (kernel tap, output row) pair whose input row lies inside the input, taps
// outermost so that each tap's column range is worked out once per plane:
// visit(out_row, input_row, tap, inside, offset) with rows flattened (d, h) pairs, `tap` the
// flattened (kd, kh, kw) index, and output positions ow in `inside` of the row reading input
// column ow * stride[2] + offset. For one output position, taps come in increasing order.
template <typename Visit>
void for_each_tap_row(const WindowGeometry& g, Visit&& visit) {
  int64_t tap = 0;
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
    const int64_t offset_d = g.input_index(0, 0, kd);
    const IndexRange rows_d = inside_range(g.out[0], g.stride[0], offset_d, g.in[0]);
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
      const int64_t offset_h = g.input_index(1, 0, kh);
      const IndexRange rows_h = inside_range(g.out[1], g.stride[1], offset_h, g.in[1]);
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw, ++tap) {
        const int64_t offset_w = g.input_index(2, 0, kw);
        const IndexRange inside = inside_range(g.out[2], g.stride[2], offset_w, g.in[2]);
        if (inside.size() == 0) continue;
        for (int64_t od = rows_d.begin; od < rows_d.end; ++od) {
          const int64_t input_plane_row = (od * g.stride[0] + offset_d) * g.in[1] + offset_h;
          for (int64_t oh = rows_h.begin; oh < rows_h.end; ++oh)
            visit(od * g.out[1] + oh, input_plane_row + oh * g.stride[1], tap, inside, offset_w);
        }
      }
    }
  }
}

// dst[i] = src[i * stride] for i in [0, n), with unit and double strides spelled out so that
// they vectorize. Written as a loop rather than memcpy: the rows copied here are short, where
// a library call costs more than the copy.
template <typename T>
inline void copy_strided(T* dst, const T* src, int64_t n, int64_t stride) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else if (stride == 2) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[2 * i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
  }
}

// ----- Spreading window work over the pool's threads -----

// Threads are woken only for at least this many multiply-adds (or comparisons) each: waking
// one costs tens of microseconds.
constexpr int64_t kMinOpsPerThread = int64_t{1} << 20;

// Asks for `bytes_per_thread` of scratch for each pool thread, for run_tasks.
void request_thread_scratch(InferContext& ctx, size_t bytes_per_thread);

// The number of threads worth waking for `count` tasks of `ops_per_task` each.
int64_t threads_for(const RunContext& ctx, int64_t count, int64_t ops_per_task);

// Base and slice size of the per-thread scratch; throws kInternal when the workspace is
// smaller than request_thread_scratch asked for.
std::byte* thread_scratch(const RunContext& ctx, int64_t threads, size_t bytes_per_thread,
                          size_t* slice_bytes);

// pool.parallel_for(n, fn, min_chunk) without a heap allocation per call: std::function
// stores a lambda holding a single reference in place.
template <typename Fn>
void parallel_for_in_place(ThreadPool& pool, int64_t n, const Fn& fn, int64_t min_chunk = 1) {
  pool.parallel_for(
      n, [&fn](int64_t first, int64_t last) { fn(first, last); }, min_chunk);
}

// Runs task(t, scratch) for every t in [0, count), spread over threads_for() threads, each
// with its own scratch slice of `scratch_bytes` that prepare(scratch) sets up before the
// thread's first task. Tasks are fixed by the caller, so which thread runs one never changes
// its result.
template <typename Prepare, typename Task>
void run_tasks(RunContext& ctx, int64_t count, int64_t ops_per_task, size_t scratch_bytes,
               Prepare&& prepare, Task&& task) {
  const int64_t threads = threads_for(ctx, count, ops_per_task);
  size_t slice = 0;
  std::byte* base = thread_scratch(ctx, threads, scratch_bytes, &slice);
  parallel_for_in_place(ctx.pool(), threads, [&](int64_t first, int64_t last) {
    for (int64_t s = first; s < last; ++s) {
      const int64_t begin = count * s / threads, end = count * (s + 1) / threads;
      if (begin < end) prepare(base + s * slice);
      for (int64_t t = begin; t < end; ++t) task(t, base + s * slice);
    }
  });
}

// run_tasks for scratch that needs no setup.
template <typename Task>
void run_tasks(RunContext& ctx, int64_t count, int64_t ops_per_task, size_t scratch_bytes,
               Task&& task) {
  run_tasks(
      ctx, count, ops_per_task, scratch_bytes, [](std::byte*) {}, task);
}

}  // namespace qsim
