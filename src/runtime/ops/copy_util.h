// Helpers shared by the data-movement kernels (shape.cpp, tensor.cpp). Copies work on element
// sizes rather than dtypes, so every qsim dtype goes through the same code.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/kernel.h"

namespace qsim::copy_util {

// Elements moved per parallel chunk at least; below this, threading costs more than it saves.
constexpr int64_t kMinParallelElements = 1 << 15;

// Calls fn(T{}) with the unsigned integer type as wide as one element, so typed loops can move
// elements of any dtype.
template <typename Fn>
void with_element_type(size_t element_size, Fn&& fn) {
  switch (element_size) {
    case 1:
      fn(uint8_t{});
      return;
    case 4:
      fn(uint32_t{});
      return;
    case 8:
      fn(uint64_t{});
      return;
    default:
      fail(ErrorCode::kInternal, "no element type of " + std::to_string(element_size) + " bytes");
  }
}

// Normalizes possibly negative `axes` for `rank`; kInvalidArgument naming the node when one is
// out of range or repeated.
inline std::vector<int64_t> normalize_unique_axes(const Node& node, std::vector<int64_t> axes,
                                                  int64_t rank) {
  for (int64_t& a : axes) a = normalize_axis(a, rank, node.label());
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  require_node(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), node,
               ErrorCode::kInvalidArgument, "axes " + shape_to_string(axes) + " repeat an axis");
  return axes;
}

// Copies all bytes of `in` into `out` (same byte size): ops that only change the shape.
inline void copy_bytes(const Tensor& in, Tensor& out) {
  if (in.byte_size() > 0 && in.raw() != out.raw()) std::memcpy(out.raw(), in.raw(), in.byte_size());
}

// Marks an output position that takes the fill value instead of a source element.
constexpr int64_t kFill = -1;

// Per axis, the source offset (in elements) of each output index, or kFill.
using AxisOffsets = std::vector<std::vector<int64_t>>;

// A gather whose source position is separable per axis: output element (i0, i1, ..., ik) is
// the source element at offset axis_offsets[0][i0] + ... + axis_offsets[k][ik] (in elements),
// or `fill` (one element) when any of those is kFill. axis_offsets[d] has one entry per output
// index of axis d, so this expresses Slice, Transpose, Gather, Pad and nearest Resize alike.
inline void gather_by_axis_offsets(const void* src, void* dst, const AxisOffsets& axis_offsets,
                                   size_t element_size, const void* fill, ThreadPool& pool) {
  if (axis_offsets.empty()) {  // a scalar
    std::memcpy(dst, src, element_size);
    return;
  }
  const size_t rank = axis_offsets.size();
  const std::vector<int64_t>& inner = axis_offsets.back();
  const int64_t row_length = static_cast<int64_t>(inner.size());
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= static_cast<int64_t>(axis_offsets[d].size());
  if (rows == 0 || row_length == 0) return;
  // A row whose inner offsets are consecutive is one memcpy; one without fills needs no test
  // per element.
  const bool inner_fills = std::find(inner.begin(), inner.end(), kFill) != inner.end();
  bool contiguous_inner = !inner_fills;
  for (int64_t i = 1; contiguous_inner && i < row_length; ++i)
    contiguous_inner = inner[i] == inner[0] + i;

  with_element_type(element_size, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(src);
    T* out = static_cast<T*>(dst);
    T fill_value{};
    if (fill != nullptr) std::memcpy(&fill_value, fill, sizeof(T));
    pool.parallel_for(
        rows,
        [&](int64_t begin, int64_t end) {
          // Odometer over the outer axes, started at row `begin`.
          std::vector<int64_t> index(rank - 1, 0);
          for (int64_t r = begin, d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
            const int64_t extent = static_cast<int64_t>(axis_offsets[d].size());
            index[d] = r % extent;
            r /= extent;
          }
          for (int64_t row = begin; row < end; ++row) {
            int64_t base = 0;
            bool fill_row = false;
            for (size_t d = 0; d + 1 < rank; ++d) {
              const int64_t offset = axis_offsets[d][index[d]];
              fill_row = fill_row || offset == kFill;
              base += offset;
            }
            T* out_row = out + row * row_length;
            if (fill_row) {
              std::fill(out_row, out_row + row_length, fill_value);
            } else if (contiguous_inner) {
              std::memcpy(out_row, in + base + inner[0], row_length * sizeof(T));
            } else if (inner_fills) {
              const T* in_row = in + base;
              for (int64_t i = 0; i < row_length; ++i)
                out_row[i] = inner[i] == kFill ? fill_value : in_row[inner[i]];
            } else {
              const T* in_row = in + base;
              for (int64_t i = 0; i < row_length; ++i) out_row[i] = in_row[inner[i]];
            }
            for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
              if (++index[d] < static_cast<int64_t>(axis_offsets[d].size())) break;
              index[d] = 0;
            }
          }
        },
        std::max<int64_t>(1, kMinParallelElements / row_length));
  });
}

// The factory of a kernel class constructed as K(node, opset).
template <typename K>
KernelFactory factory() {
  return [](const Node& node, int64_t opset) -> std::unique_ptr<Kernel> {
    return std::make_unique<K>(node, opset);
  };
}

}  // namespace qsim::copy_util
