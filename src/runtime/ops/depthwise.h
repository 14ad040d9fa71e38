// Direct per-plane window kernels, where each output plane reads a single input plane:
// depthwise Conv and, with a max or a sum in place of the multiply-add, the pools. No im2col
// and no GEMM.
//
// The padded input plane is first split into stride phases (phase (a, b, c) holds the padded
// elements whose d, h, w are a, b, c modulo the strides), so that every kernel tap reads one
// phase contiguously from a fixed offset. The output is computed on a grid with the phases'
// pitches, which is a little wider than the output, so the taps run along long contiguous
// stretches of the whole plane rather than short rows: blocks of grid elements stay in
// registers while every tap folds into them. The spare grid columns are dropped when the
// output is written. The padding is the same for every plane, so it is written once per
// thread (prepare_plane_scratch) and each plane only copies its input in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/ops/conv_params.h"
#include "runtime/ops/epilogue.h"
#include "runtime/ops/simd.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

// Grid elements kept in registers while every tap folds in.
constexpr int64_t kGridBlock = 64;

// Where things live in a plane's scratch: the taps' read offsets (int64), where each input
// element goes in the phases (int32), the phases with one spare element for input no tap
// reads, then the grid (elements of element_size bytes).
struct PlaneLayout {
  SpatialDims pitch;       // phase extents: a phase element (d, h, w) is at (d * ph + h) * pw + w
  int64_t phase_size = 0;  // elements, including what the last grid block reads past the end
  int64_t phase_count = 0;
  int64_t grid_size = 0;  // a multiple of kGridBlock
  int64_t taps = 0;
  int64_t inputs = 0;
  size_t element_size = 0;

  size_t positions_offset() const;
  size_t phases_offset() const;
  size_t grid_offset() const;
  size_t scratch_bytes() const { return grid_offset() + grid_size * element_size; }
};

PlaneLayout plane_layout(const WindowGeometry& g, size_t element_size);

// A plane's work for threads_for, in multiply-add equivalents.
int64_t plane_task_ops(const WindowGeometry& g, const PlaneLayout& layout);

// Writes the tap offsets and the input positions into the scratch.
void write_plane_tables(const WindowGeometry& g, const PlaneLayout& layout, std::byte* scratch);

// Once per thread before its planes: the tables, and `pad` wherever the padded plane has no
// input.
template <typename T>
void prepare_plane_scratch(const WindowGeometry& g, const PlaneLayout& layout, T pad,
                           std::byte* scratch) {
  write_plane_tables(g, layout, scratch);
  T* phases = reinterpret_cast<T*>(scratch + layout.phases_offset());
  std::fill(phases, phases + layout.phase_count * layout.phase_size + 1, pad);
}

// Input rows at least this wide are copied into the phases row by row; narrower ones are
// scattered element by element through the position table.
constexpr int64_t kMinCopiedRowWidth = 16;

// Copies `plane` into the inside of the phases, row by row.
template <typename T>
void split_phases(const WindowGeometry& g, const PlaneLayout& layout, const T* plane, T* phases) {
  const SpatialDims& p = layout.pitch;
  T* phase = phases;
  for (int64_t a = 0; a < g.stride[0]; ++a)
    for (int64_t b = 0; b < g.stride[1]; ++b)
      for (int64_t c = 0; c < g.stride[2]; ++c, phase += layout.phase_size) {
        const int64_t first_d = a - g.pad_begin[0];
        const int64_t first_h = b - g.pad_begin[1];
        const int64_t first_w = c - g.pad_begin[2];
        const IndexRange ds = inside_range(p[0], g.stride[0], first_d, g.in[0]);
        const IndexRange hs = inside_range(p[1], g.stride[1], first_h, g.in[1]);
        const IndexRange ws = inside_range(p[2], g.stride[2], first_w, g.in[2]);
        for (int64_t i = ds.begin; i < ds.end; ++i)
          for (int64_t j = hs.begin; j < hs.end; ++j) {
            const T* row =
                plane +
                ((i * g.stride[0] + first_d) * g.in[1] + j * g.stride[1] + first_h) * g.in[2];
            copy_strided(phase + (i * p[1] + j) * p[2] + ws.begin,
                         row + ws.begin * g.stride[2] + first_w, ws.size(), g.stride[2]);
          }
      }
}

// One output plane of a per-plane window op, with scratch prepared by prepare_plane_scratch.
// The grid starts at `init`; each tap t folds its input into it with op = tap_op(t),
// op(grid, x) updating grid in place, applied to Simd<T> vectors (by reference: passing a
// 64-byte vector by value would change the ABI on machines without AVX-512); then
// finish(output_row, grid_row) is called for every output row (a flattened (d, h) pair) with that
// row's grid elements.
template <typename T, typename TapOp, typename Finish>
void window_plane(const WindowGeometry& g, const PlaneLayout& layout, const T* plane, T init,
                  TapOp tap_op, Finish finish, std::byte* scratch) {
  using Vector = typename Simd<T>::type;
  constexpr int64_t kLanes = sizeof(Vector) / sizeof(T);
  constexpr int64_t kVectors = kGridBlock / kLanes;
  const int64_t* tap_offsets = reinterpret_cast<const int64_t*>(scratch);
  const int32_t* positions = reinterpret_cast<const int32_t*>(scratch + layout.positions_offset());
  T* phases = reinterpret_cast<T*>(scratch + layout.phases_offset());
  T* grid = reinterpret_cast<T*>(scratch + layout.grid_offset());
  if (g.in[2] >= kMinCopiedRowWidth) {
    split_phases(g, layout, plane, phases);
  } else {  // one scatter through a table rather than many short row copies
    for (int64_t i = 0; i < layout.inputs; ++i) phases[positions[i]] = plane[i];
  }
  Vector start;
  for (int64_t i = 0; i < kLanes; ++i) start[i] = init;
  for (int64_t block = 0; block < layout.grid_size; block += kGridBlock) {
    Vector acc[kVectors];
    for (int64_t v = 0; v < kVectors; ++v) acc[v] = start;
    for (int64_t t = 0; t < layout.taps; ++t) {
      const T* src = phases + tap_offsets[t] + block;
      const auto op = tap_op(t);
      for (int64_t v = 0; v < kVectors; ++v) {
        Vector x;
        std::memcpy(&x, src + v * kLanes, sizeof x);
        op(acc[v], x);
      }
    }
    std::memcpy(grid + block, acc, sizeof acc);
  }
  for (int64_t od = 0; od < g.out[0]; ++od)
    for (int64_t oh = 0; oh < g.out[1]; ++oh)
      finish(od * g.out[1] + oh, grid + (od * layout.pitch[1] + oh) * layout.pitch[2]);
}

// out_plane (g.out_size() floats) = bias + the window sums of in_plane weighted by `weights`
// (g.kernel_size() floats), with scratch prepared by prepare_plane_scratch(pad 0).
void depthwise_conv_plane(const WindowGeometry& g, const PlaneLayout& layout, const float* in_plane,
                          const float* weights, float bias, std::byte* scratch, float* out_plane);

// ----- Window ops on blocks of 16 channels -----
//
// For 2-D depthwise convolutions (one filter per channel) and float max pools with strides 1
// or 2 and planes of at least 16 elements (every depthwise layer of a MobileNet, a ResNet's
// pool) the per-plane kernel above spends more on moving planes in and out than on the
// arithmetic. This one takes 16 channels of an image at once, lanes over channels: it
// transposes their planes into a padded [row][column][channel] block (16 x 16 register
// transposes), folds the window taps with one vector load and one or two operations per
// output position and tap, and transposes the results back into the NCHW output, applying
// the activation. A depthwise output is bias + the taps in (kh, kw) order and a max skips
// NaN, as window_plane computes them, so both kernels give the same bits.
class BlockedWindow {
 public:
  static constexpr int64_t kBlock = 16;  // channels

  static bool fits(const WindowGeometry& g);
  explicit BlockedWindow(const WindowGeometry& g);

  size_t scratch_bytes() const;
  // Once per thread before its blocks: `pad` wherever the padded block has no input.
  void prepare_scratch(float pad, std::byte* scratch) const;
  // `count` (at most kBlock) channels from `x` (their first input plane) into `y` (their first
  // output plane); `weights` [tap][channel] and `bias` of the block, as pack_conv_weights
  // packs them with blocks of kBlock filters over one input channel.
  void run_depthwise(const float* x, int64_t count, const float* weights, const float* bias,
                     const Activation& activation, std::byte* scratch, float* y) const;
  void run_max(const float* x, int64_t count, std::byte* scratch, float* y) const;

 private:
  void transpose_in(const float* x, int64_t count, float* padded) const;
  template <bool kMax>
  void reduce_windows(const float* padded, const float* weights, const float* bias,
                      float* results) const;
  void transpose_out(const float* results, int64_t count, const Activation& activation,
                     float* y) const;
  size_t padded_bytes() const;

  WindowGeometry g_;
  int64_t padded_height_;
  int64_t padded_width_;
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
